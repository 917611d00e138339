"""Kafka client microbenchmark: CPU-µs per billing message just to consume it, per client.

    python benchmarks/kafka_client.py [--count N] [--seed S] [--layout isolated|shared] [--json]

What is left of ingest's CPU once the message -> bulk line step is compiled is largely the
Kafka client (issue 15, item 5). N seeded billing messages are produced once to a fresh topic
(not timed); then each way of reading them runs in a process of its own, with a consumer group
of its own, from the earliest offset:

  confluent            confluent-kafka `consume(num_messages=B)`, B = `ingest.batch_max_docs`
                       (5,000), with the settings esbridge's confluent source uses, touching
                       each record's value;
  confluent-source     esbridge's own `ConfluentSource.poll` (the same call, plus the `Message`
                       objects ingest builds): what ingest pays with `kafka.backend: confluent`;
  kafka-python         kafka-python `poll(max_records=B)` with esbridge's settings;
  kafka-python-source  esbridge's `KafkaSource.poll`: what ingest pays with `kafka-python`.

CPU is the process's user+system time (every thread: librdkafka's too) from creating the
consumer to the N-th message, over all N: the interpreter's start-up and imports are left out,
joining the group is in (it is mostly waiting), and so is librdkafka's prefetching, which runs
in its own threads while the group is still being joined. `--layout isolated` (default) puts
Kafka and Elasticsearch on all cores but the last and the readers on the last
(benchmarks/cpu.py).
Runs on the stack named by ESBRIDGE_KAFKA_BOOTSTRAP (and ESBRIDGE_ES_URL) or starts its own.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import time
import uuid
from typing import Any

from confluent_kafka import Consumer
from cpu import LAYOUTS, cpu_layout, layout_problem  # benchmarks/, beside this script
from ingest import SERVERS, create_topic, delete_topic, endpoints, produce, server_pids
from kafka import KafkaConsumer

from esbridge.config import IngestConfig, KafkaConfig
from esbridge.ingest.kafka import open_source
from esbridge.ingest.kafka.confluent import consumer_settings as confluent_settings
from esbridge.ingest.kafka.kafka_python import consumer_settings as kafka_python_settings
from esbridge.ingest.pipeline import POLL_SLICE
from esbridge.simulate import generate

READERS = ("confluent", "confluent-source", "kafka-python", "kafka-python-source")
BATCH = IngestConfig().batch_max_docs
TIMEOUT = 600.0


def log(text: str) -> None:
    print(text, file=sys.stderr, flush=True)


def kafka_config(reader: str, bootstrap: str, group: str) -> KafkaConfig:
    backend = "confluent" if reader.startswith("confluent") else "kafka-python"
    return KafkaConfig(bootstrap=(bootstrap,), group_id=group, client_id=group, backend=backend)


def batches(reader: str, config: KafkaConfig, topic: str) -> Any:
    """Yields the size of each non-empty batch `reader` gets, as ingest's main loop asks."""
    if reader == "confluent":
        consumer = Consumer(confluent_settings(config))
        consumer.subscribe([topic])
        try:
            while True:
                records = consumer.consume(num_messages=BATCH, timeout=POLL_SLICE)
                values = [r.value() for r in records if r.error() is None]
                if values:
                    yield len(values)
        finally:
            consumer.close()
    elif reader == "kafka-python":
        client = KafkaConsumer(topic, **kafka_python_settings(config, BATCH))
        try:
            while True:
                found = client.poll(timeout_ms=int(POLL_SLICE * 1000), max_records=BATCH)
                count = sum(len([r.value for r in records]) for records in found.values())
                if count:
                    yield count
        finally:
            client.close()
    else:
        source = open_source(config, BATCH)
        source.subscribe([topic], lambda _p: None, lambda _p: None)
        try:
            while True:
                if messages := source.poll(POLL_SLICE, BATCH):
                    yield len(messages)
        finally:
            source.close()


def child(reader: str, bootstrap: str, topic: str, count: int) -> dict[str, Any]:
    """One reader from the earliest offset to `count` messages; CPU from its first batch on."""
    config = kafka_config(reader, bootstrap, f"kc-{uuid.uuid4().hex[:8]}")
    stream = batches(reader, config, topic)
    deadline = time.monotonic() + TIMEOUT
    cpu0 = time.process_time()  # every thread of the process, finer than os.times()
    seen = next(stream)
    start = time.monotonic()
    while seen < count:
        seen += next(stream)
        if time.monotonic() > deadline:
            raise RuntimeError(f"{reader}: {seen:,} of {count:,} messages after {TIMEOUT:.0f} s")
    cpu, seconds = time.process_time() - cpu0, time.monotonic() - start
    stream.close()
    return {
        "reader": reader,
        "messages": seen,
        "seconds_after_first_batch": round(seconds, 3),
        "cpu_s": round(cpu, 3),
        "cpu_us_per_message": round(cpu / seen * 1e6, 2),
    }


def run_child(reader: str, bootstrap: str, topic: str, count: int) -> dict[str, Any]:
    command = [sys.executable, __file__, "--child", reader, "--topic", topic]
    command += ["--bootstrap", bootstrap, "--count", str(count)]
    done = subprocess.run(command, capture_output=True, text=True, check=False, timeout=TIMEOUT)
    if done.returncode != 0:
        raise RuntimeError(f"{reader}: exit {done.returncode}: {done.stderr[-2000:]}")
    result: dict[str, Any] = json.loads(done.stdout)
    return result


def table(results: list[dict[str, Any]]) -> str:
    lines = [f"{'reader':22} {'messages':>9} {'CPU s':>7} {'CPU-µs/msg':>11}"]
    for r in results:
        lines.append(
            f"{r['reader']:22} {r['messages']:>9,} {r['cpu_s']:>7.2f} "
            f"{r['cpu_us_per_message']:>11.2f}"
        )
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--count", type=int, default=300_000, help="billing messages")
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--readers", default=",".join(READERS))
    parser.add_argument("--layout", choices=LAYOUTS, default="isolated")
    parser.add_argument("--json", action="store_true", dest="as_json")
    parser.add_argument("--child", choices=READERS, help=argparse.SUPPRESS)
    parser.add_argument("--topic", help=argparse.SUPPRESS)
    parser.add_argument("--bootstrap", help=argparse.SUPPRESS)
    options = parser.parse_args(argv)
    if options.child:
        print(json.dumps(child(options.child, options.bootstrap, options.topic, options.count)))
        return 0
    readers = options.readers.split(",")
    if set(readers) - set(READERS) or options.count <= BATCH:
        parser.error(f"readers are {', '.join(READERS)}; --count must exceed {BATCH}")
    with endpoints() as where:
        topic = f"kc-{uuid.uuid4().hex[:8]}"
        log(f"producing {options.count:,} billing messages to {topic} ...")
        create_topic(where.bootstrap, topic)
        try:
            produce(
                where.bootstrap, topic, list(generate("billing", options.count, seed=options.seed))
            )
            servers = server_pids(where)
            layout = options.layout
            if layout == "isolated" and (problem := layout_problem(servers, len(SERVERS))):
                log(f"isolated layout refused ({problem}): shared")
                layout = "shared"
            results = []
            with cpu_layout(layout, servers):
                for reader in readers:
                    log(f"[{reader}] ...")
                    results.append(run_child(reader, where.bootstrap, topic, options.count))
                    log(f"[{reader}] {results[-1]['cpu_us_per_message']} CPU-µs per message")
        finally:
            delete_topic(where.bootstrap, topic)
    data = {"count": options.count, "batch": BATCH, "layout": layout, "readers": results}
    if options.as_json:
        log(table(results))
        print(json.dumps(data), flush=True)
    else:
        print(table(results), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
