"""The stack's pure parts: JDK choice, port choice, artifact coordinates, broker settings."""

from __future__ import annotations

import string
from pathlib import Path

import pytest

from esbridge.stack import jdk
from esbridge.stack.artifacts import Coordinate, kafka_coordinates
from esbridge.stack.kafka import KafkaNode, SaslListener, format_command, new_cluster_id
from esbridge.stack.manager import Stack, StackOptions, choose_port


def fake_jdk(root: Path, name: str, version: str) -> Path:
    home = root / name
    (home / "bin").mkdir(parents=True)
    (home / "bin" / "java").write_text("#!/bin/sh\n")
    (home / "release").write_text(f'IMPLEMENTOR="x"\nJAVA_VERSION="{version}"\n')
    return home


def test_find_jdk_picks_newest_fitting_and_names_what_is_missing(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    fake_jdk(tmp_path, "jdk17", "17.0.15")
    fake_jdk(tmp_path, "jdk21", "21.0.4")
    monkeypatch.setattr(jdk, "JVM_ROOTS", (tmp_path,))
    monkeypatch.setattr(jdk.shutil, "which", lambda _name: None)
    for var in ("ESBRIDGE_JAVA_HOME", "ES_JAVA_HOME", "JAVA_HOME"):
        monkeypatch.delenv(var, raising=False)

    assert jdk.find_jdk(17, "Kafka").major == 21
    assert jdk.find_jdk(21, "Elasticsearch").home == tmp_path / "jdk21"
    with pytest.raises(
        jdk.JdkNotFoundError, match=r"Elasticsearch needs Java 25.*Java 17.*Java 21"
    ):
        jdk.find_jdk(25, "Elasticsearch")


def test_read_major_understands_legacy_1_8_numbering(tmp_path: Path) -> None:
    home = fake_jdk(tmp_path, "jdk8", "1.8.0_402")

    assert jdk.read_major(home) == 8
    assert jdk.read_major(tmp_path / "missing") is None


def test_choose_port_keeps_previous_defaults_or_picks_free() -> None:
    assert choose_port(None, 0, 9200) == 9200
    assert choose_port(None, 19200, 9200) == 19200
    assert choose_port(9201, 19200, 9200) == 9201
    assert choose_port(0, 19200, 9200) not in (0, 19200)


def test_coordinates_map_to_maven_central_paths() -> None:
    zip_coordinate = Coordinate.parse(
        "org.elasticsearch.distribution.integ-test-zip:elasticsearch:9.2.0", packaging="zip"
    )

    assert zip_coordinate.url == (
        "https://repo1.maven.org/maven2/org/elasticsearch/distribution/integ-test-zip/"
        "elasticsearch/9.2.0/elasticsearch-9.2.0.zip"
    )
    names = {c.artifact for c in kafka_coordinates()}
    assert {"kafka_2.13", "kafka-clients", "log4j-slf4j2-impl", "scala-library"} <= names
    assert all(c.version for c in kafka_coordinates())


def test_a_cluster_id_starting_with_a_dash_is_passed_as_the_options_value() -> None:
    command = format_command(Path("/jdk/bin/java"), "/libs/*", "-x9Yk2DT6v3K5vN1gQm7xw", "/k/c")

    assert "--cluster-id=-x9Yk2DT6v3K5vN1gQm7xw" in command
    assert "-x9Yk2DT6v3K5vN1gQm7xw" not in command  # never an argument of its own
    assert "--config=/k/c" in command


def test_cluster_ids_are_22_url_safe_characters_and_some_begin_with_a_dash() -> None:
    ids = {new_cluster_id() for _ in range(2000)}

    assert all(
        len(i) == 22 and set(i) <= set(string.ascii_letters + string.digits + "-_") for i in ids
    )
    assert any(i.startswith("-") for i in ids)  # about 1 in 64: the case that used to fail


def test_the_default_broker_has_no_sasl_listener(tmp_path: Path) -> None:
    properties = KafkaNode(tmp_path, 9092, 9093).server_properties()

    assert "SASL" not in properties
    assert "listeners=PLAINTEXT://127.0.0.1:9092,CONTROLLER://127.0.0.1:9093\n" in properties


def test_a_sasl_broker_adds_a_scram_listener_beside_plaintext(tmp_path: Path) -> None:
    node = KafkaNode(tmp_path, 9092, 9093, SaslListener(9094, "pw"))
    properties = node.server_properties().splitlines()

    assert (
        "listeners=PLAINTEXT://127.0.0.1:9092,SASL_PLAINTEXT://127.0.0.1:9094,"
        "CONTROLLER://127.0.0.1:9093"
    ) in properties
    assert "sasl.enabled.mechanisms=SCRAM-SHA-512" in properties
    assert (
        "listener.security.protocol.map="
        "CONTROLLER:PLAINTEXT,PLAINTEXT:PLAINTEXT,SASL_PLAINTEXT:SASL_PLAINTEXT"
    ) in properties
    assert "pw" not in node.server_properties()  # the user is made through the admin API


def test_sasl_is_planned_only_when_asked_and_then_kept(tmp_path: Path) -> None:
    plain = Stack(StackOptions(tmp_path, kafka_port=0, es_port=0)).plan()
    assert plain.kafka_sasl_port == 0 and plain.kafka_sasl_password is None

    stack = Stack(StackOptions(tmp_path, kafka_port=0, es_port=0, kafka_sasl=True))
    planned = stack.plan()
    stack.save_state(planned)
    again = Stack(StackOptions(tmp_path)).plan()

    assert planned.kafka_sasl_port > 0 and planned.kafka_sasl_password
    assert (again.kafka_sasl_port, again.kafka_sasl_password) == (
        planned.kafka_sasl_port,
        planned.kafka_sasl_password,
    )
