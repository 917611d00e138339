"""Ingest benchmark: esbridge against the raw bulk ceiling, its peers and the naive consumer.

    python benchmarks/ingest.py [--count N] [--engines native,python] [--peers rsyslog] [--json]

Runs on the stack named by ESBRIDGE_KAFKA_BOOTSTRAP / ESBRIDGE_ES_URL, or starts its own (and
stops it afterwards) when they are unset. N seeded billing messages are produced once to a fresh
topic (not timed), then, each into its own freshly installed esbridge index set:

  (a) raw      the very documents esbridge would index (built with esbridge's own `to_item`,
               cut into batches by esbridge's own `BatchBuilder`), bulk-loaded as fast as one or
               two connections allow, then refreshed: the ceiling;
  (a') raw, the other event.original setting: esbridge's bodies built once more with
               `producers[].event_original` flipped (billing leaves the field out by default,
               so these carry it), over the ceiling's connection count: what the field costs
               Elasticsearch (`--no-original-cost` skips it);
  (b) esbridge `python -m esbridge ingest --idle-exit 3` from the topic, per ingest engine
               (`ingest.engine`: native, python) and Kafka backend, timed from process start
               until its committed offset reaches N (esbridge commits only what Elasticsearch
               acknowledged), then a refresh; CPU from the child's rusage;
  (p) peers    `--peers rsyslog`: a private rsyslogd, imkafka -> omelasticsearch in bulk mode,
               the JSON passed through unparsed into its own index (benchmarks/peers/), timed
               from its start until Elasticsearch has indexed N documents; CPU from /proc;
  (c) naive    kafka-python polling, orjson, esbridge's billing parser, one `index` request per
               document, on the first M messages only (it is slow).

(a), (a'), (b) and (p) run once per CPU layout (`--layouts`, see benchmarks/cpu.py): isolated
(the servers on all cores but the last, the client on the last) first, then shared (every core
for all).

Progress goes to stderr; a table (or, with --json, one JSON object) to stdout. Everything the
run creates (topic, templates, indices) is deleted at the end.
"""

from __future__ import annotations

import argparse
import contextlib
import importlib.metadata
import json
import os
import shutil
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, get_args
from urllib.parse import urlsplit

import orjson
import yaml
from confluent_kafka import Consumer as ConfluentConsumer
from confluent_kafka import Producer, TopicPartition
from confluent_kafka.admin import AdminClient, NewTopic
from cpu import (  # benchmarks/cpu.py, beside this script
    LAYOUTS,
    CpuSample,
    CpuUse,
    cpu_layout,
    layout_problem,
    listener_pid,
    own_cpu,
    process_cpu,
)
from kafka import KafkaConsumer
from peers.rsyslog import RsyslogSetup, rsyslogd_problem  # benchmarks/peers/

from esbridge.cluster.errors import NotFoundError
from esbridge.cluster.search import SearchCluster, connect
from esbridge.config import Config, KafkaConfig, load_config
from esbridge.ingest.encode import DeadLetterTarget, to_item
from esbridge.ingest.engine import native_module
from esbridge.ingest.message import Message
from esbridge.ingest.pipeline import BatchBuilder, RunLimits, build_routes, open_pipeline
from esbridge.setup.installer import install
from esbridge.setup.templates import Resource, Target, render_resources
from esbridge.simulate import generate
from esbridge.stack.manager import Stack, StackOptions
from esbridge.utc import now_utc

DEFAULT_COUNT = 1_000_000
EXAMPLE_CONFIG = Path(__file__).resolve().parent.parent / "examples" / "dcache.yml"
DEFAULT_NAIVE_COUNT = 20_000
DEFAULT_SEED = 1
IDLE_EXIT = 3.0
COMMIT_POLL = 0.5
PROGRESS_EVERY = 5.0
ESBRIDGE_TIMEOUT = 3600.0
SERVERS = ("elasticsearch", "kafka")
ENGINES = ("native", "python")
PEERS = ("rsyslog",)
PEER_STALL = 60.0
"""Seconds without a new document after which a peer is taken to have delivered all it will."""


def log(text: str) -> None:
    print(text, file=sys.stderr, flush=True)


# --- where to run ---------------------------------------------------------------------------


@dataclass(frozen=True)
class Endpoints:
    bootstrap: str
    es_url: str
    started_here: bool


@contextlib.contextmanager
def endpoints() -> Iterator[Endpoints]:
    """The stack named by the environment, or one started (and stopped) for this run."""
    bootstrap = os.environ.get("ESBRIDGE_KAFKA_BOOTSTRAP")
    es_url = os.environ.get("ESBRIDGE_ES_URL")
    if bootstrap and es_url:
        yield Endpoints(bootstrap, es_url, started_here=False)
        return
    if bootstrap or es_url:
        raise SystemExit("set both ESBRIDGE_KAFKA_BOOTSTRAP and ESBRIDGE_ES_URL, or neither")
    with tempfile.TemporaryDirectory(prefix="esbridge-bench-stack-") as directory:
        stack = Stack(StackOptions(directory=Path(directory), kafka_port=0, es_port=0))
        log("starting a local stack (Kafka + Elasticsearch) ...")
        try:
            info = stack.up()
            yield Endpoints(info.kafka.bootstrap, info.elasticsearch.url, started_here=True)
        finally:
            state = stack.load_state()
            stack.down()
            if state is not None and not state.es_root.startswith(directory):
                shutil.rmtree(Path(state.es_root).parent, ignore_errors=True)


@dataclass
class Measurement:
    label: str
    docs: int
    seconds: float
    client_cpu: float
    cpu: CpuUse
    extra: dict[str, Any] = field(default_factory=dict)

    @property
    def docs_per_s(self) -> float:
        return self.docs / self.seconds

    @property
    def cpu_s_per_million(self) -> float:
        return self.per_million(self.client_cpu)

    def per_million(self, seconds: float) -> float:
        return seconds / self.docs * 1_000_000

    @property
    def other_cpu(self) -> float:
        """Machine CPU used by neither the client nor the servers (should be about 0)."""
        return self.cpu.machine - self.client_cpu - sum(self.cpu.servers.values())


def server_pids(where: Endpoints) -> dict[str, int]:
    """The local Elasticsearch and Kafka processes, by the ports they listen on."""
    es_port = urlsplit(where.es_url).port or 9200
    kafka_port = int(where.bootstrap.split(",")[0].rsplit(":", 1)[1])
    found = {"elasticsearch": listener_pid(es_port), "kafka": listener_pid(kafka_port)}
    return {name: pid for name, pid in found.items() if pid is not None}


# --- Kafka ----------------------------------------------------------------------------------


def create_topic(bootstrap: str, topic: str) -> None:
    admin = AdminClient({"bootstrap.servers": bootstrap})
    admin.create_topics([NewTopic(topic, num_partitions=1, replication_factor=1)])[topic].result()


def delete_topic(bootstrap: str, topic: str) -> None:
    admin = AdminClient({"bootstrap.servers": bootstrap})
    admin.delete_topics([topic])[topic].result()


def produce(bootstrap: str, topic: str, messages: list[bytes]) -> None:
    """Setup, not measured: batched and idempotent, so offset i holds messages[i]."""
    producer = Producer(
        {
            "bootstrap.servers": bootstrap,
            "enable.idempotence": True,
            "linger.ms": 50,
            "batch.size": 1_000_000,
            "queue.buffering.max.kbytes": 1_048_576,
        }
    )
    for value in messages:
        while True:
            try:
                producer.produce(topic, value, partition=0)
                break
            except BufferError:
                producer.poll(0.1)
        producer.poll(0)
    if producer.flush(120) != 0:
        raise RuntimeError("the producer could not deliver every message")


def end_offset(bootstrap: str, topic: str) -> int:
    consumer = ConfluentConsumer({"bootstrap.servers": bootstrap, "group.id": "esbridge-bench"})
    try:
        return int(consumer.get_watermark_offsets(TopicPartition(topic, 0), timeout=30)[1])
    finally:
        consumer.close()


# --- Elasticsearch index sets ---------------------------------------------------------------


def write_config(
    directory: Path,
    prefix: str,
    topic: str,
    where: Endpoints,
    backend: str,
    engine: str,
    event_original: bool | None = None,
) -> Path:
    """An esbridge config for one index set: the billing producer, as in examples/dcache.yml
    (`event_original` None: the producer's default)."""
    path = directory / f"{prefix}.yml"
    original = "" if event_original is None else f"event_original: {str(event_original).lower()}"
    path.write_text(
        f"""
dcache_instance: desy
log_timezone: Europe/Berlin
template_prefix: {prefix}
kafka:
  bootstrap: {where.bootstrap}
  group_id: {prefix}-group
  client_id: {prefix}
  backend: {backend}
  auto_offset_reset: earliest
elasticsearch:
  hosts: ["{where.es_url}"]
producers:
  - name: billing
    topics: [{topic}]
    parser: billing
    index: {prefix}-billing
    id_strategy: offset
    mandatory_fields: [msgType, date]
    {original}
deadletter:
  index: {prefix}-deadletter
ingest:
  stats_interval: 10s
  engine: {engine}
"""
    )
    return path


@dataclass
class IndexSet:
    """One esbridge install (templates + write aliases) under its own prefix."""

    prefix: str
    config_path: Path
    config: Config
    resources: list[Resource]

    @property
    def alias(self) -> str:
        return self.config.producers[0].index

    @property
    def deadletter(self) -> str:
        return self.config.deadletter.index


def install_index_set(
    directory: Path,
    prefix: str,
    topic: str,
    where: Endpoints,
    backend: str,
    engine: str,
    event_original: bool | None = None,
) -> IndexSet:
    path = write_config(directory, prefix, topic, where, backend, engine, event_original)
    config = load_config(path, environ={})
    with connect(config.elasticsearch) as cluster:
        resources = render_resources(
            config.producers,
            config.deadletter,
            target=Target.of(cluster),
            prefix=config.template_prefix,
        )
        install(cluster, resources, dry_run=False)
    return IndexSet(prefix, path, config, resources)


POLICY_PATHS = {"ilm_policy": "/_ilm/policy/", "ism_policy": "/_plugins/_ism/policies/"}


def remove_index_set(cluster: SearchCluster, index_set: IndexSet) -> None:
    for resource in index_set.resources:
        if resource.kind == "write_alias":  # deleting needs names: no wildcards on most clusters
            found = cluster.get_index(f"{resource.name}-*")
            if found:
                cluster.delete_index(",".join(found))
    for resource in index_set.resources:
        if resource.kind == "index_template":
            with contextlib.suppress(NotFoundError):
                cluster.delete_index_template(resource.name)
    for resource in index_set.resources:
        if resource.kind == "component_template":
            with contextlib.suppress(NotFoundError):
                cluster.delete_component_template(resource.name)
        elif resource.kind in POLICY_PATHS and cluster.lifecycle() is not None:
            with contextlib.suppress(NotFoundError):  # skipped by setup: nothing was installed
                cluster.request("DELETE", POLICY_PATHS[resource.kind] + resource.name)


def check_complete(cluster: SearchCluster, index_set: IndexSet, expected: int) -> None:
    cluster.refresh(f"{index_set.alias},{index_set.deadletter}")
    docs, dead = cluster.count(index_set.alias), cluster.count(index_set.deadletter)
    if docs != expected or dead:
        raise RuntimeError(
            f"{index_set.alias}: {docs} documents and {dead} dead letters, "
            f"expected {expected} and 0"
        )


# --- (a) the raw ceiling --------------------------------------------------------------------


def build_bodies(topic: str, messages: list[bytes], index_set: IndexSet) -> list[bytes]:
    """esbridge's own bulk bodies for these messages (offset i = message i), not timed."""
    config = index_set.config
    route = build_routes(config)[topic]
    target = DeadLetterTarget(config.deadletter.index, config.deadletter.payload_max_bytes)
    builder = BatchBuilder(
        config.ingest.batch_max_docs, config.ingest.batch_max_bytes, max_age=float("inf")
    )
    ingested = now_utc()
    bodies = []
    for offset, value in enumerate(messages):
        item = to_item(Message(topic, 0, offset, value), route, target, ingested)
        if item.dead:
            raise RuntimeError(f"message {offset} would be a dead letter: {item.line[:300]!r}")
        builder.add(item)
        if builder.ready():
            bodies.append(b"".join(i.line for i in builder.take().items))
    if builder.items:
        bodies.append(b"".join(i.line for i in builder.take().items))
    return bodies


def retarget(bodies: list[bytes], old_alias: str, new_alias: str) -> None:
    """Points every action line at another index (same length, so the same bytes otherwise)."""
    old = b'{"create":{"_index":"' + old_alias.encode() + b'"'
    new = b'{"create":{"_index":"' + new_alias.encode() + b'"'
    for n, body in enumerate(bodies):
        bodies[n] = body.replace(old, new)


def mean_doc_bytes(bodies: list[bytes]) -> float:
    """Mean size of the documents (source lines, newline excluded) in these bulk bodies."""
    docs = total = 0
    for body in bodies:
        for line in body.split(b"\n")[1::2]:
            if line:
                docs += 1
                total += len(line)
    return total / docs if docs else 0.0


def bulk(cluster: SearchCluster, body: bytes) -> None:
    """One request the way esbridge's senders send it (`SearchCluster.bulk`, plain NDJSON)."""
    answer = cluster.bulk(body, filter_path="errors,items.*.error")
    if answer.get("errors"):
        raise RuntimeError(f"bulk errors: {str(answer)[:500]}")


def bulk_load(es_url: str, bodies: list[bytes], connections: int) -> None:
    """Sends every body, each of `connections` threads on its own connection, as fast as it can."""
    queue = iter(bodies)
    lock = threading.Lock()
    failures: list[BaseException] = []

    def worker() -> None:
        with SearchCluster.connect([es_url], request_timeout=300) as cluster:
            while not failures:
                with lock:
                    body = next(queue, None)
                if body is None:
                    return
                try:
                    bulk(cluster, body)
                except BaseException as exc:
                    failures.append(exc)

    threads = [threading.Thread(target=worker) for _ in range(connections)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    if failures:
        raise failures[0]


def measure_raw(
    cluster: SearchCluster,
    es_url: str,
    bodies: list[bytes],
    index_set: IndexSet,
    connections: int,
    servers: dict[str, int],
    what: str = "raw bulk",
) -> Measurement:
    docs = sum(body.count(b"\n") for body in bodies) // 2
    label = f"{what}, {connections} connection{'s' if connections > 1 else ''}"
    log(f"[{label}] {docs:,} docs in {len(bodies)} bulk requests into {index_set.alias} ...")
    cpu0, sample, start = own_cpu(), CpuSample.take(servers), time.monotonic()
    bulk_load(es_url, bodies, connections)
    cluster.refresh(index_set.alias)
    seconds = time.monotonic() - start
    cpu = CpuUse.between(sample, CpuSample.take(servers))
    client_cpu = own_cpu() - cpu0
    check_complete(cluster, index_set, docs)
    extra = {"connections": connections, "doc_bytes": round(mean_doc_bytes(bodies))}
    result = Measurement(label, docs, seconds, client_cpu, cpu, extra)
    log(f"[{label}] {seconds:.1f} s, {result.docs_per_s:,.0f} docs/s")
    return result


# --- (b) esbridge ---------------------------------------------------------------------------


def default_engines() -> list[str]:
    """Both engines where the extension is built (native first: the default), else python."""
    return list(ENGINES) if native_module() is not None else ["python"]


def declared_backends() -> list[str]:
    return list(get_args(KafkaConfig.model_fields["backend"].annotation))


def default_backend() -> str:
    return str(KafkaConfig.model_fields["backend"].default)


def source_module(config: Config, cluster: SearchCluster) -> str:
    """The module of the Kafka source a Pipeline builds for `config`: is the backend honoured?"""
    probe_group = config.kafka.group_id + "-probe"
    kafka = config.kafka.model_copy(update={"group_id": probe_group})
    pipeline = open_pipeline(config.model_copy(update={"kafka": kafka}), cluster, RunLimits())
    try:
        return type(pipeline.source).__module__
    finally:
        pipeline.source.close()
        pipeline.sender.close(1)


def wait_rusage(pid: int, timeout: float) -> tuple[int, float]:
    """Reaps `pid` (killing it after `timeout`); its exit code and user+system CPU seconds."""
    deadline = time.monotonic() + timeout
    while True:
        reaped, status, usage = os.wait4(pid, os.WNOHANG)
        if reaped:
            return os.waitstatus_to_exitcode(status), usage.ru_utime + usage.ru_stime
        if time.monotonic() > deadline:
            os.kill(pid, 9)
            deadline = float("inf")
        time.sleep(0.05)


def measure_esbridge(
    cluster: SearchCluster,
    where: Endpoints,
    index_set: IndexSet,
    backend: str,
    expected: int,
    log_path: Path,
    servers: dict[str, int],
) -> Measurement:
    engine = index_set.config.ingest.engine
    label = f"esbridge ingest, {engine}, {backend}"
    command = [
        sys.executable,
        "-m",
        "esbridge",
        "ingest",
        "-c",
        str(index_set.config_path),
        "--idle-exit",
        str(IDLE_EXIT),
    ]
    log(f"[{label}] {' '.join(command[1:])}")
    sample, start = CpuSample.take(servers), time.monotonic()
    with log_path.open("wb") as output:
        process = subprocess.Popen(command, stdout=output, stderr=subprocess.STDOUT)
    progress = wait_for_commit(where, index_set, expected, process.pid, label, start)
    first_doc, done, committed = progress.first_commit, progress.done, progress.committed
    cluster.refresh(index_set.alias)
    if done is not None:
        done = time.monotonic() - start
    cpu = CpuUse.between(sample, CpuSample.take(servers))
    code, client_cpu = wait_rusage(process.pid, timeout=120)
    process.returncode = code
    if done is None or code != 0:
        tail = log_path.read_text(errors="replace").splitlines()[-20:]
        raise RuntimeError(
            f"{label}: exit {code}, {committed:,}/{expected:,} committed; log tail:\n"
            + "\n".join(tail)
        )
    check_complete(cluster, index_set, expected)
    result = Measurement(label, expected, done, client_cpu, cpu)
    result.extra["seconds_to_first_commit"] = round(first_doc, 1)
    steady = (client_cpu - progress.cpu_at_first) / max(1, expected - progress.offset_at_first)
    result.extra["client_cpu_us_per_message_after_first_commit"] = round(steady * 1e6, 1)
    result.extra["engine_log"] = engine_line(log_path)
    if not result.extra["engine_log"].startswith(f"{engine} for"):
        raise RuntimeError(
            f"{label}: asked for {engine}, ingest ran {result.extra['engine_log']!r}"
        )
    log(
        f"[{label}] {done:.1f} s ({result.extra['seconds_to_first_commit']} s to the first "
        f"commit), {result.docs_per_s:,.0f} docs/s, {client_cpu:.1f} CPU s"
    )
    return result


@dataclass
class Progress:
    """How an esbridge phase went, as seen from its consumer group's committed offset."""

    first_commit: float = 0.0
    """Seconds from the start to the first commit."""
    done: float | None = None
    """Seconds to the last commit (None: not reached)."""
    committed: int = 0
    offset_at_first: int = 0
    cpu_at_first: float = 0.0
    """The process's CPU seconds when the first commit was seen: start-up, joining the group
    and the first batch; what it spends after that, per message, is its steady cost."""


def wait_for_commit(
    where: Endpoints, index_set: IndexSet, expected: int, pid: int, label: str, start: float
) -> Progress:
    """Polls the group's committed offset until `expected` (or `pid` exits, or the timeout).

    Kafka is asked, not Elasticsearch: a search every half second would keep the shard
    search-active, so it would refresh every second during this phase only, and the raw phase
    (not searched while loading) would be compared against extra segments and merges.
    """
    watcher = ConfluentConsumer(
        {"bootstrap.servers": where.bootstrap, "group.id": index_set.config.kafka.group_id}
    )
    partition = TopicPartition(index_set.config.producers[0].topics[0], 0)
    last_report, progress = start, Progress()
    try:
        while True:
            time.sleep(COMMIT_POLL)
            committed = max(0, watcher.committed([partition], timeout=10)[0].offset)
            now = time.monotonic()
            progress.committed = committed
            if committed and not progress.first_commit:
                progress.first_commit = now - start
                progress.offset_at_first, progress.cpu_at_first = committed, process_cpu(pid)
            if committed >= expected:
                progress.done = now - start
                return progress
            if process_gone(pid) or now - start > ESBRIDGE_TIMEOUT:
                return progress
            if now - last_report >= PROGRESS_EVERY:
                last_report = now
                log(f"[{label}] {committed:,} committed after {now - start:.0f} s")
    finally:
        watcher.close()


def engine_line(log_path: Path) -> str:
    """ingest's own line saying which engine ran (the run is only valid if it is the asked one)."""
    for line in log_path.read_text(errors="replace").splitlines():
        if "ingest engine:" in line:
            return line.split("ingest engine:", 1)[1].strip()
    return ""


def process_gone(pid: int) -> bool:
    """True once `pid` has exited, without reaping it (its rusage is read by `wait_rusage`)."""
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except OSError:
        return True
    return state == "Z"


# --- (p) peers ------------------------------------------------------------------------------


def indexed_so_far(cluster: SearchCluster, index: str) -> int:
    """Documents Elasticsearch has indexed into `index` (or refused), from its indexing stats:
    unlike a search, asking does not make the shard search-active (see `wait_for_commit`)."""
    stats = cluster.request("GET", f"/{index}/_stats/indexing")
    indexing = stats["indices"][index]["primaries"]["indexing"]
    return int(indexing["index_total"]) + int(indexing["index_failed"])


def create_peer_index(cluster: SearchCluster, index: str) -> None:
    """The peer's own index: one shard, no replica, as esbridge's templates make them here;
    mappings dynamic (the peer sends the JSON as produced)."""
    settings = {"settings": {"index.number_of_shards": 1, "index.number_of_replicas": 0}}
    cluster.request("PUT", f"/{index}", body=settings)


def measure_rsyslog(
    cluster: SearchCluster,
    where: Endpoints,
    topic: str,
    setup: RsyslogSetup,
    expected: int,
    servers: dict[str, int],
) -> Measurement:
    """A private rsyslogd from start until Elasticsearch has indexed `expected` documents (or
    none arrived for PEER_STALL seconds); its CPU read from /proc before it is stopped."""
    label = "rsyslog imkafka -> omelasticsearch"
    rsyslogd = shutil.which("rsyslogd")
    assert rsyslogd is not None
    setup.write()
    create_peer_index(cluster, setup.index)
    log(f"[{label}] {' '.join(setup.command(rsyslogd))}")
    output = (setup.work_dir / "rsyslogd.log").open("wb")
    sample, start = CpuSample.take(servers), time.monotonic()
    process = subprocess.Popen(setup.command(rsyslogd), stdout=output, stderr=subprocess.STDOUT)
    try:
        seen, last_change, last_report = 0, start, start
        while seen < expected:
            time.sleep(COMMIT_POLL)
            now = time.monotonic()
            if process.poll() is not None or now - last_change > PEER_STALL:
                break
            if (indexed := indexed_so_far(cluster, setup.index)) != seen:
                seen, last_change = indexed, now
            if now - last_report >= PROGRESS_EVERY:
                last_report = now
                log(f"[{label}] {seen:,} indexed after {now - start:.0f} s")
        cluster.refresh(setup.index)
        seconds = (last_change if seen < expected else time.monotonic()) - start
        cpu = CpuUse.between(sample, CpuSample.take(servers))
        client_cpu = process_cpu(process.pid)
    finally:
        process.terminate()
        process.wait(timeout=60)
        output.close()
    delivered = cluster.count(setup.index)
    refused = setup.error_path.exists() and setup.error_path.stat().st_size > 0
    result = Measurement(label, max(delivered, 1), seconds, client_cpu, cpu)
    result.extra.update(
        {"expected": expected, "delivered": delivered, "delivered_all": delivered == expected}
    )
    if refused:
        result.extra["refused_requests_file"] = str(setup.error_path)
    log(
        f"[{label}] {seconds:.1f} s, {delivered:,}/{expected:,} documents, "
        f"{result.docs_per_s:,.0f} docs/s, {client_cpu:.1f} CPU s"
    )
    return result


# --- (c) the naive consumer -----------------------------------------------------------------


def measure_naive(
    es_url: str,
    bootstrap: str,
    topic: str,
    index_set: IndexSet,
    limit: int,
    servers: dict[str, int],
) -> Measurement:
    """What sites run today: poll, decode, transform, one `index` request per document."""
    label = "naive: kafka-python, 1 request/doc"
    route = build_routes(index_set.config)[topic]
    cluster = SearchCluster.connect([es_url])
    log(f"[{label}] the first {limit:,} messages into {index_set.alias} ...")
    cpu0, sample, start = own_cpu(), CpuSample.take(servers), time.monotonic()
    consumer = KafkaConsumer(
        topic,
        bootstrap_servers=bootstrap,
        group_id=f"{index_set.prefix}-group",
        auto_offset_reset="earliest",
    )
    last_report = start
    for done, record in enumerate(consumer, start=1):
        doc = route.parser(orjson.loads(record.value), route.context)
        cluster.index(index_set.alias, doc)
        if done >= limit:
            break
        if time.monotonic() - last_report >= PROGRESS_EVERY:
            last_report = time.monotonic()
            log(f"[{label}] {done:,} after {last_report - start:.0f} s")
    consumer.close()
    cluster.refresh(index_set.alias)
    seconds = time.monotonic() - start
    cpu = CpuUse.between(sample, CpuSample.take(servers))
    client_cpu = own_cpu() - cpu0
    check_complete(cluster, index_set, limit)
    cluster.close()
    result = Measurement(label, limit, seconds, client_cpu, cpu)
    log(f"[{label}] {seconds:.1f} s, {result.docs_per_s:,.0f} docs/s")
    return result


# --- the run --------------------------------------------------------------------------------


@dataclass
class Options:
    count: int
    naive_count: int
    seed: int
    raw_connections: list[int]
    backends: list[str]
    layouts: list[str]
    as_json: bool
    engines: list[str] = field(default_factory=lambda: ["python"])
    peers: list[str] = field(default_factory=list)
    original_cost: bool = True


@dataclass
class Results:
    count: int
    naive_count: int
    seed: int
    raw: dict[str, list[Measurement]] = field(default_factory=dict)
    """Per CPU layout, one per connection count."""
    esbridge: dict[str, dict[str, dict[str, Measurement]]] = field(default_factory=dict)
    """Per CPU layout, per ingest engine, per Kafka backend."""
    other_original: dict[str, Measurement] = field(default_factory=dict)
    """Per CPU layout: the raw load with the other `event.original` setting."""
    ceiling_keeps_original: bool = False
    """Whether esbridge's documents (the ceiling's and its own) carry `event.original`."""
    peers: dict[str, dict[str, Measurement]] = field(default_factory=dict)
    """Per CPU layout, per peer."""
    naive: Measurement | None = None
    skipped: dict[str, str] = field(default_factory=dict)


class Run:
    """One benchmark run: a topic, the index sets, and the cleanup of both."""

    def __init__(self, options: Options, where: Endpoints, directory: Path) -> None:
        self.options = options
        self.where = where
        self.directory = directory
        self.name = f"bench-{uuid.uuid4().hex[:8]}"
        self.topic = f"{self.name}-billing"
        self.cluster = SearchCluster.connect([where.es_url], request_timeout=300)
        self.index_sets: list[IndexSet] = []
        self.servers = server_pids(where)
        self.results = Results(options.count, options.naive_count, options.seed)
        self.current_alias = ""
        """The index the raw bodies' action lines name at the moment."""
        self.other_alias = ""
        """The same for the bodies with the other `event.original` setting."""
        self.peer_indices: list[str] = []

    def index_set(
        self,
        suffix: str,
        backend: str = "kafka-python",
        engine: str = "python",
        event_original: bool | None = None,
    ) -> IndexSet:
        prefix = f"{self.name}-{suffix}"
        index_set = install_index_set(
            self.directory, prefix, self.topic, self.where, backend, engine, event_original
        )
        self.index_sets.append(index_set)
        return index_set

    def drop(self, index_set: IndexSet) -> None:
        remove_index_set(self.cluster, index_set)
        self.index_sets.remove(index_set)

    def execute(self) -> Results:
        try:
            bodies, other = self.prepare_topic_and_bodies()
            for layout in self.layouts():
                with cpu_layout(layout, self.servers):
                    log(f"== CPU layout: {layout}")
                    self.results.raw[layout] = self.measure_raw(bodies, layout)
                    if other:
                        self.results.other_original[layout] = self.measure_other_original(
                            other, layout
                        )
                    self.results.esbridge[layout] = {
                        engine: self.measure_esbridge(layout, engine)
                        for engine in self.options.engines
                    }
                    self.results.peers[layout] = self.measure_peers(layout)
            del bodies, other
            with cpu_layout("shared", self.servers):
                self.measure_naive()
        finally:
            self.cleanup()
        return self.results

    def layouts(self) -> list[str]:
        """The asked-for layouts that this machine allows; a refused one is reported."""
        problem = layout_problem(self.servers, expected=len(SERVERS))
        if problem is not None and "isolated" in self.options.layouts:
            log(f"skipping the isolated CPU layout: {problem}")
            self.results.skipped["isolated"] = problem
        return [name for name in self.options.layouts if name == "shared" or problem is None]

    def prepare_topic_and_bodies(self) -> tuple[list[bytes], list[bytes]]:
        """The topic, esbridge's bulk bodies for it and (unless --no-original-cost) the same
        with the other `event.original` setting; not timed."""
        count, seed = self.options.count, self.options.seed
        log(f"generating {count:,} billing messages (seed {seed}) ...")
        messages = list(generate("billing", count, seed=seed))
        size = sum(map(len, messages))
        log(f"producing them ({size / 2**20:,.0f} MiB) to topic {self.topic} ...")
        create_topic(self.where.bootstrap, self.topic)
        produce(self.where.bootstrap, self.topic, messages)
        if (end := end_offset(self.where.bootstrap, self.topic)) != count:
            raise RuntimeError(f"topic {self.topic} ends at offset {end}, expected {count}")
        log("building esbridge's bulk bodies for the raw load ...")
        index_set = self.index_set("bodyx")  # same length as the raw phases' suffixes
        bodies = build_bodies(self.topic, messages, index_set)
        self.current_alias = index_set.alias
        keeps = self.results.ceiling_keeps_original = index_set.config.producers[0].keeps_original
        self.drop(index_set)
        other: list[bytes] = []
        if self.options.original_cost:
            index_set = self.index_set("bodyy", event_original=not keeps)
            other = build_bodies(self.topic, messages, index_set)
            self.other_alias = index_set.alias
            self.drop(index_set)
        return bodies, other

    def measure_raw(self, bodies: list[bytes], layout: str) -> list[Measurement]:
        measurements = []
        for connections in self.options.raw_connections:
            index_set = self.index_set(f"raw{connections}{layout[0]}")
            retarget(bodies, self.current_alias, index_set.alias)
            self.current_alias = index_set.alias
            measurement = measure_raw(
                self.cluster, self.where.es_url, bodies, index_set, connections, self.servers
            )
            measurement.label += f" [{layout}]"
            measurements.append(measurement)
            self.drop(index_set)
        return measurements

    def measure_other_original(self, other: list[bytes], layout: str) -> Measurement:
        """The bodies with the other `event.original` setting, over the ceiling's connections."""
        best = max(self.results.raw[layout], key=lambda m: m.docs_per_s)
        connections = best.extra["connections"]
        index_set = self.index_set(f"eor{connections}{layout[0]}")
        retarget(other, self.other_alias, index_set.alias)
        self.other_alias = index_set.alias
        which = "without" if self.results.ceiling_keeps_original else "with"
        measurement = measure_raw(
            self.cluster,
            self.where.es_url,
            other,
            index_set,
            connections,
            self.servers,
            what=f"raw bulk {which} event.original",
        )
        measurement.label += f" [{layout}]"
        self.drop(index_set)
        return measurement

    def measure_peers(self, layout: str) -> dict[str, Measurement]:
        measurements = {}
        for peer in self.options.peers:
            index = f"{self.name}-{peer}{layout[0]}"
            setup = RsyslogSetup(
                work_dir=self.directory / f"{peer}-{layout}",
                topic=self.topic,
                bootstrap=self.where.bootstrap,
                group=f"{index}-group",
                es_host=urlsplit(self.where.es_url).hostname or "127.0.0.1",
                es_port=urlsplit(self.where.es_url).port or 9200,
                index=index,
            )
            self.peer_indices.append(index)
            measurement = measure_rsyslog(
                self.cluster, self.where, self.topic, setup, self.options.count, self.servers
            )
            measurement.label += f" [{layout}]"
            measurements[peer] = measurement
            self.cluster.delete_index(index)
            self.peer_indices.remove(index)
        return measurements

    def measure_esbridge(self, layout: str, engine: str) -> dict[str, Measurement]:
        measurements = {}
        for backend in self.options.backends:
            suffix = f"{engine[0]}{backend.replace('-', '')}{layout[0]}"
            index_set = self.index_set(suffix, backend, engine)
            module = source_module(index_set.config, self.cluster)
            if backend != "kafka-python" and module == "esbridge.ingest.kafka.kafka_python":
                reason = f"the pipeline ignores kafka.backend: {backend} (its source is {module})"
                log(f"skipping backend {backend}: {reason}")
                self.results.skipped[backend] = reason
                self.drop(index_set)
                continue
            log_path = self.directory / f"esbridge-{engine}-{backend}-{layout}.log"
            measurement = measure_esbridge(
                self.cluster,
                self.where,
                index_set,
                backend,
                self.options.count,
                log_path,
                self.servers,
            )
            measurement.label += f" [{layout}]"
            measurements[backend] = measurement
            self.drop(index_set)
        return measurements

    def measure_naive(self) -> None:
        index_set = self.index_set("naive")
        limit = min(self.options.naive_count, self.options.count)
        self.results.naive = measure_naive(
            self.where.es_url, self.where.bootstrap, self.topic, index_set, limit, self.servers
        )
        self.drop(index_set)

    def cleanup(self) -> None:
        for index_set in list(self.index_sets):
            with contextlib.suppress(Exception):
                self.drop(index_set)
        for index in self.peer_indices:
            with contextlib.suppress(Exception):
                self.cluster.delete_index(index)
        try:
            delete_topic(self.where.bootstrap, self.topic)
        except Exception as exc:
            log(f"could not delete topic {self.topic}: {exc}")
        self.cluster.close()


# --- reporting ------------------------------------------------------------------------------


def headline_backend() -> str:
    """The backend of examples/dcache.yml, the config a new user starts from."""
    example = yaml.safe_load(EXAMPLE_CONFIG.read_text(encoding="utf-8"))
    return str(example["kafka"].get("backend", default_backend()))


def layout_summary(raw: list[Measurement], esbridge: dict[str, Measurement]) -> dict[str, Any]:
    """One CPU layout: the raw ceiling (the fastest raw phase) and each backend against it."""
    best_raw = max(raw, key=lambda m: m.docs_per_s)
    return {
        "raw_docs_per_s": round(best_raw.docs_per_s),
        "raw_connections": best_raw.extra["connections"],
        "esbridge_docs_per_s_by_backend": {b: round(m.docs_per_s) for b, m in esbridge.items()},
        "ratio_by_backend": {
            b: round(m.docs_per_s / best_raw.docs_per_s, 3) for b, m in esbridge.items()
        },
        "cpu_s_per_million_by_backend": {
            b: round(m.cpu_s_per_million, 1) for b, m in esbridge.items()
        },
    }


def es_cpu_us_per_doc(m: Measurement) -> float:
    """Elasticsearch's CPU-µs per document in this phase (CPU s per million = µs per doc)."""
    return round(m.per_million(m.cpu.servers.get("elasticsearch", float("nan"))), 1)


def phase_figures(m: Measurement, ceiling: Measurement) -> dict[str, Any]:
    """One phase against its layout's raw ceiling, in the units of the targets."""
    return {
        "ratio": round(m.docs_per_s / ceiling.docs_per_s, 3),
        "docs_per_s": round(m.docs_per_s),
        "cpu_s_per_million": round(m.cpu_s_per_million, 1),
        "client_cpu_us_per_message": round(m.cpu_s_per_million, 1),
        "client_cpu_us_per_message_after_first_commit": m.extra.get(
            "client_cpu_us_per_message_after_first_commit"
        ),
        "es_cpu_us_per_doc": es_cpu_us_per_doc(m),
        "seconds": round(m.seconds, 2),
    }


def ceiling(results: Results, layout: str) -> Measurement:
    return max(results.raw[layout], key=lambda m: m.docs_per_s)


def headline_engine(results: Results) -> str:
    """native when it was measured (the default wherever the extension is built), else python."""
    measured = {engine for by_engine in results.esbridge.values() for engine in by_engine}
    return next((engine for engine in ENGINES if engine in measured), "python")


def by_engine(results: Results, backend: str) -> dict[str, dict[str, Any]]:
    """{engine: {layout: figures}}, each engine with `backend` (the others under by_backend)."""
    found: dict[str, dict[str, Any]] = {}
    for layout, engines in results.esbridge.items():
        top = ceiling(results, layout)
        for engine, backends in engines.items():
            if not backends:
                continue
            chosen = backend if backend in backends else next(iter(backends))
            figures = {"backend": chosen, **phase_figures(backends[chosen], top)}
            figures["by_backend"] = {b: phase_figures(m, top) for b, m in backends.items()}
            found.setdefault(engine, {})[layout] = figures
    return found


def peer_summary(results: Results) -> dict[str, dict[str, Any]]:
    """{peer: {layout: figures and whether it delivered every message}}."""
    found: dict[str, dict[str, Any]] = {}
    for layout, peers in results.peers.items():
        for peer, m in peers.items():
            figures = phase_figures(m, ceiling(results, layout))
            figures.update({k: m.extra[k] for k in ("delivered", "expected", "delivered_all")})
            found.setdefault(peer, {})[layout] = figures
    return found


def original_summary(results: Results) -> dict[str, Any]:
    """Per layout: esbridge's documents with and without `event.original`, raw, over the
    same connection count."""
    found: dict[str, Any] = {}
    for layout, other in results.other_original.items():
        same = next(
            m for m in results.raw[layout] if m.extra["connections"] == other.extra["connections"]
        )
        kept, left_out = (same, other) if results.ceiling_keeps_original else (other, same)
        sides = {
            name: {
                "docs_per_s": round(m.docs_per_s),
                "es_cpu_us_per_doc": es_cpu_us_per_doc(m),
                "doc_bytes": m.extra["doc_bytes"],
            }
            for name, m in (("with", kept), ("without", left_out))
        }
        with_cpu, without_cpu = (sides[n]["es_cpu_us_per_doc"] for n in ("with", "without"))
        found[layout] = {
            **sides,
            "connections": other.extra["connections"],
            "esbridge_sends_it": results.ceiling_keeps_original,
            "es_cpu_with_over_without": round(with_cpu / without_cpu, 3) if without_cpu else None,
        }
    return found


def summary(results: Results) -> dict[str, Any]:
    """The JSON object: the issue's keys first (for the first layout measured, the headline
    engine and the example config's backend), then every layout, engine, backend and peer,
    then the details behind them."""
    engine = headline_engine(results)
    by_layout = {
        layout: layout_summary(results.raw[layout], engines[engine])
        for layout, engines in results.esbridge.items()
        if engines.get(engine)
    }
    if not by_layout:
        raise RuntimeError(f"no esbridge backend could be measured: {results.skipped}")
    layout, main = next(iter(by_layout.items()))
    backend = headline_backend()
    if backend not in main["ratio_by_backend"]:
        backend = next(iter(main["ratio_by_backend"]))
    assert results.naive is not None
    return {
        "raw_docs_per_s": main["raw_docs_per_s"],
        "esbridge_docs_per_s": main["esbridge_docs_per_s_by_backend"][backend],
        "naive_docs_per_s": round(results.naive.docs_per_s, 1),
        "ratio": main["ratio_by_backend"][backend],
        "cpu_s_per_million": main["cpu_s_per_million_by_backend"][backend],
        "esbridge_backend": backend,
        "engine": engine,
        "layout": layout,
        "by_layout": by_layout,
        "by_engine": by_engine(results, backend),
        "peers": peer_summary(results),
        "event_original": original_summary(results),
        "count": results.count,
        "naive_count": results.naive.docs,
        "seed": results.seed,
        "skipped": results.skipped,
        "measurements": [measurement_dict(m) for m in all_measurements(results)],
        "versions": versions(),
        "cores": len(os.sched_getaffinity(0)),
    }


def all_measurements(results: Results) -> list[Measurement]:
    naive = [results.naive] if results.naive else []
    found = []
    for layout, raw in results.raw.items():
        found += raw
        if layout in results.other_original:
            found.append(results.other_original[layout])
        for backends in results.esbridge.get(layout, {}).values():
            found += backends.values()
        found += results.peers.get(layout, {}).values()
    return [*found, *naive]


def measurement_dict(m: Measurement) -> dict[str, Any]:
    """One phase; CPU in seconds per million documents: client, each server, the rest."""
    cpu = {"client": m.cpu_s_per_million}
    cpu.update({name: m.per_million(seconds) for name, seconds in m.cpu.servers.items()})
    cpu["other"] = m.per_million(m.other_cpu)
    return {
        "label": m.label,
        "docs": m.docs,
        "seconds": round(m.seconds, 2),
        "docs_per_s": round(m.docs_per_s, 1),
        "cpu_s_per_million": {name: round(value, 1) for name, value in cpu.items()},
        "machine_busy": round(m.cpu.busy, 3),
        **m.extra,
    }


def versions() -> dict[str, str]:
    names = ("esbridge", "kafka-python", "confluent-kafka", "elasticsearch", "orjson")
    found = {name: importlib.metadata.version(name) for name in names}
    found["python"] = sys.version.split()[0]
    return found


def table(results: Results, data: dict[str, Any]) -> str:
    lines = [
        f"{results.count:,} billing messages (seed {results.seed}); the naive consumer on the "
        f"first {data['naive_count']:,} only",
        "",
        f"{'':58} {'docs':>9} {'seconds':>7} {'docs/s':>7} "
        f"{'CPU s per million docs: client   ES  Kafka other':>50} {'busy':>5}",
    ]
    for m in all_measurements(results):
        servers = [m.per_million(m.cpu.servers.get(name, float("nan"))) for name in SERVERS]
        lines.append(
            f"{m.label:58} {m.docs:>9,} {m.seconds:>7.1f} {m.docs_per_s:>7,.0f} {'':24}"
            f"{m.cpu_s_per_million:>6,.0f} {servers[0]:>4,.0f} {servers[1]:>6,.0f} "
            f"{m.per_million(m.other_cpu):>5,.0f} {m.cpu.busy:>5.0%}"
        )
    lines.append("")
    for engine, layouts in data["by_engine"].items():
        for layout, figures in layouts.items():
            for backend, each in figures["by_backend"].items():
                lines.append(
                    f"[{layout}] esbridge ({engine}, {backend}) / raw: {each['ratio']:.3f}; "
                    f"{each['client_cpu_us_per_message']} client CPU-µs per message "
                    f"({each['client_cpu_us_per_message_after_first_commit']} after the first "
                    f"commit), {each['es_cpu_us_per_doc']} Elasticsearch CPU-µs per document"
                )
    for peer, layouts in data["peers"].items():
        for layout, figures in layouts.items():
            lines.append(
                f"[{layout}] {peer} / raw: {figures['ratio']:.3f}; "
                f"{figures['client_cpu_us_per_message']} CPU-µs per document, "
                f"{figures['delivered']:,} of {figures['expected']:,} delivered"
            )
    for layout, figures in data["event_original"].items():
        with_, without = figures["with"], figures["without"]
        lines.append(
            f"[{layout}] event.original: Elasticsearch {with_['es_cpu_us_per_doc']} CPU-µs "
            f"per document with it ({with_['doc_bytes']:,} bytes), "
            f"{without['es_cpu_us_per_doc']} without ({without['doc_bytes']:,} bytes)"
        )
    for what, reason in results.skipped.items():
        lines.append(f"{what} not measured: {reason}")
    return "\n".join(lines)


# --- command line ---------------------------------------------------------------------------


def parse_args(argv: list[str] | None = None) -> Options:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--count", type=int, default=DEFAULT_COUNT, help="billing messages")
    parser.add_argument(
        "--naive-count",
        type=int,
        default=DEFAULT_NAIVE_COUNT,
        help="messages for the one-request-per-document consumer",
    )
    parser.add_argument("--seed", type=int, default=DEFAULT_SEED)
    parser.add_argument(
        "--raw-connections",
        default="1,2",
        help="connection counts to try for the raw load; the fastest counts",
    )
    parser.add_argument(
        "--backends",
        default=",".join(declared_backends()),
        help="esbridge kafka.backend values to measure",
    )
    parser.add_argument(
        "--layouts",
        default=",".join(LAYOUTS),
        help="CPU layouts, the first is the headline: isolated (servers on all cores but the "
        "last, the client on the last) and/or shared (everyone on every core)",
    )
    parser.add_argument(
        "--engines",
        default=",".join(default_engines()),
        help="ingest.engine values to measure; native is the headline when measured "
        "(default: native,python when esbridge._native is built, else python)",
    )
    parser.add_argument(
        "--peers",
        default="",
        help="other bridges to run side by side on the same topic: rsyslog "
        "(install it with benchmarks/peers/install.sh)",
    )
    parser.add_argument(
        "--no-original-cost",
        action="store_false",
        dest="original_cost",
        help="skip the raw load with the other event.original setting (what the field costs "
        "Elasticsearch)",
    )
    parser.add_argument(
        "--json", action="store_true", dest="as_json", help="print one JSON object on stdout"
    )
    args = parser.parse_args(argv)
    backends, layouts = args.backends.split(","), args.layouts.split(",")
    engines, peers = args.engines.split(","), [p for p in args.peers.split(",") if p]
    unknown = (
        (set(backends) - set(declared_backends()))
        | (set(layouts) - set(LAYOUTS))
        | (set(engines) - set(ENGINES))
        | (set(peers) - set(PEERS))
    )
    if unknown or args.count < 1 or args.naive_count < 1:
        parser.error(
            f"bad arguments (unknown backends, layouts, engines or peers: {sorted(unknown)})"
        )
    if "native" in engines and native_module() is None:
        parser.error("--engines native: esbridge._native is not built (scripts/bootstrap.sh)")
    if "rsyslog" in peers and (problem := rsyslogd_problem()) is not None:
        parser.error(f"--peers rsyslog: {problem}")
    return Options(
        count=args.count,
        naive_count=args.naive_count,
        seed=args.seed,
        raw_connections=[int(n) for n in args.raw_connections.split(",")],
        backends=backends,
        layouts=layouts,
        as_json=args.as_json,
        engines=engines,
        peers=peers,
        original_cost=args.original_cost,
    )


def main(argv: list[str] | None = None) -> int:
    options = parse_args(argv)
    with endpoints() as where, tempfile.TemporaryDirectory(prefix="esbridge-bench-") as tmp:
        log(f"Kafka {where.bootstrap}, Elasticsearch {where.es_url}")
        results = Run(options, where, Path(tmp)).execute()
    data = summary(results)
    if options.as_json:
        log(table(results, data))
        print(json.dumps(data), flush=True)
    else:
        print(table(results, data), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
