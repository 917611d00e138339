"""Loading the YAML config: the example, interpolation, validation, and how errors read."""

from __future__ import annotations

import textwrap
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import yaml
from pydantic import BaseModel

from esbridge.config import (
    Config,
    ConfigError,
    DeadletterConfig,
    ElasticsearchConfig,
    IngestConfig,
    KafkaConfig,
    ProducerConfig,
    load_config,
)
from esbridge.config.archive import ArchiveConfig
from esbridge.config.metrics import MetricsConfig
from esbridge.config.notify import NotificationsConfig, SmtpConfig, WebhookConfig
from esbridge.config.poll import PollConfig
from esbridge.config.watch import WatchConfig
from tests.helpers.configs import MINIMAL
from tests.helpers.paths import EXAMPLE_CONFIG as EXAMPLE

Write = Callable[[str], Path]


@pytest.fixture
def write(tmp_path: Path) -> Write:
    """Writes YAML (dedented) to a file and returns its path."""

    def write(text: str) -> Path:
        path = tmp_path / "esbridge.yml"
        path.write_text(textwrap.dedent(text), encoding="utf-8")
        return path

    return write


def load_error(path: Path, environ: dict[str, str] | None = None) -> str:
    with pytest.raises(ConfigError) as caught:
        load_config(path, environ or {})
    return str(caught.value)


# --- the example ------------------------------------------------------------------------------


def test_example_config_loads_with_default_endpoints() -> None:
    config = load_config(EXAMPLE, {})

    assert config.kafka.bootstrap == ("127.0.0.1:9092",)
    assert config.elasticsearch.hosts == ("http://127.0.0.1:9200",)
    assert [(p.name, p.topics, p.parser, p.index) for p in config.producers] == [
        ("billing", ("billing",), "billing", "dcache-billing"),
        ("logs", ("dcache-logs",), "logs", "dcache-logs"),
        ("access", ("dcache-access",), "access", "dcache-access"),
        ("poolinfo", ("dcache-poolinfo",), "poolinfo", "dcache-poolinfo"),
    ]
    assert [p.mandatory_fields for p in config.producers] == [
        ("msgType", "date"),
        ("message",),
        ("message",),
        ("pool", "@timestamp"),
    ]
    assert config.deadletter.index == "esbridge-deadletter"
    assert config.deadletter.payload_max_bytes == 65536
    assert config.log_timezone.key == "Europe/Berlin"
    assert config.ingest.batch_max_bytes == 10 * 1024**2
    assert config.ingest.flush_interval == 1.0
    assert config.producers[0].rollover_max_primary_shard_size == 50 * 1024**3
    assert config.producers[0].rollover_max_age == 86400.0


def test_example_config_takes_endpoints_from_the_environment() -> None:
    environ = {
        "ESBRIDGE_KAFKA_BOOTSTRAP": "k1:9092, [2001:db8::1]:9093",
        "ESBRIDGE_ES_URL": "https://es.example.org:9200",
    }
    config = load_config(EXAMPLE, environ)

    assert config.kafka.bootstrap == ("k1:9092", "[2001:db8::1]:9093")
    assert config.elasticsearch.hosts == ("https://es.example.org:9200",)


def test_endpoints_may_be_lists_or_comma_separated_strings(write: Write) -> None:
    path = write(
        MINIMAL.replace("bootstrap: 127.0.0.1:9092", "bootstrap: [k1:9092, 'k2:9092']").replace(
            "hosts: http://127.0.0.1:9200", "hosts: https://es1:9200,https://[::1]:9200/es"
        )
    )

    config = load_config(path, {})

    assert config.kafka.bootstrap == ("k1:9092", "k2:9092")
    assert config.elasticsearch.hosts == ("https://es1:9200", "https://[::1]:9200/es")


def test_helpers_route_topics_to_producers(write: Write) -> None:
    config = load_config(
        write(
            MINIMAL
            + """\
  - name: logs
    topics: [dcache-logs, dcache-logs-old]
    parser: logs
    index: dcache-logs
"""
        ),
        {},
    )

    assert config.all_topics() == ["billing", "dcache-logs", "dcache-logs-old"]
    assert config.producer_for_topic("dcache-logs-old").name == "logs"
    assert config.producer_for_topic("billing").index == "dcache-billing"
    with pytest.raises(KeyError):
        config.producer_for_topic("unknown")


def test_omitted_sections_and_keys_take_documented_defaults(write: Write) -> None:
    config = load_config(write(MINIMAL), {})

    assert config.log_timezone.key == "UTC"
    assert config.dcache_instance is None
    assert config.kafka.group_id == "esbridge"
    assert config.kafka.backend == "kafka-python"
    assert config.kafka.security_protocol == "PLAINTEXT"
    assert config.producers[0].id_strategy == "offset"
    assert config.producers[0].mandatory_fields == ()
    assert config.deadletter.index == "esbridge-deadletter"
    assert config.ingest.original_max_bytes == 16 * 1024
    assert config.ingest.max_buffered_bytes == 100 * 1024**2
    assert config.ingest.max_in_flight == 2


def test_event_original_follows_the_parser_unless_the_producer_sets_it(write: Write) -> None:
    producers = "".join(
        f"  - name: {parser}\n    topics: [{parser}-t]\n    parser: {parser}\n"
        f"    index: dcache-{parser}\n"
        for parser in ("logs", "access", "poolinfo")
    )
    config = load_config(write(MINIMAL + producers), {})
    assert {p.parser: p.keeps_original for p in config.producers} == {
        "billing": False,
        "logs": True,
        "access": True,
        "poolinfo": False,
    }
    chosen = MINIMAL.replace(
        "    parser: billing\n", "    parser: billing\n    event_original: true\n"
    )
    (billing,) = load_config(write(chosen), {}).producers
    assert billing.event_original is True
    assert billing.keeps_original


def test_event_original_must_be_a_boolean(write: Write) -> None:
    path = write(
        MINIMAL.replace(
            "    parser: billing\n", "    parser: billing\n    event_original: sometimes\n"
        )
    )

    assert load_error(path) == (
        f"{path}:9: producers[0].event_original: Input should be a valid boolean, unable to "
        "interpret input"
    )


def test_loaded_config_is_immutable(write: Write) -> None:
    config = load_config(write(MINIMAL), {})

    with pytest.raises(ValueError, match="frozen"):
        config.kafka.group_id = "other"


# --- interpolation ----------------------------------------------------------------------------


def test_interpolation_uses_variable_default_embedded_and_escape(write: Write) -> None:
    path = write(
        """\
        kafka:
          bootstrap: ${BOOT:-localhost:9092}
          group_id: ${GROUP}
          client_id: pre-$${LITERAL}-$x
        elasticsearch:
          hosts: ["http://${ES_HOST}:9200"]
        producers:
          - name: billing
            topics: [billing]
            parser: billing
            index: dcache-billing
        """
    )

    config = load_config(path, {"ES_HOST": "es1.example.org", "GROUP": "bridge"})

    assert config.elasticsearch.hosts == ("http://es1.example.org:9200",)
    assert config.kafka.bootstrap == ("localhost:9092",)
    assert config.kafka.group_id == "bridge"
    assert config.kafka.client_id == "pre-${LITERAL}-$x"


def test_interpolation_default_applies_to_empty_variable_and_values_are_not_reexpanded(
    write: Write,
) -> None:
    path = write(
        MINIMAL.replace("kafka:\n", "kafka:\n  group_id: ${GROUP:-fallback}\n  client_id: ${C}\n")
    )

    config = load_config(path, {"GROUP": "", "C": "${GROUP}"})

    assert config.kafka.group_id == "fallback"
    assert config.kafka.client_id == "${GROUP}"


def test_unset_variable_error_names_key_line_and_variable(write: Write) -> None:
    path = write(MINIMAL.replace("kafka:\n", "kafka:\n  group_id: ${ESBRIDGE_GROUP}\n"))

    assert load_error(path) == (
        f"{path}:2: kafka.group_id: environment variable ESBRIDGE_GROUP is not set and has no "
        "default"
    )


def test_every_unset_variable_is_reported(write: Write) -> None:
    path = write(
        MINIMAL.replace("hosts: http://127.0.0.1:9200", "hosts: [a, '${ES_URL}']").replace(
            "index: dcache-billing", "index: ${INDEX}"
        )
    )

    lines = load_error(path).splitlines()

    assert lines == [
        f"{path}:4: elasticsearch.hosts[1]: environment variable ES_URL is not set and has no "
        "default",
        f"{path}:9: producers[0].index: environment variable INDEX is not set and has no default",
    ]


@pytest.mark.parametrize("reference", ["${}", "${1X}", "${X", "${X:-${Y}}", "${X:default}"])
def test_malformed_reference_is_an_error_at_its_key(write: Write, reference: str) -> None:
    path = write(MINIMAL.replace("kafka:\n", f"kafka:\n  group_id: '{reference}'\n"))

    error = load_error(path, {"X": "x", "Y": "y"})

    assert error.startswith(f"{path}:2: kafka.group_id: ")
    assert "${" in error


# --- validation errors ------------------------------------------------------------------------


def test_typo_key_error_names_key_and_line(write: Write) -> None:
    path = write(MINIMAL.replace("    parser: billing\n", "    parser: billing\n    indx: x\n"))

    assert load_error(path) == f"{path}:9: producers[0].indx: unknown key"


def test_wrong_type_error_names_key_and_line(write: Write) -> None:
    path = write(MINIMAL + "ingest:\n  batch_max_docs: many\n")

    assert load_error(path) == (
        f"{path}:11: ingest.batch_max_docs: Input should be a valid integer, unable to parse "
        "string as an integer"
    )


def test_missing_key_points_at_its_parent(write: Write) -> None:
    path = write(MINIMAL.replace("    parser: billing\n", ""))

    assert load_error(path) == f"{path}:6: producers[0].parser: required key is missing"


def test_every_problem_is_listed_in_line_order(write: Write) -> None:
    path = write(
        """\
        log_timezone: Europe/Berln
        kafka:
          bootstrap: 127.0.0.1
          backend: librdkafka
        elasticsearch:
          hosts: ftp://es
        producers:
          - name: billing
            topics: []
            parser: billing
            index: Dcache_Billing
        """
    )

    lines = load_error(path).splitlines()

    assert [line.split(": ")[0:2] for line in lines] == [
        [f"{path}:1", "log_timezone"],
        [f"{path}:3", "kafka.bootstrap[0]"],
        [f"{path}:4", "kafka.backend"],
        [f"{path}:6", "elasticsearch.hosts[0]"],
        [f"{path}:9", "producers[0].topics"],
        [f"{path}:11", "producers[0].index"],
    ]


def test_bad_zone_is_rejected_naming_log_timezone(write: Write) -> None:
    path = write("log_timezone: Europe/Atlantis\n" + MINIMAL)

    assert load_error(path) == (
        f"{path}:1: log_timezone: unknown time zone: expected an IANA name such as Europe/Berlin"
    )


def test_unknown_top_level_section_is_rejected(write: Write) -> None:
    path = write(MINIMAL + "kibana:\n  url: http://127.0.0.1:5601\n")

    assert load_error(path) == f"{path}:10: kibana: unknown key"


def test_duplicate_topic_across_producers_is_rejected(write: Write) -> None:
    path = write(
        MINIMAL
        + """\
  - name: billing-copy
    topics: [other, billing]
    parser: billing
    index: dcache-billing-copy
"""
    )

    assert load_error(path) == (
        f"{path}:11: producers[1].topics[1]: topic already listed at producers[0].topics[0]: "
        "one producer per topic"
    )


def test_duplicate_producer_name_and_index_are_rejected(write: Write) -> None:
    path = write(
        MINIMAL
        + """\
  - name: billing
    topics: [other]
    parser: billing
    index: dcache-billing
deadletter:
  index: dcache-billing
"""
    )

    assert load_error(path).splitlines() == [
        f"{path}:9: producers[0].index: same as deadletter.index",
        f"{path}:10: producers[1].name: same as producers[0].name",
        f"{path}:13: producers[1].index: same as producers[0].index",
        f"{path}:13: producers[1].index: same as deadletter.index",
    ]


def test_sasl_without_mechanism_is_rejected(write: Write) -> None:
    path = write(
        MINIMAL.replace(
            "kafka:\n",
            "kafka:\n  security_protocol: SASL_SSL\n  sasl_username: u\n  sasl_password: p\n",
        )
    )

    assert load_error(path) == f"{path}:1: kafka.sasl_mechanism: required with SASL_SSL"


def test_sasl_settings_without_sasl_protocol_are_rejected(write: Write) -> None:
    path = write(MINIMAL.replace("kafka:\n", "kafka:\n  sasl_mechanism: PLAIN\n"))

    assert load_error(path) == (
        f"{path}:2: kafka.sasl_mechanism: only used with security_protocol SASL_*"
    )


def test_complete_sasl_ssl_settings_load(write: Write, tmp_path: Path) -> None:
    ca = tmp_path / "ca.pem"
    ca.write_text("-----BEGIN CERTIFICATE-----\n")
    path = write(
        MINIMAL.replace(
            "kafka:\n",
            "kafka:\n  security_protocol: SASL_SSL\n  sasl_mechanism: SCRAM-SHA-512\n"
            f"  sasl_username: esbridge\n  sasl_password: ${{PW}}\n  ssl_cafile: {ca}\n",
        )
    )

    config = load_config(path, {"PW": "s3cret"})

    assert config.kafka.sasl_password is not None
    assert config.kafka.sasl_password.get_secret_value() == "s3cret"
    assert "s3cret" not in repr(config)
    assert config.kafka.ssl_cafile == ca


@pytest.mark.parametrize("key", ["ssl_cafile", "ssl_certfile", "ssl_keyfile"])
def test_a_missing_kafka_tls_file_fails_validation_at_its_key(write: Write, key: str) -> None:
    path = write(
        MINIMAL.replace("kafka:\n", f"kafka:\n  security_protocol: SSL\n  {key}: missing.pem\n")
    )

    assert load_error(path) == f"{path}:3: kafka.{key}: no such file"


def test_a_missing_elasticsearch_ca_file_fails_validation_at_its_key(write: Write) -> None:
    path = write(MINIMAL.replace("  hosts:", "  ca_certs: /nonexistent/es-ca.pem\n  hosts:"))

    assert load_error(path) == f"{path}:4: elasticsearch.ca_certs: no such file"


def test_a_folder_or_unreadable_file_is_not_a_ca_file(
    write: Write, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    folder = write(MINIMAL.replace("  hosts:", f"  ca_certs: {tmp_path}\n  hosts:"))
    assert load_error(folder) == f"{folder}:4: elasticsearch.ca_certs: not a file"

    ca = tmp_path / "ca.pem"
    ca.write_text("")
    monkeypatch.setattr("esbridge.config.base.os.access", lambda _path, _mode: False)
    unreadable = write(MINIMAL.replace("  hosts:", f"  ca_certs: {ca}\n  hosts:"))
    assert load_error(unreadable) == (
        f"{unreadable}:4: elasticsearch.ca_certs: the file cannot be read (permissions)"
    )


def test_connect_timeout_defaults_to_a_minute_and_is_at_least_a_second(write: Write) -> None:
    assert load_config(write(MINIMAL), {}).kafka.connect_timeout == 60.0
    longer = load_config(write(MINIMAL.replace("kafka:\n", "kafka:\n  connect_timeout: 2m\n")), {})
    assert longer.kafka.connect_timeout == 120.0
    for value in ("500ms", "0", "soon"):
        path = write(MINIMAL.replace("kafka:\n", f"kafka:\n  connect_timeout: {value}\n"))
        assert load_error(path).startswith(f"{path}:2: kafka.connect_timeout: "), value


def test_elasticsearch_basic_auth_and_api_key_are_exclusive(write: Write) -> None:
    path = write(
        MINIMAL.replace(
            "  hosts: http://127.0.0.1:9200\n",
            "  hosts: http://127.0.0.1:9200\n  username: u\n  password: p\n  api_key: k\n",
        )
    )

    assert load_error(path) == (
        f"{path}:7: elasticsearch.api_key: use either api_key or username/password, not both"
    )


def test_elasticsearch_username_requires_password(write: Write) -> None:
    path = write(MINIMAL.replace("  hosts:", "  username: u\n  hosts:"))

    assert load_error(path) == f"{path}:3: elasticsearch.password: required with username"


def test_credentials_in_an_elasticsearch_url_are_rejected(write: Write) -> None:
    path = write(MINIMAL.replace("http://127.0.0.1", "https://user:hunter2-secret@es"))

    error = load_error(path)

    assert error.startswith(f"{path}:4: elasticsearch.hosts[0]: put credentials in")
    assert "hunter2" not in error


# --- secrets stay out of error text -----------------------------------------------------------


@pytest.mark.parametrize(
    ("replace", "by"),
    [
        # a valid secret next to an unrelated wrong type
        (
            "kafka:\n",
            "kafka:\n  security_protocol: SASL_SSL\n  sasl_mechanism: PLAIN\n  sasl_username: u\n"
            '  sasl_password: "hunter2-secret"\n  session_timeout_ms: soon\n',
        ),
        # a secret of the wrong type
        ("  hosts:", "  username: u\n  password: [hunter2-secret, x]\n  hosts:"),
        # a secret pasted into the wrong key
        ("kafka:\n", "kafka:\n  group_id: [hunter2-secret]\n  sasl_mechanism: hunter2-secret\n"),
        ("kafka:\n", "log_timezone: hunter2-secret\nkafka:\n"),
        ("bootstrap: 127.0.0.1:9092", "bootstrap: hunter2-secret"),
        ("hosts: http://127.0.0.1:9200", "hosts: hunter2-secret"),
        ("index: dcache-billing", "index: Hunter2-Secret"),
        ("producers:\n", "ingest:\n  batch_max_bytes: hunter2-secret\nproducers:\n"),
        ("producers:\n", "passwd: hunter2-secret\nproducers:\n"),
        # YAML syntax errors on the secret's line
        ("kafka:\n", "kafka:\n  sasl_password: hunter2-secret: x\n"),
        ("kafka:\n", 'kafka:\n  sasl_password: "hunter2-secret\n'),
        ("kafka:\n", "kafka:\n  sasl_password: [hunter2-secret\n"),
        ("kafka:\n", "kafka:\n  sasl_password: hunter2-secret\n  sasl_password: x\n"),
    ],
)
def test_secret_never_appears_in_error_text(write: Write, replace: str, by: str) -> None:
    path = write(MINIMAL.replace(replace, by, 1))

    error = load_error(path)

    assert error.startswith(f"{path}:")
    assert "hunter2" not in error.lower()
    assert "input_value" not in error


SECTIONS: dict[tuple[str | int, ...], type[BaseModel]] = {
    (): Config,
    ("kafka",): KafkaConfig,
    ("elasticsearch",): ElasticsearchConfig,
    ("producers", 0): ProducerConfig,
    ("deadletter",): DeadletterConfig,
    ("ingest",): IngestConfig,
    ("watch",): WatchConfig,
    ("notifications",): NotificationsConfig,
    ("notifications", "smtp"): SmtpConfig,
    ("notifications", "webhook"): WebhookConfig,
    ("poll",): PollConfig,
    ("metrics",): MetricsConfig,
    ("archive",): ArchiveConfig,
}
LEAVES = [
    (*section, name)
    for section, model in SECTIONS.items()
    for name in model.model_fields
    if (*section, name) not in SECTIONS and name != "producers"
]


@pytest.mark.parametrize("leaf", LEAVES, ids=lambda leaf: ".".join(map(str, leaf)))
@pytest.mark.parametrize(
    "secret",
    ["Hunter2-Secret:!", ["hunter2-secret", 1], {"hunter2-secret": ["hunter2-secret"]}],
    ids=["string", "list", "mapping"],
)
def test_no_key_ever_echoes_its_value_in_errors(
    write: Write, leaf: tuple[str | int, ...], secret: object
) -> None:
    """Covers every key, so a key added later, or a pydantic upgrade, cannot start leaking."""
    data: Any = yaml.safe_load(MINIMAL)
    data["deadletter"] = {}
    data["watch"] = {}
    data["notifications"] = {"smtp": {}, "webhook": {}}
    data["poll"] = {}
    data["metrics"] = {}
    data["archive"] = {}
    data["ingest"] = {"batch_max_docs": "many"}  # an error even where the secret is valid
    parent = data
    for part in leaf[:-1]:
        parent = parent[part]
    parent[leaf[-1]] = secret

    error = load_error(write(yaml.safe_dump(data)))

    assert "hunter2" not in error.lower()


# --- YAML and file-level problems -------------------------------------------------------------


def test_yaml_syntax_error_reports_line_and_column(write: Write) -> None:
    path = write(MINIMAL.replace("    parser: billing\n", "    parser: [billing\n"))

    assert load_error(path) == (
        f"{path}:9: invalid YAML while parsing a flow sequence (line 8): "
        "expected ',' or ']', but got ':' (column 10)"
    )


def test_duplicate_yaml_key_is_rejected(write: Write) -> None:
    path = write(MINIMAL.replace("parser: billing\n", "parser: billing\n    parser: logs\n"))

    assert load_error(path) == (
        f"{path}:9: invalid YAML: duplicate key (first given on line 8) (column 5)"
    )


def test_yaml_merge_keys_are_not_duplicates(write: Write) -> None:
    path = write(
        """\
        kafka:
          bootstrap: 127.0.0.1:9092
        elasticsearch:
          hosts: http://127.0.0.1:9200
        producers:
          - &billing
            name: billing
            topics: [billing]
            parser: billing
            index: dcache-billing
            retention_days: 7
          - <<: *billing
            name: billing2
            topics: [billing2]
            index: dcache-billing2
            retention_days: x
        """
    )

    assert load_error(path) == (
        f"{path}:16: producers[1].retention_days: Input should be a valid integer, unable to "
        "parse string as an integer"
    )


def test_missing_file_is_a_config_error(tmp_path: Path) -> None:
    path = tmp_path / "nope.yml"

    assert load_error(path) == f"{path}: no such file"


def test_directory_is_a_config_error(tmp_path: Path) -> None:
    assert load_error(tmp_path) == f"{tmp_path}: is a directory, expected a YAML file"


def test_non_utf8_file_is_a_config_error(tmp_path: Path) -> None:
    path = tmp_path / "latin1.yml"
    path.write_bytes(b"dcache_instance: m\xfcnchen\n")

    assert load_error(path) == f"{path}: not UTF-8 text (bad byte at offset 18)"


@pytest.mark.parametrize("text", ["", "\n# only a comment\n", "~\n"])
def test_empty_file_is_a_config_error(write: Write, text: str) -> None:
    path = write(text)

    assert load_error(path) == f"{path}: the file is empty: expected a mapping of sections"


@pytest.mark.parametrize(("text", "kind"), [("- kafka\n", "list"), ("kafka\n", "single value")])
def test_top_level_must_be_a_mapping(write: Write, text: str, kind: str) -> None:
    path = write(text)

    assert load_error(path) == (
        f"{path}:1: the top level must be a mapping of sections, not a {kind}"
    )


def test_config_error_keeps_structured_problems(write: Write) -> None:
    path = write(MINIMAL.replace("parser: billing", "parser: nope"))

    with pytest.raises(ConfigError) as caught:
        load_config(path, {})

    [problem] = caught.value.problems
    assert (problem.file, problem.line, problem.path) == (path, 8, "producers[0].parser")
    assert isinstance(load_config(write(MINIMAL), {}), Config)


def test_auth_failure_timeout_is_a_positive_duration_defaulting_to_a_minute(write: Write) -> None:
    assert load_config(write(MINIMAL), {}).ingest.auth_failure_timeout == 60.0
    longer = load_config(write(MINIMAL + "ingest:\n  auth_failure_timeout: 2m\n"), {})
    assert longer.ingest.auth_failure_timeout == 120.0
    path = write(MINIMAL + "ingest:\n  auth_failure_timeout: 0s\n")

    assert load_error(path).startswith(f"{path}:11: ingest.auth_failure_timeout: ")
