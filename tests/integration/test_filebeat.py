"""The shipped Filebeat configs run by a real Filebeat against the test Kafka broker.

Filebeat is built from source once (esbridge.stack.filebeat: 7.17.29 from the Go module proxy,
about 5 minutes cold; no journald input in that build). The configs are used as shipped; only
what must differ in a test comes in as `-E` overrides: the file paths (a temporary folder instead
of /var/log/dcache), the topic names (unique per test), `name` (so host.name is known) and, for
filebeat.yml, the journald input switched off. The events read back from Kafka must carry the
fields esbridge's parsers read and parse to the same documents as the matching events of
../shared/samples, and a stack trace in a domain log must arrive joined as one event.
"""

from __future__ import annotations

import copy
import json
import os
import subprocess
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from kafka import KafkaAdminClient, KafkaConsumer
from kafka.admin import NewTopic

from esbridge.stack.filebeat import FILEBEAT_VERSION, FilebeatBuildError, filebeat_binary
from esbridge.transforms import PARSERS, ParseContext

# The first test builds Filebeat (about 5 minutes on 2 cores from a cold start).
from tests.helpers.paths import REPO as ROOT

pytestmark = [pytest.mark.integration, pytest.mark.timeout(2400)]


CONFIGS = ROOT / "pipelines" / "filebeat"
NAME = "filebeat-test"  # `name:`, which Filebeat sends as host.name
CTX = ParseContext(producer="filebeat-test")
STACK_TRACE_LINE = (
    "14 Oct 2026 10:40:00 (cms-pool017) [door:xrootd-cms@xrootdDomain:AAYH2k] Transfer failed"
    "\njava.io.IOException: Input/output error"
    "\n\tat org.dcache.pool.repository.FileStore.openDataChannel(FileStore.java:88)"
    "\nCaused by: java.nio.file.FileSystemException: /pool/data/0000A1B2: Input/output error"
    "\n\tat java.base/sun.nio.fs.UnixException.translateToIOException(UnixException.java:100)"
    "\n\t... 12 more"
)


@pytest.fixture(scope="session")
def filebeat() -> Path:
    """The Filebeat binary; a build that fails (no Go, no network) fails the tests."""
    try:
        return filebeat_binary()
    except FilebeatBuildError as error:
        pytest.fail(f"Filebeat {FILEBEAT_VERSION} could not be built: {error}", pytrace=False)


@pytest.fixture
def topics(kafka_bootstrap: str) -> Iterator[dict[str, str]]:
    """Fresh one-partition topics standing in for dcache-logs and dcache-access."""
    suffix = uuid.uuid4().hex[:10]
    names = {"logs": f"esbridge-fb-logs-{suffix}", "access": f"esbridge-fb-access-{suffix}"}
    admin = KafkaAdminClient(bootstrap_servers=kafka_bootstrap)
    admin.create_topics([NewTopic(name, 1, 1) for name in names.values()])
    try:
        yield names
    finally:
        admin.delete_topics(list(names.values()))
        admin.close()


class TopicReader:
    """Everything in a topic from the start, decoded, read incrementally."""

    def __init__(self, bootstrap: str, topic: str) -> None:
        self.consumer = KafkaConsumer(
            topic,
            bootstrap_servers=bootstrap,
            group_id=None,
            auto_offset_reset="earliest",
            enable_auto_commit=False,
        )
        self.events: list[dict[str, Any]] = []

    def read_until(self, count: int, timeout: float = 90.0) -> list[dict[str, Any]]:
        """Polls until `count` events arrived (plus one more poll to catch any surplus)."""
        deadline = time.monotonic() + timeout
        while len(self.events) < count and time.monotonic() < deadline:
            self.poll(500)
        self.poll(1000)
        return self.events

    def poll(self, timeout_ms: int) -> None:
        for records in self.consumer.poll(timeout_ms=timeout_ms).values():
            self.events.extend(json.loads(record.value) for record in records)

    def close(self) -> None:
        self.consumer.close()


def filebeat_command(
    binary: Path, config: str, home: Path, *overrides: str, command: tuple[str, ...] = ()
) -> list[str]:
    """`filebeat [command] -c <shipped config>` with its state under `home`; no command: run."""
    args = [str(binary), *(command or ("-e",)), "-c", str(CONFIGS / config)]
    args += ["--path.home", str(home), "--path.data", str(home / "data")]
    args += ["--path.logs", str(home / "logs")]
    # A clone's file modes follow the umask; Filebeat would refuse a group-writable config.
    args.append("--strict.perms=false")
    for override in overrides:
        args += ["-E", override]
    return args


def filebeat_env(kafka_bootstrap: str) -> dict[str, str]:
    return {**os.environ, "KAFKA_BOOTSTRAP": kafka_bootstrap}


@pytest.fixture
def log_dir(tmp_path: Path) -> Path:
    """Stands for /var/log/dcache."""
    folder = tmp_path / "var-log-dcache"
    folder.mkdir()
    return folder


def run_overrides(log_dir: Path, topics: dict[str, str]) -> list[str]:
    return [
        f"name={NAME}",
        f"output.kafka.topic={topics['logs']}",
        f"output.kafka.topics.0.topic={topics['access']}",
        f"filebeat.inputs.0.paths={json.dumps([str(log_dir / '*.log')])}",
        f"filebeat.inputs.1.paths={json.dumps([str(log_dir / '*.access')])}",
    ]


class RunningFilebeat:
    def __init__(self, command: list[str], env: dict[str, str], log: Path) -> None:
        self.log = log
        with log.open("wb") as out:
            self.process = subprocess.Popen(
                command, stdin=subprocess.DEVNULL, stdout=out, stderr=subprocess.STDOUT, env=env
            )

    def check_running(self) -> None:
        if self.process.poll() is not None:
            pytest.fail(f"Filebeat exited ({self.process.returncode}):\n{self.tail()}")

    def tail(self) -> str:
        return "\n".join(self.log.read_text(errors="replace").splitlines()[-30:])

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(timeout=10)


def samples(samples_dir: Path, name: str) -> list[dict[str, Any]]:
    text = (samples_dir / name).read_text(encoding="utf-8")
    return [json.loads(line) for line in text.splitlines() if line]


def file_name(event: dict[str, Any]) -> str:
    return str(event["log"]["file"]["path"]).rpartition("/")[2]


def as_shipped_here(sample: dict[str, Any], log_dir: Path, real: dict[str, Any]) -> dict[str, Any]:
    """The sample event with what this test changes: its file's folder, host name, read time."""
    event = copy.deepcopy(sample)
    event["log"]["file"]["path"] = str(log_dir / file_name(sample))
    event["host"]["name"] = NAME
    event["@timestamp"] = real["@timestamp"]
    return event


def assert_carries_the_parsers_fields(event: dict[str, Any], log_dir: Path) -> None:
    """message, host.name, log.file.path and @timestamp: what the parsers read of a file event."""
    assert isinstance(event["message"], str)
    assert event["host"]["name"] == NAME
    assert event["log"]["file"]["path"].startswith(f"{log_dir}/")
    assert event["@timestamp"].endswith("Z")
    assert event["input"]["type"] == "filestream"
    assert event["agent"]["version"] == FILEBEAT_VERSION


def write_lines(path: Path, lines: list[str]) -> None:
    with path.open("a", encoding="utf-8") as out:
        out.writelines(line + "\n" for line in lines)


@pytest.mark.parametrize("config", ["filebeat.yml", "filebeat-files.yml"])
def test_filebeat_accepts_the_shipped_config_and_reaches_kafka(
    filebeat: Path, kafka_bootstrap: str, tmp_path: Path, config: str
) -> None:
    env = filebeat_env(kafka_bootstrap)

    checked = subprocess.run(
        filebeat_command(filebeat, config, tmp_path, command=("test", "config")),
        env=env, capture_output=True, text=True, timeout=60, check=False,
    )  # fmt: skip
    reached = subprocess.run(
        filebeat_command(filebeat, config, tmp_path, command=("test", "output")),
        env=env, capture_output=True, text=True, timeout=60, check=False,
    )  # fmt: skip

    assert (checked.returncode, checked.stdout.strip()) == (0, "Config OK"), checked.stderr
    assert reached.returncode == 0, reached.stdout + reached.stderr
    assert f"Kafka: {kafka_bootstrap}..." in reached.stdout
    assert "dial up... OK" in reached.stdout


def test_filebeat_rejects_zstd_which_its_kafka_output_lacks(
    filebeat: Path, kafka_bootstrap: str, tmp_path: Path
) -> None:
    """Why the configs compress with gzip (elastic/beats#24534: no zstd in the Kafka output)."""
    command = filebeat_command(
        filebeat, "filebeat-files.yml", tmp_path, "output.kafka.compression=zstd",
        command=("test", "config"),
    )  # fmt: skip
    checked = subprocess.run(
        command, env=filebeat_env(kafka_bootstrap), capture_output=True, text=True, check=False
    )

    assert checked.returncode == 1
    assert "compression mode 'zstd' unknown" in checked.stdout + checked.stderr


def test_file_config_ships_domain_logs_with_stack_traces_and_access_logs(
    filebeat: Path,
    kafka_bootstrap: str,
    tmp_path: Path,
    log_dir: Path,
    samples_dir: Path,
    topics: dict[str, str],
) -> None:
    logs = samples(samples_dir, "logs.jsonl")
    from_files = [e for e in logs if e["input"]["type"] == "filestream"]
    dated = [e for e in from_files if PARSERS["logs"](e, CTX)["log"]["parsed"]]
    undated = [e for e in from_files if e not in dated]
    trace = copy.deepcopy(next(e for e in dated if file_name(e) == "cms-pool017Domain.log"))
    trace["message"] = STACK_TRACE_LINE
    access = samples(samples_dir, "access.jsonl")
    assert undated and any("\n" in e["message"] for e in dated)
    # Domain logs as dCache writes them: each event's lines (a stack trace spans several).
    for event in [*dated, trace]:
        write_lines(log_dir / file_name(event), event["message"].split("\n"))
    for event in access:
        write_lines(log_dir / file_name(event), [event["message"]])
    logs_topic = TopicReader(kafka_bootstrap, topics["logs"])
    access_topic = TopicReader(kafka_bootstrap, topics["access"])
    command = filebeat_command(
        filebeat, "filebeat-files.yml", tmp_path / "filebeat", *run_overrides(log_dir, topics)
    )
    running = RunningFilebeat(command, filebeat_env(kafka_bootstrap), tmp_path / "filebeat.log")
    try:
        first_logs = list(logs_topic.read_until(len(dated) + 1))
        shipped_access = access_topic.read_until(len(access))
        running.check_running()
        # An undated line (JVM launcher output) after the multiline timeout starts its own
        # event; written at once after a dated line it would be a continuation of that one.
        for event in undated:
            write_lines(log_dir / file_name(event), [event["message"]])
        all_logs = logs_topic.read_until(len(dated) + 1 + len(undated))
        running.check_running()
    finally:
        running.stop()
        logs_topic.close()
        access_topic.close()

    assert len(first_logs) == len(dated) + 1, running.tail()
    assert len(all_logs) == len(dated) + 1 + len(undated), running.tail()
    assert len(shipped_access) == len(access), running.tail()
    for event in [*all_logs, *shipped_access]:
        assert_carries_the_parsers_fields(event, log_dir)
    by_line = {(file_name(e), e["message"]): e for e in all_logs}
    for sample in [*dated, trace, *undated]:
        real = by_line[(file_name(sample), sample["message"])]
        expected = PARSERS["logs"](as_shipped_here(sample, log_dir, real), CTX)
        assert PARSERS["logs"](real, CTX) == expected
    joined = PARSERS["logs"](by_line[("cms-pool017Domain.log", STACK_TRACE_LINE)], CTX)
    assert joined["message"] == "Transfer failed"
    assert joined["error"]["stack_trace"] == STACK_TRACE_LINE.partition("\n")[2]
    assert joined["dcache"]["domain"] == "cms-pool017Domain"
    assert joined["log"]["parsed"] is True
    for sample, real in zip(access, shipped_access, strict=True):
        expected = PARSERS["access"](as_shipped_here(sample, log_dir, real), CTX)
        assert PARSERS["access"](real, CTX) == expected
        assert expected["dcache"]["domain"] == "webdavDomain"


def test_journald_config_ships_access_logs(
    filebeat: Path,
    kafka_bootstrap: str,
    tmp_path: Path,
    log_dir: Path,
    samples_dir: Path,
    topics: dict[str, str],
) -> None:
    """filebeat.yml's access input and output, with its journald input off (not in this build)."""
    access = samples(samples_dir, "access.jsonl")
    for event in access:
        write_lines(log_dir / file_name(event), [event["message"]])
    overrides = [
        "filebeat.inputs.0.enabled=false",
        f"name={NAME}",
        f"output.kafka.topic={topics['logs']}",
        f"output.kafka.topics.0.topic={topics['access']}",
        f"filebeat.inputs.1.paths={json.dumps([str(log_dir / '*.access')])}",
    ]
    logs_topic = TopicReader(kafka_bootstrap, topics["logs"])
    access_topic = TopicReader(kafka_bootstrap, topics["access"])
    command = filebeat_command(filebeat, "filebeat.yml", tmp_path / "filebeat", *overrides)
    running = RunningFilebeat(command, filebeat_env(kafka_bootstrap), tmp_path / "filebeat.log")
    try:
        shipped = access_topic.read_until(len(access))
        running.check_running()
        stray = logs_topic.read_until(0, timeout=0)
    finally:
        running.stop()
        logs_topic.close()
        access_topic.close()

    assert len(shipped) == len(access), running.tail()
    assert stray == []
    for sample, real in zip(access, shipped, strict=True):
        assert_carries_the_parsers_fields(real, log_dir)
        expected = PARSERS["access"](as_shipped_here(sample, log_dir, real), CTX)
        assert PARSERS["access"](real, CTX) == expected
