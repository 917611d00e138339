"""`esbridge react` as an operator runs it, on the shipped NextCloud example, against the real
Kafka and Elasticsearch. NextCloud's `occ` cannot run here: `tests/helpers/occ_standin.py`
stands in for it, answering as `occ files:scan` does and recording every call's argv.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from esbridge.cluster.search import SearchCluster
from tests.helpers.reacting import (
    EXAMPLE,
    PREFIX,
    Occ,
    billing_request,
    committed,
    delete_topic,
    make_topic,
    produce,
    react_env,
    react_process,
    wait_for,
)

pytestmark = pytest.mark.integration

LONG = "n" * 4000
"""A 4 KB folder name: the mapped path stays under the 4096-byte limit and passes whole."""

MATCHING = {
    "alice/files/Photos/a.jpg": "/alice/files/Photos",
    "alice/files/Photos/b c.jpg": "/alice/files/Photos",
    'alice/files/it\'s "quoted" twice/x': '/alice/files/it\'s "quoted" twice',
    "bob/files/x; rm -rf ~/f": "/bob/files/x; rm -rf ~",
    "bob/files/$(touch PWNED)/f": "/bob/files/$(touch PWNED)",
    "bob/files/`touch PWNED`/f": "/bob/files/`touch PWNED`",
    "carol/files/-rf/f": "/carol/files/-rf",
    "carol/files/top.txt": "/carol/files",
    "dave/files/./a/../b//f": "/dave/files/b",
    f"erin/files/{LONG}/f": f"/erin/files/{LONG}",
}
"""Written paths (under the prefix) and the folder each one's scan must name."""

NOT_MATCHING: list[bytes] = [
    billing_request(PREFIX + "zed/files/read/f", is_write="read"),
    billing_request(PREFIX + "zed/files/failed/f", code=10006),
    billing_request(PREFIX + "zed/files/p2p/f", p2p=True),
    billing_request(PREFIX + "zed/files/loopback/f", client="127.0.0.1"),
    billing_request(PREFIX + "zed/files/transfer/f", msg_type="transfer"),
    billing_request("/pnfs/desy.de/other/zed/files/outside/f"),
    billing_request("/pnfs/desy.de/syncother/zed/files/similar/f"),
    billing_request(PREFIX + "zed/cache/f"),
    billing_request(PREFIX + "appdata_oc1/preview/f"),
]

REFUSED: dict[bytes, str] = {
    billing_request(PREFIX + "../../etc/passwd"): "climbs out of its prefix",
    billing_request(PREFIX + "zed/files/../../../etc/x"): "climbs out of its prefix",
    billing_request(PREFIX + "zed/files/new\nline/f"): "control character U+000A",
    billing_request(PREFIX + "zed/files/nul\0byte/f"): "NUL",
    billing_request(
        b"/pnfs/desy.de/sync/zed/files/bad\xff\xfeutf8/f"
    ): "not a JSON object in UTF-8",
    billing_request(PREFIX + "zed/files/" + "m" * 4100 + "/f"): "longer than 4096 bytes",
}


@pytest.fixture
def topic(kafka_bootstrap: str) -> Iterator[str]:
    name = make_topic(kafka_bootstrap)
    yield name
    delete_topic(kafka_bootstrap, name)


def dead_letters(cluster: SearchCluster, index: str, topic: str) -> list[dict[str, Any]]:
    if not cluster.index_exists(index):
        return []
    cluster.refresh(index)
    found = cluster.search(index, {"query": {"term": {"kafka.topic": topic}}, "size": 100})
    return [hit["_source"] for hit in found["hits"]["hits"]]


def stop(process: subprocess.Popen[bytes], log: Path) -> None:
    process.send_signal(signal.SIGTERM)
    assert process.wait(60) == 0, log.read_text()


def derived_config(tmp_path: Path, *replacements: tuple[str, str]) -> Path:
    """The example with a few settings changed (shorter waits), everything else as shipped."""
    text = EXAMPLE.read_text()
    for old, new in replacements:
        assert old in text
        text = text.replace(old, new)
    path = tmp_path / "react.yml"
    path.write_text(text)
    return path


def test_the_example_scans_the_folder_of_each_new_file_and_refuses_hostile_paths(
    tmp_path: Path,
    kafka_bootstrap: str,
    es_url: str,
    topic: str,
    search_cluster: SearchCluster,
    unique_name: Callable[[str], str],
) -> None:
    occ = Occ.install(tmp_path / "nextcloud")
    index = unique_name("react-deadletter")
    env = react_env(kafka_bootstrap, es_url, topic, occ, index)
    values = [billing_request(PREFIX + path) for path in MATCHING]
    values += NOT_MATCHING + list(REFUSED)
    produce(kafka_bootstrap, topic, values)
    log = tmp_path / "react.log"
    process = react_process(EXAMPLE, env, log)
    try:
        wanted = set(MATCHING.values())
        assert wait_for(lambda: set(occ.scanned()) >= wanted), log.read_text()
        assert wait_for(lambda: len(dead_letters(search_cluster, index, topic)) == len(REFUSED))
        assert wait_for(lambda: sum(committed(kafka_bootstrap, env_group(env), topic).values())
                        == len(values)), "every message settled and committed"  # fmt: skip
    finally:
        stop(process, log)

    calls = occ.calls()
    assert sorted(set(occ.scanned())) == sorted(wanted), "only the matching events, mapped"
    assert all(call[:2] == ["files:scan", "--shallow"] and len(call) == 3 for call in calls)
    assert occ.scanned().count("/alice/files/Photos") == 1, "two files in one folder: one scan"
    assert not list(tmp_path.rglob("PWNED")), "nothing was interpreted by a shell"
    letters = dead_letters(search_cluster, index, topic)
    reasons = sorted(letter["reason"] for letter in letters)
    for reason in REFUSED.values():
        assert any(reason in found for found in reasons), (reason, reasons)
    assert all(letter["reactor"] == "nextcloud-scan" and "argv" not in letter for letter in letters)
    text = log.read_text()
    assert text.count("outcome=ok") == len(wanted)
    assert text.count("outcome=refused") == len(REFUSED)


def env_group(env: dict[str, str]) -> str:
    return f"{env['ESBRIDGE_KAFKA_GROUP']}-react-nextcloud-scan"


def test_a_locked_scan_is_retried_and_a_failed_one_becomes_a_dead_letter_with_its_output(
    tmp_path: Path,
    kafka_bootstrap: str,
    es_url: str,
    topic: str,
    search_cluster: SearchCluster,
    unique_name: Callable[[str], str],
) -> None:
    occ = Occ.install(tmp_path / "nextcloud")
    occ.mode(locked=2)
    index = unique_name("react-deadletter")
    env = react_env(kafka_bootstrap, es_url, topic, occ, index)
    config = derived_config(
        tmp_path,
        ("initial_backoff: 5s", "initial_backoff: 0.2s"),
        ("coalesce: 5s", "coalesce: 0.2s"),
    )
    log = tmp_path / "react.log"
    produce(kafka_bootstrap, topic, [billing_request(PREFIX + "alice/files/Busy/x")])
    process = react_process(config, env, log)
    try:
        assert wait_for(lambda: occ.scanned() == ["/alice/files/Busy"] * 3), log.read_text()
        assert wait_for(lambda: "outcome=ok attempts=3" in log.read_text()), log.read_text()
        occ.mode(fail=True)
        produce(kafka_bootstrap, topic, [billing_request(PREFIX + "bob/files/Broken/y")])
        assert wait_for(lambda: len(dead_letters(search_cluster, index, topic)) == 1)
        assert wait_for(
            lambda: sum(committed(kafka_bootstrap, env_group(env), topic).values()) == 2
        )
    finally:
        stop(process, log)

    (letter,) = dead_letters(search_cluster, index, topic)
    assert letter["argv"] == [str(occ.path), "files:scan", "--shallow", "--path=/bob/files/Broken"]
    assert letter["exit_code"] == 1
    assert letter["attempts"] == 1
    assert "Exception during scan: Home storage for user not writable" in letter["output"]
    assert "Exception" in letter["reason"]
    assert letter["kafka"]["topic"] == topic
    assert isinstance(letter["kafka"]["offset"], int)


def test_a_sigkilled_react_loses_no_scan_and_runs_none_for_unmatched_messages(
    tmp_path: Path,
    kafka_bootstrap: str,
    es_url: str,
    topic: str,
    unique_name: Callable[[str], str],
) -> None:
    """Killed while scans run and others wait; the restart (after the broker has expired the
    dead member, `session_timeout_ms`) runs every scan not committed, and exits when idle."""
    occ = Occ.install(tmp_path / "nextcloud")
    occ.mode(sleep=0.3)
    env = react_env(kafka_bootstrap, es_url, topic, occ, unique_name("react-deadletter"))
    config = derived_config(
        tmp_path,
        ("  backend: confluent\n", "  backend: confluent\n  session_timeout_ms: 6000\n"),
        ("coalesce: 5s", "coalesce: 0.1s"),
    )
    wanted = {f"/user{i}/files/folder{i}" for i in range(24)}
    values: list[bytes] = []
    for i in range(24):
        values.append(billing_request(f"{PREFIX}user{i}/files/folder{i}/f"))
        values.append(billing_request(f"{PREFIX}user{i}/files/unmatched{i}/f", is_write="read"))
    produce(kafka_bootstrap, topic, values)
    log = tmp_path / "react.log"
    first = react_process(config, env, log)
    try:
        assert wait_for(lambda: len(occ.calls()) >= 5), log.read_text()
    finally:
        first.kill()
        first.wait()
    assert len(occ.calls()) < len(wanted), "killed mid-stream"

    second = react_process(config, env, log, "--idle-exit", "2")
    assert second.wait(180) == 0, log.read_text()

    scanned = occ.scanned()
    assert set(scanned) == wanted, "every matching event's scan ran, and only those"
    assert sum(committed(kafka_bootstrap, env_group(env), topic).values()) == len(values)


def test_sigterm_kills_the_running_scan_and_commits_nothing_unfinished(
    tmp_path: Path, kafka_bootstrap: str, es_url: str, topic: str, unique_name: Callable[[str], str]
) -> None:
    occ = Occ.install(tmp_path / "nextcloud")
    occ.mode(sleep=120)
    env = react_env(kafka_bootstrap, es_url, topic, occ, unique_name("react-deadletter"))
    config = derived_config(tmp_path, ("coalesce: 5s", "coalesce: 0.1s"))
    produce(kafka_bootstrap, topic, [billing_request(PREFIX + "alice/files/Slow/x")])
    log = tmp_path / "react.log"
    process = react_process(config, env, log)
    try:
        assert wait_for(lambda: len(occ.pids()) == 1), log.read_text()
    finally:
        stop(process, log)
    assert wait_for(lambda: not process_alive(occ.pids()[0]), 10), "the scan died with its run"
    assert "outcome=abandoned" in log.read_text()
    assert sum(committed(kafka_bootstrap, env_group(env), topic).values()) == 0


def process_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    return True


def test_dry_run_prints_the_argv_and_runs_nothing(
    tmp_path: Path, kafka_bootstrap: str, es_url: str, topic: str
) -> None:
    occ = Occ.install(tmp_path / "nextcloud")
    env = react_env(kafka_bootstrap, es_url, topic, occ, "unused-react-deadletter")
    env["ESBRIDGE_ES_URL"] = "http://127.0.0.1:9"  # not needed: a dry run writes nothing
    produce(kafka_bootstrap, topic, [billing_request(PREFIX + "alice/files/it's here/x")])
    done = subprocess.run(
        [sys.executable, "-m", "esbridge", "react", "-c", str(EXAMPLE), "--dry-run",
         "--idle-exit", "2"],
        env=env, capture_output=True, timeout=180, check=False,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr.decode()
    lines = done.stdout.decode().splitlines()
    assert [json.loads(line) for line in lines] == [
        [str(occ.path), "files:scan", "--shallow", "--path=/alice/files/it's here"]
    ]
    assert occ.calls() == []
    assert committed(kafka_bootstrap, env_group(env), topic) == {}
