"""The engine registry and what each engine's node writes, without starting a JVM."""

from __future__ import annotations

import zipfile
from pathlib import Path

import pytest

from esbridge.stack import jdk
from esbridge.stack.artifacts import ES_VERSION
from esbridge.stack.elasticsearch import EsNode
from esbridge.stack.engines import (
    DEFAULT_ENGINE,
    EngineError,
    engines,
    find_jdk_for,
    resolve,
)
from esbridge.stack.nodes import make_node
from esbridge.stack.opensearch import OpenSearchNode
from tests.unit.test_stack_parts import fake_jdk


def test_lock_pins_the_four_engines_and_the_default_is_todays_elasticsearch() -> None:
    pinned = {name: (e.distribution, e.version) for name, e in engines().items()}

    assert pinned == {
        "elasticsearch-9": ("elasticsearch", "9.2.0"),
        "elasticsearch-8": ("elasticsearch", "8.19.7"),
        "opensearch-2": ("opensearch", "2.19.6"),
        "opensearch-3": ("opensearch", "3.3.2"),
    }
    assert engines()[DEFAULT_ENGINE].version == ES_VERSION
    assert all(e.major == int(e.name.rsplit("-", 1)[1]) for e in engines().values())


def test_engine_coordinates_are_the_integ_test_zips_on_maven_central() -> None:
    assert resolve("opensearch-2").coordinate.url == (
        "https://repo1.maven.org/maven2/org/opensearch/distribution/integ-test-zip/"
        "opensearch/2.19.6/opensearch-2.19.6.zip"
    )
    assert resolve("elasticsearch-8").home_name == "elasticsearch-8.19.7"


def test_name_colon_version_overrides_within_the_major_only() -> None:
    assert resolve("opensearch-3:3.2.0").version == "3.2.0"
    assert resolve("opensearch-3:3.2.0").java_min == resolve("opensearch-3").java_min
    with pytest.raises(EngineError, match=r"opensearch-3 runs OpenSearch 3\.x, not 2\.19\.6"):
        resolve("opensearch-3:2.19.6")
    with pytest.raises(EngineError, match=r"must look like 8\.19\.7"):
        resolve("elasticsearch-8:latest")
    with pytest.raises(EngineError, match=r"unknown engine 'solr-9'.*opensearch-2"):
        resolve("solr-9")


def test_jdk_must_be_inside_the_engines_range_not_merely_new_enough(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    fake_jdk(tmp_path, "jdk17", "17.0.15")
    fake_jdk(tmp_path, "jdk25", "25.0.3")
    monkeypatch.setattr(jdk, "JVM_ROOTS", (tmp_path,))
    monkeypatch.setattr(jdk.shutil, "which", lambda _name: None)
    for var in ("ESBRIDGE_JAVA_HOME", "ES_JAVA_HOME", "JAVA_HOME"):
        monkeypatch.delenv(var, raising=False)

    assert find_jdk_for(resolve("opensearch-2")).major == 17  # 25 has no Security Manager
    assert find_jdk_for(resolve("opensearch-3")).major == 25
    assert find_jdk_for(resolve("elasticsearch-8")).major == 25
    (tmp_path / "jdk25" / "bin" / "java").unlink()
    with pytest.raises(jdk.JdkNotFoundError, match=r"OpenSearch 3\.3\.2 needs Java 21 to 25"):
        find_jdk_for(resolve("opensearch-3"))


def test_make_node_picks_the_flavours_node_and_refuses_secure_without_security_module(
    tmp_path: Path,
) -> None:
    assert type(make_node("elasticsearch-8", tmp_path, 1, 2)) is EsNode
    assert type(make_node("opensearch-2", tmp_path, 1, 2)) is OpenSearchNode
    assert make_node("elasticsearch-8", tmp_path, 1, 2, "pw").url.startswith("https://")
    with pytest.raises(EngineError, match=r"OpenSearch 2\.19\.6 .*no security plugin.*--secure"):
        make_node("opensearch-2", tmp_path, 1, 2, password="pw")


def unpacked(node: EsNode, jvm_options: str) -> None:
    """A stand-in for the unpacked zip: the node's config step only reads `config/`."""
    config = node.home / "config"
    (config / "jvm.options.d").mkdir(parents=True)
    (config / "jvm.options").write_text(jvm_options)
    node.launcher.parent.mkdir(parents=True)
    node.launcher.write_text("#!/bin/sh\n")


def test_opensearch_config_has_its_own_names_and_absolute_jvm_paths(tmp_path: Path) -> None:
    node = make_node("opensearch-2", tmp_path, 19200, 19300)
    unpacked(
        node,
        "-XX:HeapDumpPath=data\n-XX:ErrorFile=logs/hs_err_pid%p.log\n"
        "9-:-Xlog:gc*,gc+age=trace,safepoint:file=logs/gc.log:utctime,pid\n",
    )

    node.write_config()
    node.write_config()  # a restart rewrites it: the paths must not be prefixed twice

    settings = (node.config / "opensearch.yml").read_text()
    assert "http.port: 19200" in settings and "transport.port: 19300" in settings
    assert "xpack" not in settings and not (node.config / "elasticsearch.yml").exists()
    assert (node.config / "jvm.options").read_text() == (
        f"-XX:HeapDumpPath={tmp_path}/data\n-XX:ErrorFile={tmp_path}/logs/hs_err_pid%p.log\n"
        f"9-:-Xlog:gc*,gc+age=trace,safepoint:file={tmp_path}/logs/gc.log:utctime,pid\n"
    )
    env = node.environment(jdk.Jdk(Path("/jdk"), 17))
    assert env["OPENSEARCH_JAVA_HOME"] == "/jdk" and "ES_JAVA_HOME" not in env
    assert node.launcher.name == "opensearch" and node.pid_file.name == "opensearch.pid"


def test_elasticsearch_8_node_keeps_elasticsearchs_names(tmp_path: Path) -> None:
    node = make_node("elasticsearch-8", tmp_path, 19200, 19300)
    unpacked(node, "-Xlog:gc*:file=logs/gc.log\n")

    node.write_config()

    assert "xpack.security.enabled: false" in (node.config / "elasticsearch.yml").read_text()
    assert node.home == tmp_path / "home" / "elasticsearch-8.19.7"
    assert node.environment(jdk.Jdk(Path("/jdk"), 25))["ES_JAVA_HOME"] == "/jdk"


def test_install_home_unpacks_the_engines_own_zip(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    archive = tmp_path / "opensearch-3.3.2.zip"
    with zipfile.ZipFile(archive, "w") as zf:
        info = zipfile.ZipInfo("opensearch-3.3.2/bin/opensearch")
        info.external_attr = 0o755 << 16
        zf.writestr(info, "#!/bin/sh\n")
    asked = []
    monkeypatch.setattr(
        "esbridge.stack.elasticsearch.engine_zip", lambda e: asked.append(e.spec) or archive
    )
    node = make_node("opensearch-3", tmp_path / "node", 1, 2)

    node.install_home()

    assert asked == ["opensearch-3:3.3.2"]
    assert node.launcher.stat().st_mode & 0o111
