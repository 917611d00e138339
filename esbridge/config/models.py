"""The shape of esbridge's YAML config, as frozen pydantic models.

Every model forbids unknown keys so a typo fails loudly instead of silently taking a default.
Cross-field rules raise `LocatedError`, so each problem can be reported at its own key (and
thus line) rather than at the section that holds it.
"""

from __future__ import annotations

import contextlib
import re
from functools import cached_property
from typing import Annotated, Literal, Self
from zoneinfo import ZoneInfo

from pydantic import (
    AfterValidator,
    BeforeValidator,
    Field,
    SecretStr,
    model_validator,
)

from esbridge.config.archive import ArchiveConfig
from esbridge.config.base import (
    Loc,
    LocatedError,
    ReadableFile,
    Section,
    http_url,
    kafka_topic,
    non_empty,
)
from esbridge.config.metrics import MetricsConfig
from esbridge.config.notify import NotificationsConfig
from esbridge.config.poll import PollConfig
from esbridge.config.react import ReactorConfig
from esbridge.config.units import Bytes, Seconds
from esbridge.config.watch import WatchConfig

ParserName = Literal["billing", "logs", "access", "poolinfo"]
"""The producers esbridge can parse; `esbridge.transforms.PARSERS` registers one parser each
(tests/unit/test_registries.py fails when a name is in one place and not the other)."""

_Section = Section


def _split_list(value: object) -> object:
    """Accept `"a,b"` as well as `[a, b]`, so a list can come from one environment variable."""
    if isinstance(value, str):
        return [part.strip() for part in value.split(",")]
    return value


def _zone(value: object) -> ZoneInfo:
    # Replaces pydantic's own ZoneInfo parsing, whose error message repeats the input.
    if isinstance(value, ZoneInfo):
        return value
    if isinstance(value, str):
        with contextlib.suppress(ValueError, KeyError, OSError):
            return ZoneInfo(value)
    raise ValueError("unknown time zone: expected an IANA name such as Europe/Berlin")


_HOST_PORT = re.compile(r"(\[[0-9A-Fa-f:.]+\]|[^\s:\[\],/]+):(\d{1,5})")


def _host_port(value: str) -> str:
    match = _HOST_PORT.fullmatch(value)
    if match is None or not 0 < int(match[2]) < 65536:
        raise ValueError("expected host:port (IPv6 in brackets, e.g. [::1]:9092)")
    return value


def _es_url(value: str) -> str:
    return http_url(value, "elasticsearch.username/password")


_INDEX = re.compile(r"[a-z0-9][a-z0-9._-]{0,199}")


def _index_name(value: str) -> str:
    # Stricter than Elasticsearch on purpose: names get rollover suffixes and appear in URLs.
    if _INDEX.fullmatch(value) is None:
        raise ValueError(
            "expected a lowercase index name of at most 200 characters: a-z, 0-9, '.', '_', '-', "
            "not starting with '.', '_' or '-'"
        )
    return value


_NAME = re.compile(r"[a-z0-9][a-z0-9_-]{0,63}")


def _producer_name(value: str) -> str:
    if _NAME.fullmatch(value) is None:
        raise ValueError("expected 1-64 of a-z, 0-9, '_', '-', starting with a letter or digit")
    return value


def _field_path(value: str) -> str:
    if "" in value.split("."):
        raise ValueError("expected a dotted field path such as status.code")
    return value


NonEmptyStr = Annotated[str, Field(min_length=1)]
NonEmpty = AfterValidator(non_empty)
HostPort = Annotated[str, AfterValidator(_host_port)]
EsUrl = Annotated[str, AfterValidator(_es_url)]
IndexName = Annotated[str, AfterValidator(_index_name)]
TopicName = Annotated[str, AfterValidator(kafka_topic)]
FieldPath = Annotated[str, AfterValidator(_field_path)]
TimeZone = Annotated[ZoneInfo, BeforeValidator(_zone)]


class KafkaConfig(_Section):
    """Where and how the bridge consumes; settings map onto both client backends."""

    bootstrap: Annotated[tuple[HostPort, ...], BeforeValidator(_split_list), NonEmpty]
    group_id: NonEmptyStr = "esbridge"
    client_id: NonEmptyStr = "esbridge"
    backend: Literal["kafka-python", "confluent"] = "kafka-python"
    auto_offset_reset: Literal["earliest", "latest"] = "earliest"
    security_protocol: Literal["PLAINTEXT", "SSL", "SASL_PLAINTEXT", "SASL_SSL"] = "PLAINTEXT"
    sasl_mechanism: Literal["PLAIN", "SCRAM-SHA-256", "SCRAM-SHA-512"] | None = None
    sasl_username: NonEmptyStr | None = None
    sasl_password: SecretStr | None = None
    ssl_cafile: ReadableFile | None = None
    ssl_certfile: ReadableFile | None = None
    ssl_keyfile: ReadableFile | None = None
    session_timeout_ms: Annotated[int, Field(gt=0)] = 45000
    max_poll_interval_ms: Annotated[int, Field(gt=0)] = 300000
    connect_timeout: Annotated[Seconds, Field(ge=1)] = 60.0
    """No broker answering, or none accepting the credentials, for this long ends the run with
    exit 1: the clients would retry for ever, and a bridge that never gets in looks healthy."""

    @model_validator(mode="after")
    def _check_security(self) -> Self:
        """Credentials or certificates the chosen protocol would silently ignore are errors."""
        errors: list[tuple[Loc, str]] = []
        sasl = self.security_protocol.startswith("SASL_")
        ssl = self.security_protocol.endswith("SSL")
        if sasl:
            if self.sasl_mechanism is None:
                errors.append((("sasl_mechanism",), f"required with {self.security_protocol}"))
            if self.sasl_username is None:
                errors.append((("sasl_username",), f"required with {self.security_protocol}"))
            if self.sasl_password is None:
                errors.append((("sasl_password",), f"required with {self.security_protocol}"))
        else:
            for key in ("sasl_mechanism", "sasl_username", "sasl_password"):
                if getattr(self, key) is not None:
                    errors.append(((key,), "only used with security_protocol SASL_*"))
        if not ssl:
            for key in ("ssl_cafile", "ssl_certfile", "ssl_keyfile"):
                if getattr(self, key) is not None:
                    errors.append(((key,), "only used with security_protocol SSL or SASL_SSL"))
        if self.max_poll_interval_ms < self.session_timeout_ms:
            errors.append((("max_poll_interval_ms",), "must not be less than session_timeout_ms"))
        if errors:
            raise LocatedError(errors)
        return self


class ElasticsearchConfig(_Section):
    """The cluster to write to; basic auth and an API key are alternatives, never both."""

    hosts: Annotated[tuple[EsUrl, ...], BeforeValidator(_split_list), NonEmpty]
    username: NonEmptyStr | None = None
    password: SecretStr | None = None
    api_key: SecretStr | None = None
    ca_certs: ReadableFile | None = None
    verify_certs: bool = True
    request_timeout: Seconds = 30.0

    @model_validator(mode="after")
    def _check_auth(self) -> Self:
        errors: list[tuple[Loc, str]] = []
        if self.username is not None and self.password is None:
            errors.append((("password",), "required with username"))
        if self.password is not None and self.username is None:
            errors.append((("username",), "required with password"))
        if self.api_key is not None and (self.username is not None or self.password is not None):
            errors.append((("api_key",), "use either api_key or username/password, not both"))
        if errors:
            raise LocatedError(errors)
        return self


EVENT_ORIGINAL_BY_PARSER: dict[str, bool] = {
    "billing": False,
    "poolinfo": False,
    "logs": True,
    "access": True,
}
"""`event.original` by default: kept where operators read the original line in Kibana (logs,
access); off for billing and poolinfo, whose raw messages `esbridge archive` keeps and whose
copy doubles the document and costs Elasticsearch ~39% more CPU per document
(docs/benchmarks.md)."""


class ProducerConfig(_Section):
    """One stream: the topics it reads, how records are parsed, and the index they land in."""

    name: Annotated[str, AfterValidator(_producer_name)]
    topics: Annotated[tuple[TopicName, ...], NonEmpty]
    parser: ParserName
    index: IndexName
    id_strategy: Literal["offset", "none"] = "offset"
    """`offset` makes re-delivery idempotent (id = topic id-partition-offset); `none` is cheaper."""
    mandatory_fields: tuple[FieldPath, ...] = ()
    retention_days: Annotated[int, Field(ge=1)] = 30
    rollover_max_primary_shard_size: Bytes = 50 * 1024**3
    rollover_max_age: Seconds = 86400.0
    shards: Annotated[int, Field(ge=1)] = 1
    replicas: Annotated[int, Field(ge=0)] = 0
    total_fields_limit: Annotated[int, Field(ge=1)] = 1000
    event_original: bool | None = None
    """Whether documents carry the raw message as `event.original`; unset: the parser's
    default (`EVENT_ORIGINAL_BY_PARSER`)."""

    @property
    def keeps_original(self) -> bool:
        if self.event_original is None:
            return EVENT_ORIGINAL_BY_PARSER[self.parser]
        return self.event_original


class DeadletterConfig(_Section):
    """Where records that cannot be indexed are kept, so no message is lost silently."""

    index: IndexName = "esbridge-deadletter"
    payload_max_bytes: Bytes = 65536
    retention_days: Annotated[int, Field(ge=1)] = 90


class IngestConfig(_Section):
    """Batching, size caps and backoff: the knobs that trade latency against throughput."""

    batch_max_docs: Annotated[int, Field(ge=1)] = 5000
    batch_max_bytes: Bytes = 10 * 1024**2
    flush_interval: Seconds = 1.0
    max_message_bytes: Bytes = 1024**2
    original_max_bytes: Bytes = 16 * 1024
    retry_initial_backoff: Seconds = 0.5
    retry_max_backoff: Seconds = 30.0
    max_buffered_bytes: Bytes = 100 * 1024**2
    # Elasticsearch serves one bulk request on one write thread: a second request in flight
    # keeps a second core busy. Offsets are still committed strictly in order.
    max_in_flight: Annotated[int, Field(ge=1, le=64)] = 2
    stats_interval: Seconds = 10.0
    # Elasticsearch refusing esbridge's credentials or privileges (401/403) for this long ends
    # the run with exit 1: a person must fix them. Nothing is committed meanwhile.
    auth_failure_timeout: Seconds = 60.0
    # Elasticsearch not answering at all when ingest starts ends the run after this long, with
    # exit 1 and one line naming it (systemd restarts the unit); nothing was read meanwhile.
    connect_timeout: Seconds = 300.0
    # Which code turns messages into bulk lines: `native` (esbridge._native, billing only; the
    # other producers stay on Python) or `python`, the reference. Unset: native when built.
    engine: Literal["native", "python"] | None = None

    @model_validator(mode="after")
    def _check_backoff(self) -> Self:
        if self.retry_initial_backoff > self.retry_max_backoff:
            raise LocatedError([(("retry_initial_backoff",), "must not exceed retry_max_backoff")])
        return self


class Config(_Section):
    """The whole bridge configuration, validated; build it with `load_config`."""

    dcache_instance: NonEmptyStr | None = None
    log_timezone: TimeZone = ZoneInfo("UTC")
    # Names esbridge's templates and policies `<prefix>-...`: two bridges sharing a cluster
    # keep apart by using different prefixes.
    template_prefix: IndexName = "esbridge"
    kafka: KafkaConfig
    elasticsearch: ElasticsearchConfig
    producers: Annotated[tuple[ProducerConfig, ...], NonEmpty]
    deadletter: DeadletterConfig = DeadletterConfig()
    ingest: IngestConfig = IngestConfig()
    notifications: NotificationsConfig | None = None
    watch: WatchConfig | None = None
    reactors: tuple[ReactorConfig, ...] = ()
    poll: PollConfig | None = None
    metrics: MetricsConfig = MetricsConfig()
    archive: ArchiveConfig | None = None

    @model_validator(mode="after")
    def _check_watch(self) -> Self:
        """Rules read a configured producer, and issues get an index of their own."""
        if self.watch is None:
            return self
        errors: list[tuple[Loc, str]] = []
        try:
            _index_name(self.watch.issues_index)
        except ValueError as exc:
            errors.append((("watch", "issues_index"), str(exc)))
        if self.watch.issues_index in {p.index for p in self.producers} | {self.deadletter.index}:
            errors.append((("watch", "issues_index"), "same as a producer's or deadletter.index"))
        names = [p.name for p in self.producers]
        for i, rule in enumerate(self.watch.rules):
            if rule.producer not in names:
                message = f"not a producer's name: expected one of {', '.join(names)}"
                errors.append((("watch", "rules", i, "producer"), message))
        if errors:
            raise LocatedError(errors)
        return self

    @model_validator(mode="after")
    def _check_producers(self) -> Self:
        """One owner per topic and one writer per index, or routing and mappings are ambiguous."""
        errors: list[tuple[Loc, str]] = []
        names: dict[str, int] = {}
        indices: dict[str, int] = {}
        topics: dict[str, tuple[int, int]] = {}
        for i, producer in enumerate(self.producers):
            if (first := names.setdefault(producer.name, i)) != i:
                errors.append((("producers", i, "name"), f"same as producers[{first}].name"))
            if (first := indices.setdefault(producer.index, i)) != i:
                errors.append((("producers", i, "index"), f"same as producers[{first}].index"))
            if producer.index == self.deadletter.index:
                errors.append((("producers", i, "index"), "same as deadletter.index"))
            for j, topic in enumerate(producer.topics):
                if (owner := topics.setdefault(topic, (i, j))) != (i, j):
                    where = f"producers[{owner[0]}].topics[{owner[1]}]"
                    message = f"topic already listed at {where}: one producer per topic"
                    errors.append((("producers", i, "topics", j), message))
        if errors:
            raise LocatedError(errors)
        return self

    @cached_property
    def _by_topic(self) -> dict[str, ProducerConfig]:
        return {topic: p for p in self.producers for topic in p.topics}

    def producer_for_topic(self, topic: str) -> ProducerConfig:
        """The producer consuming `topic`; KeyError for a topic no producer subscribes to."""
        return self._by_topic[topic]

    def all_topics(self) -> list[str]:
        """Every topic to subscribe to, in config order."""
        return [topic for p in self.producers for topic in p.topics]

    @model_validator(mode="after")
    def _check_reactors(self) -> Self:
        """A reactor reads a configured producer, in a consumer group and to a dead-letter index
        nobody else uses (a shared group would split the messages between reactors)."""
        errors: list[tuple[Loc, str]] = []
        names = [p.name for p in self.producers]
        taken = {p.index for p in self.producers} | {self.deadletter.index}
        if self.watch is not None:
            taken.add(self.watch.issues_index)
        seen: dict[str, int] = {}
        groups: dict[str, int] = {self.kafka.group_id: -1}
        for i, reactor in enumerate(self.reactors):
            if (first := seen.setdefault(reactor.name, i)) != i:
                errors.append((("reactors", i, "name"), f"same as reactors[{first}].name"))
            if reactor.producer not in names:
                message = f"not a producer's name: expected one of {', '.join(names)}"
                errors.append((("reactors", i, "producer"), message))
            group = reactor.consumer_group(self.kafka.group_id)
            if (first := groups.setdefault(group, i)) != i:
                other = "kafka.group_id" if first < 0 else f"reactors[{first}]'s"
                errors.append((("reactors", i, "group_id"), f"same consumer group as {other}"))
            if reactor.deadletter_index in taken:
                message = "same as a producer's index, deadletter.index or watch.issues_index"
                errors.append((("reactors", i, "deadletter_index"), message))
        if errors:
            raise LocatedError(errors)
        return self

    def reactor_topics(self, reactor: ReactorConfig) -> list[str]:
        """The topics `reactor` reads: its producer's."""
        return next(list(p.topics) for p in self.producers if p.name == reactor.producer)
