"""The checks behind `esbridge check`, like `filebeat test config` and `test output`.

Each probe talks to one endpoint the way the daemon that needs it would (the same client
settings, the same credentials) and turns any failure into a verdict line instead of an
exception, so one unreachable server does not hide the state of the others.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass

from kafka import KafkaConsumer
from kafka.errors import KafkaError

from esbridge import __version__
from esbridge.cluster.errors import ClusterError
from esbridge.cluster.search import SearchCluster, connect
from esbridge.config import Config
from esbridge.errors import EsbridgeError
from esbridge.ingest.kafka.settings import kafka_python_settings
from esbridge.notify.errors import NotifyError
from esbridge.notify.smtp import probe as smtp_probe
from esbridge.setup.installer import install
from esbridge.setup.preflight import setup_problems
from esbridge.setup.templates import Target, render_resources


@dataclass(frozen=True)
class Verdict:
    """One line of the report: what was checked, whether it passed, and what was seen."""

    subject: str
    ok: bool
    detail: str

    def line(self) -> str:
        return f"{self.subject}: {'ok' if self.ok else 'FAIL'} ({self.detail})"


def offline_verdicts(config: Config) -> list[Verdict]:
    """What a loaded config already proves: it parsed, and what it will run."""
    producers = ", ".join(f"{p.name} <- {', '.join(p.topics)}" for p in config.producers)
    found = [Verdict("config", True, f"{len(config.producers)} producers: {producers}")]
    if config.watch is not None:
        found.append(Verdict("watch rules", True, f"{len(config.watch.rules)} rules"))
    if config.notifications is not None:
        channels = [n for n in ("smtp", "webhook") if getattr(config.notifications, n)]
        found.append(Verdict("notifications", True, ", ".join(channels) or "no channel"))
    return found


def online_verdicts(config: Config) -> Iterator[Verdict]:
    """Every endpoint of the config, in the order the daemons need them."""
    yield from _kafka(config)
    yield from _search(config)
    smtp = config.notifications.smtp if config.notifications is not None else None
    if smtp is not None:
        yield _guarded(f"smtp {smtp.host}:{smtp.port}", lambda: smtp_probe(smtp))


def _guarded(subject: str, probe: Callable[[], str]) -> Verdict:
    try:
        return Verdict(subject, True, probe())
    except (EsbridgeError, NotifyError, ClusterError, KafkaError, OSError) as exc:
        return Verdict(subject, False, str(exc) or type(exc).__name__)


def _kafka(config: Config) -> Iterator[Verdict]:
    bootstrap = ",".join(config.kafka.bootstrap)
    try:
        consumer = KafkaConsumer(**kafka_python_settings(config.kafka))
    except (KafkaError, OSError, ValueError) as exc:
        reason = str(exc) or type(exc).__name__
        yield Verdict(f"kafka {bootstrap}", False, f"{config.kafka.security_protocol}: {reason}")
        return
    try:
        topics = consumer.topics()
        yield Verdict(
            f"kafka {bootstrap}", True, f"{config.kafka.security_protocol}, metadata read"
        )
        for producer in config.producers:
            for topic in producer.topics:
                partitions = consumer.partitions_for_topic(topic) if topic in topics else None
                yield (
                    Verdict(f"kafka topic {topic}", True, f"{len(partitions)} partitions")
                    if partitions
                    else Verdict(f"kafka topic {topic}", False, "no such topic")
                )
    finally:
        consumer.close()


def _search(config: Config) -> Iterator[Verdict]:
    hosts = ",".join(str(h) for h in config.elasticsearch.hosts)
    try:
        cluster = connect(config.elasticsearch)
    except (EsbridgeError, ClusterError, OSError) as exc:
        yield Verdict(f"search {hosts}", False, str(exc) or type(exc).__name__)
        return
    with cluster:
        yield Verdict(f"search {hosts}", True, cluster.flavour.label)
        yield _setup(cluster, config)


def _setup(cluster: SearchCluster, config: Config) -> Verdict:
    """Aliases in place, and templates and policies as this esbridge version renders them."""
    subject = "setup"
    try:
        problems = setup_problems(cluster, config)
        if problems:
            return Verdict(subject, False, "; ".join(problems))
        resources = render_resources(
            config.producers,
            config.deadletter,
            target=Target.of(cluster),
            prefix=config.template_prefix,
            issues_index=config.watch.issues_index if config.watch is not None else None,
        )
        planned = install(cluster, resources, dry_run=True)
    except (EsbridgeError, ClusterError) as exc:
        return Verdict(subject, False, str(exc))
    due = [c for c in planned if c.action in ("created", "updated")]
    if due:
        names = ", ".join(f"{c.kind} {c.name} ({c.action})" for c in due)
        return Verdict(
            subject,
            False,
            f"not as esbridge {__version__} installs it: {names}; run esbridge setup",
        )
    return Verdict(
        subject, True, f"templates, policies and aliases as esbridge {__version__} installs them"
    )
