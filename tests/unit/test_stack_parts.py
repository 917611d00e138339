"""The stack's pure parts: JDK choice, port choice, artifact coordinates."""

from __future__ import annotations

from pathlib import Path

import pytest

from esbridge.stack import jdk
from esbridge.stack.artifacts import Coordinate, kafka_coordinates
from esbridge.stack.manager import choose_port


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
