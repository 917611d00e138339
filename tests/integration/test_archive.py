"""`esbridge archive` against the real Kafka: several producers, partitions and days, SIGKILLed
at random moments and between rename and commit; afterwards every offset is in exactly one
file."""

from __future__ import annotations

import random
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest
from kafka import KafkaAdminClient, KafkaProducer

from esbridge.simulate.streams import generate
from tests.helpers.archives import (
    archived_files,
    create_topics,
    end_offsets,
    leftovers,
    offsets_by_partition,
    read_rows,
)
from tests.helpers.sites import PARSERS, Site, make_site, remove_site

PARTITIONS = 3
KINDS = ("billing", "poolinfo", "logs")
BAD = [b"{not json", b"\xff\xfe binary", b"[1, 2]", b'{"msgType":"transfer"}']


def archive_section(root: Path, name: str) -> str:
    return f"""
archive:
  root: {root}
  group_id: {name}-archive
  roll_size: 16kb
  roll_interval: 300ms
  stats_interval: 2s
"""


@pytest.fixture
def archived_site(tmp_path: Path, kafka_bootstrap: str, es_url: str) -> Iterator[Site]:
    site = make_site(
        tmp_path, kafka_bootstrap, es_url, archive_section(tmp_path / "archive", "{site}")
    )
    yield site
    remove_site(site)


def use_backend(site: Site, backend: str) -> None:
    text = site.config_path.read_text()
    site.config_path.write_text(
        text.replace(
            "  session_timeout_ms: 10000\n", f"  session_timeout_ms: 10000\n  backend: {backend}\n"
        )
    )


def produce(site: Site, seed: int, count: int) -> None:
    """Each kind spread over the partitions; billing from three days, interleaved, so late
    records of earlier days arrive between today's; a few records that cannot parse."""
    rng = random.Random(seed)
    producer = KafkaProducer(bootstrap_servers=site.kafka_bootstrap, acks="all", linger_ms=5)
    billing = [
        message
        for day in (28, 29, 30)
        for message in generate(
            "billing", count, seed=seed + day, start=datetime(2026, 11, day, 22, tzinfo=UTC)
        )
    ]
    rng.shuffle(billing)
    streams = {
        "billing": billing + BAD,
        "poolinfo": list(generate("poolinfo", count // 4, seed=seed)),
        "logs": list(generate("logs", count // 2, seed=seed)),
    }
    for kind, values in streams.items():
        for i, value in enumerate(values):
            producer.send(site.topic(kind), value, partition=i % PARTITIONS)
    producer.flush()
    producer.close()


def archive_process(site: Site, *args: str) -> subprocess.Popen[bytes]:
    command = [sys.executable, "-m", "esbridge", "archive", "-c", str(site.config_path), *args]
    return subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)


def committed(site: Site) -> dict[tuple[str, int], int]:
    group = f"{site.name}-archive"
    admin = KafkaAdminClient(bootstrap_servers=site.kafka_bootstrap)
    try:
        found = admin.list_group_offsets(group)[group]
    finally:
        admin.close()
    return {(tp.topic, tp.partition): int(meta.offset) for tp, meta in found.items()}


def wait_until_the_group_is_empty(site: Site, timeout: float = 60.0) -> None:
    group = f"{site.name}-archive"
    deadline = time.monotonic() + timeout
    admin = KafkaAdminClient(bootstrap_servers=site.kafka_bootstrap)
    try:
        while time.monotonic() < deadline:
            states = [g["group_state"] for g in admin.list_groups() if g["group_id"] == group]
            if states in ([], ["Empty"], ["Dead"]):
                return
            time.sleep(0.5)
    finally:
        admin.close()
    pytest.fail(f"consumer group {group} still has members after {timeout:.0f}s")


def assert_exactly_once(site: Site, root: Path) -> None:
    found = offsets_by_partition(root)
    for kind in KINDS:
        for partition, end in end_offsets(site.kafka_bootstrap, site.topic(kind)).items():
            offsets = found.get((site.topic(kind), partition), [])
            assert len(offsets) == len(set(offsets)), f"{kind}[{partition}]: duplicates"
            assert sorted(offsets) == list(range(end)), f"{kind}[{partition}]: gaps"
    assert leftovers(root) == []


@pytest.mark.parametrize("backend", ["confluent", "kafka-python"])
def test_kill_9_at_random_moments_and_between_rename_and_commit_archives_each_offset_once(
    archived_site: Site, tmp_path: Path, backend: str
) -> None:
    site, root = archived_site, tmp_path / "archive"
    use_backend(site, backend)
    create_topics(site.kafka_bootstrap, [site.topic(k) for k in KINDS], PARTITIONS)
    produce(site, seed=1, count=1500)

    # 1. the moment recovery exists for: files in place, offsets not committed
    crashed = archive_process(site, "--crash-after-rename", "3")
    assert crashed.wait(timeout=120) == -signal.SIGKILL
    archived_ends = {key: max(offsets) + 1 for key, offsets in offsets_by_partition(root).items()}
    behind = {k: e for k, e in archived_ends.items() if committed(site).get(k, 0) < e}
    assert behind, "the crash left every partition committed: the moment was not reached"

    # 2. SIGKILL at random moments, with more records arriving in between
    rng = random.Random(7)
    for round_number in range(4):
        if round_number == 2:
            produce(site, seed=2, count=600)
        victim = archive_process(site)
        time.sleep(rng.uniform(1.5, 5.0))
        victim.kill()
        victim.wait(timeout=30)

    # 3. a clean run to the end, once the killed members have left the group: until their
    # sessions time out they still hold partitions, and a run given only the others would,
    # with --idle-exit, end before those come free
    wait_until_the_group_is_empty(site)
    final = archive_process(site, "--idle-exit", "4")
    _, errors = final.communicate(timeout=300)
    assert final.returncode == 0, errors.decode()[-2000:]
    try:
        assert_exactly_once(site, root)
    except AssertionError as failed:  # what the last run saw: assignments, resumes, exit
        raise AssertionError(f"{failed}\nlast run:\n{errors.decode()[-4000:]}") from None
    assert committed(site) == {
        (site.topic(kind), p): end
        for kind in KINDS
        for p, end in end_offsets(site.kafka_bootstrap, site.topic(kind)).items()
    }


def test_unparsable_records_are_archived_raw_with_their_reason(
    archived_site: Site, tmp_path: Path
) -> None:
    site, root = archived_site, tmp_path / "archive"
    values = [*BAD, *generate("billing", 20, seed=3)]
    site.produce("billing", values)
    run = archive_process(site, "--idle-exit", "3")
    _, errors = run.communicate(timeout=120)
    assert run.returncode == 0, errors.decode()[-2000:]
    rows = [row for path in archived_files(root) for row in read_rows(path)]
    assert len(rows) == len(values)
    reasons = {bytes(r["raw"]): r["error.type"] for r in rows if r["error.type"] is not None}
    assert reasons == {
        b"{not json": "json_decode",
        b"\xff\xfe binary": "not_utf8",
        b"[1, 2]": "not_an_object",
        b'{"msgType":"transfer"}': "missing_field",
    }
    parsed = [r for r in rows if r["error.type"] is None]
    assert all(
        r["billing.transfer_size"] is not None or r["event.action"] != "transfer" for r in parsed
    )
    (topic_id,) = {r["kafka.topic_id"] for r in rows}
    assert topic_id[:8] == site.id_prefix("billing")


def replay_process(site: Site, root: Path, index: str) -> subprocess.CompletedProcess[bytes]:
    command = [
        sys.executable, "-m", "esbridge", "replay", "--from-archive", str(root),
        "--producer", "billing", "--since", "2026-11-01", "--until", "2026-12-31",
        "-c", str(site.config_path), "--index", index,
    ]  # fmt: skip
    return subprocess.run(command, capture_output=True, timeout=300, check=False)


def test_replay_from_the_archive_gives_the_ids_and_dead_letters_ingest_gives(
    archived_site: Site, tmp_path: Path
) -> None:
    site, root = archived_site, tmp_path / "archive"
    create_topics(site.kafka_bootstrap, [site.topic("billing")], 2)
    good = list(generate("billing", 400, seed=5, start=datetime(2026, 11, 29, 23, tzinfo=UTC)))
    producer = KafkaProducer(bootstrap_servers=site.kafka_bootstrap, acks="all")
    for i, value in enumerate([*good, *BAD]):
        producer.send(site.topic("billing"), value, partition=i % 2)
    producer.flush()
    producer.close()
    run = archive_process(site, "--idle-exit", "3")
    _, errors = run.communicate(timeout=120)
    assert run.returncode == 0, errors.decode()[-2000:]

    replayed = f"{site.name}-replayed"
    done = replay_process(site, root, replayed)
    assert done.returncode == 0, done.stderr.decode()[-2000:]
    assert b"records/s, ETA" in done.stderr
    assert f"indexed={len(good)} dead_letters={len(BAD)}".encode() in done.stderr

    prefix = site.id_prefix("billing")
    replay_ids = {doc["_id"] for doc in site.docs(replayed)}
    letters = site.docs(site.deadletter)
    assert len(letters) == len(BAD)
    assert all(doc["_id"].startswith(f"{prefix}-") for doc in letters)

    code, stats = site.ingest()  # ingest's own group reads the same topic
    assert code == 0
    assert {doc["_id"] for doc in site.docs(site.index("billing"))} == replay_ids
    assert len(replay_ids) == len(good)
    assert (stats.dead_letters, stats.replays) == (0, len(BAD))  # replay wrote them: same ids
    assert site.count(site.deadletter) == len(BAD)

    again = replay_process(site, root, replayed)
    assert again.returncode == 0
    assert f"duplicates={len(good) + len(BAD)} collisions=0".encode() in again.stderr
    assert site.count(replayed) == len(good)


def test_sigterm_writes_what_is_buffered_commits_and_exits_0(
    tmp_path: Path, kafka_bootstrap: str, es_url: str
) -> None:
    section = (
        archive_section(tmp_path / "archive", "{site}")
        .replace("roll_interval: 300ms", "roll_interval: 1h")
        .replace("roll_size: 16kb", "roll_size: 1gb")
    )  # nothing is written before the SIGTERM
    site = make_site(tmp_path, kafka_bootstrap, es_url, section)
    try:
        root = tmp_path / "archive"
        # every topic made first: one appearing later would rebalance the group, and a
        # revoked partition's buffer is dropped (to be read again), not written
        create_topics(site.kafka_bootstrap, [site.topic(p) for p in PARSERS], 1)
        site.produce("billing", list(generate("billing", 50, seed=9)))
        run = archive_process(site)
        assert run.stderr is not None
        for line in run.stderr:  # the stats line every 2 s: all read, nothing written
            if b"archive stats: consumed=50 archived=0 " in line:
                break
        run.send_signal(signal.SIGTERM)
        _, errors = run.communicate(timeout=60)
        assert run.returncode == 0, errors.decode()[-2000:]
        assert offsets_by_partition(root) == {(site.topic("billing"), 0): list(range(50))}
        assert committed(site) == {(site.topic("billing"), 0): 50}
    finally:
        remove_site(site)


@pytest.mark.parametrize("backend", ["confluent", "kafka-python"])
def test_a_restart_after_rename_seeks_past_the_files_instead_of_rereading(
    archived_site: Site, tmp_path: Path, backend: str
) -> None:
    """The group is behind the files after the crash; the next run must start where the files
    end (a seek on assignment), not re-read and skip what the files already hold."""
    site, root = archived_site, tmp_path / "archive"
    use_backend(site, backend)
    create_topics(site.kafka_bootstrap, [site.topic(p) for p in PARSERS], 1)
    site.produce("billing", list(generate("billing", 200, seed=11)))
    crashed = archive_process(site, "--crash-after-rename", "1")
    assert crashed.wait(timeout=120) == -signal.SIGKILL
    assert committed(site).get((site.topic("billing"), 0), 0) == 0
    (first,) = offsets_by_partition(root).values()

    rerun = archive_process(site, "--idle-exit", "3")
    _, errors = rerun.communicate(timeout=120)
    assert rerun.returncode == 0, errors.decode()[-2000:]
    assert (
        f"resuming from the archive's files: {site.topic('billing')}[0]@{max(first) + 1}".encode()
        in errors
    )
    assert b" skipped=0 " in errors.splitlines()[-1]
    assert_exactly_once_for(site, root, "billing")


def assert_exactly_once_for(site: Site, root: Path, kind: str) -> None:
    (offsets,) = offsets_by_partition(root).values()
    assert sorted(offsets) == list(range(end_offsets(site.kafka_bootstrap, site.topic(kind))[0]))
