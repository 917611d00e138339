"""A unique dCache "site" per test: its own topics, indices, templates and consumer group."""

from __future__ import annotations

import base64
import contextlib
import os
import subprocess
import sys
import time
import uuid
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from kafka import KafkaAdminClient, KafkaProducer, TopicPartition
from kafka.admin import NewTopic
from kafka.errors import TopicAlreadyExistsError

from esbridge.cluster.errors import NotFoundError
from esbridge.cluster.search import SearchCluster
from esbridge.config import Config, load_config
from esbridge.ingest.pipeline import RunLimits, open_pipeline
from esbridge.ingest.stats import Stats
from esbridge.setup.installer import install
from esbridge.setup.templates import Target, render_resources

PARSERS = ("billing", "logs", "access", "poolinfo")
MANDATORY = {
    "billing": "[msgType, date]",
    "logs": "[message]",
    "access": "[message]",
    "poolinfo": "[pool, '@timestamp']",
}


@dataclass
class Site:
    """`cluster` is what in-process ingest and watchers are given, and what the helpers below
    read with, so a site works on every engine; it is closed by `remove_site`."""

    name: str
    config_path: Path
    config: Config
    cluster: SearchCluster
    kafka_bootstrap: str

    def topic(self, parser: str) -> str:
        return f"{self.name}-{parser}"

    def index(self, parser: str) -> str:
        return f"{self.name}-{parser}"

    @property
    def deadletter(self) -> str:
        return f"{self.name}-deadletter"

    def produce(self, parser: str, values: list[bytes]) -> None:
        producer = KafkaProducer(bootstrap_servers=self.kafka_bootstrap, acks="all", linger_ms=5)
        for value in values:
            producer.send(self.topic(parser), value)
        producer.flush()
        producer.close()

    def ingest(self, **limits: Any) -> tuple[int, Stats]:
        """One in-process `esbridge ingest` run; returns its exit code and counters."""
        limits.setdefault("idle_exit", 4.0)
        pipeline = open_pipeline(self.config, self.cluster, RunLimits(**limits))
        return pipeline.run(), pipeline.stats

    def ingest_process(self, *args: str) -> subprocess.Popen[bytes]:
        """`esbridge ingest` as an operator runs it, in its own process."""
        command = [sys.executable, "-m", "esbridge", "ingest", "-c", str(self.config_path), *args]
        return subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.STDOUT)

    def docs(self, index: str) -> list[dict[str, Any]]:
        self.cluster.refresh(index)
        body = {"size": 10_000, "query": {"match_all": {}}, "sort": ["_doc"]}
        hits = self.cluster.search(index, body)["hits"]["hits"]
        return [{"_id": hit["_id"], **hit["_source"]} for hit in hits]

    def count(self, index: str) -> int:
        self.cluster.refresh(index)
        return self.cluster.count(index)

    def committed(self, parser: str, group: str | None = None) -> int | None:
        admin = KafkaAdminClient(bootstrap_servers=self.kafka_bootstrap)
        try:
            group = group or self.config.kafka.group_id
            offsets = admin.list_group_offsets(group)[group]
        finally:
            admin.close()
        found = offsets.get(TopicPartition(self.topic(parser), 0))
        return None if found is None else int(found.offset)

    def id_prefix(self, parser: str) -> str:
        """How ingest's ids of `parser`'s topic start: 8 characters of its Kafka topic id."""
        admin = KafkaAdminClient(bootstrap_servers=self.kafka_bootstrap)
        try:
            (described,) = admin.describe_topics([self.topic(parser)])
        finally:
            admin.close()
        topic_id = uuid.UUID(str(described["topic_id"]))  # a str or a UUID, by client version
        return base64.urlsafe_b64encode(topic_id.bytes).decode()[:8]

    def recreate_topic(self, parser: str) -> None:
        """Deletes `parser`'s topic and creates it again (empty, offsets from 0, a new id)."""
        admin = KafkaAdminClient(bootstrap_servers=self.kafka_bootstrap)
        try:
            admin.delete_topics([self.topic(parser)])
            deadline = time.monotonic() + 60
            while True:  # deletion completes in the background
                try:
                    admin.create_topics([NewTopic(self.topic(parser), 1, 1)])
                    return
                except TopicAlreadyExistsError:
                    if time.monotonic() > deadline:
                        raise
                    time.sleep(0.5)
        finally:
            admin.close()


DEFAULT_INGEST = "  max_message_bytes: 8kb\n"


def write_config(
    directory: Path,
    name: str,
    bootstrap: str,
    es_url: str,
    extra: str,
    sections: dict[str, str] | None = None,
) -> Path:
    """`sections` adds lines (indented) to the `elasticsearch`, `deadletter` or `ingest`
    section; `extra` adds sections of its own."""
    more = {
        key: "".join(f"  {line}\n" for line in lines.splitlines())
        for key, lines in (sections or {}).items()
    }
    producers = "".join(
        f"""
  - name: {parser}
    topics: [{name}-{parser}]
    parser: {parser}
    index: {name}-{parser}
    mandatory_fields: {MANDATORY[parser]}
"""
        for parser in PARSERS
    )
    path = directory / "esbridge.yml"
    path.write_text(
        f"""
log_timezone: Europe/Berlin
template_prefix: {name}
kafka:
  bootstrap: {bootstrap}
  group_id: {name}-group
  session_timeout_ms: 10000
elasticsearch:
  hosts: ["{es_url}"]
{more.get("elasticsearch", "")}producers:{producers}
deadletter:
  index: {name}-deadletter
{more.get("deadletter", "")}ingest:
  batch_max_docs: 500
  flush_interval: 200ms
  stats_interval: 2s
  retry_initial_backoff: 200ms
  retry_max_backoff: 2s
{more.get("ingest", DEFAULT_INGEST)}{extra}
"""
    )
    return path


def make_site(
    tmp_path: Path,
    kafka_bootstrap: str,
    es_url: str,
    extra: str = "",
    sections: dict[str, str] | None = None,
    *,
    connect: Mapping[str, Any] | None = None,
    setup: bool = True,
) -> Site:
    """`sections` as in `write_config`; an `ingest` entry replaces `max_message_bytes: 8kb`.
    `connect` holds `SearchCluster.connect`'s credentials for the site's cluster (an admin's,
    not necessarily the config's). `setup=False` leaves out what `esbridge setup` installs."""
    cluster = SearchCluster.connect([es_url], request_timeout=60, **(connect or {}))
    name = f"t{uuid.uuid4().hex[:10]}"
    # `{site}` in `extra` names this site, e.g. for an issues index of its own.
    extra = extra.replace("{site}", name)
    path = write_config(tmp_path, name, kafka_bootstrap, es_url, extra, sections)
    config = load_config(path, environ=os.environ)
    if not setup:  # as if `esbridge setup` had never run for this config
        return Site(name, path, config, cluster, kafka_bootstrap)
    install(
        cluster,
        render_resources(
            config.producers,
            config.deadletter,
            target=Target.of(cluster),
            prefix=config.template_prefix,
            issues_index=config.watch.issues_index if config.watch is not None else None,
        ),
        dry_run=False,
    )
    return Site(name, path, config, cluster, kafka_bootstrap)


def remove_site(site: Site, *, topics: bool = True) -> None:
    """The site's indices and templates, then (with `topics`) its Kafka topics."""
    cluster = site.cluster
    found = cluster.get_index(f"{site.name}-*")
    if found:
        cluster.delete_index(",".join(found))
    # by name: not every engine deletes templates by a wildcard
    for kind, delete in (
        ("index_template", cluster.delete_index_template),
        ("component_template", cluster.delete_component_template),
    ):
        with contextlib.suppress(NotFoundError):
            listed = cluster.request("GET", f"/_{kind}/{site.name}-*")
            for entry in listed.get(f"{kind}s", []):
                delete(entry["name"])
    cluster.close()
    if not topics:
        return
    admin = KafkaAdminClient(bootstrap_servers=site.kafka_bootstrap)
    try:
        existing = set(admin.list_topics())
        admin.delete_topics([t for t in map(site.topic, PARSERS) if t in existing])
    finally:
        admin.close()
