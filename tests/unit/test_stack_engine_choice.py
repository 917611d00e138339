"""`stack up --engine`: which engine a stack runs, what stack.json remembers, and what is
refused before anything starts or stops. No server is started here."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner

from esbridge.cli import main
from esbridge.errors import UsageError
from esbridge.stack.elasticsearch import EsNode
from esbridge.stack.engines import EngineError
from esbridge.stack.kafka import KafkaNode
from esbridge.stack.manager import Stack, StackOptions
from esbridge.stack.opensearch import OpenSearchNode


def stack(directory: Path, **options: Any) -> Stack:
    return Stack(StackOptions(directory, kafka_port=0, es_port=0, **options))


def saved(directory: Path, **options: Any) -> Stack:
    """A stack whose stack.json was written by an `up` with `options`."""
    planned = stack(directory, **options)
    planned.save_state(planned.plan())
    return Stack(StackOptions(directory))


@pytest.fixture
def running_stack(monkeypatch: pytest.MonkeyPatch) -> None:
    """Both servers count as running, and nothing may be started or stopped."""

    def never(*_args: object) -> None:
        pytest.fail("a server was started or stopped")

    monkeypatch.setattr(Stack, "running", lambda _self, _state: (True, True))
    monkeypatch.setattr(Stack, "down", never)
    monkeypatch.setattr(KafkaNode, "start", never)
    monkeypatch.setattr(EsNode, "start", never)


def test_each_engine_has_a_folder_of_its_own_and_elasticsearch_9_keeps_the_old_one(
    tmp_path: Path,
) -> None:
    default = stack(tmp_path).plan()
    opensearch = stack(tmp_path, engine="opensearch-3").plan()
    other_version = stack(tmp_path, engine="opensearch-3:3.2.0").plan()

    assert default.engine == "elasticsearch-9:9.2.0"
    assert Path(default.es_root).name == "elasticsearch"
    assert opensearch.engine == "opensearch-3:3.3.2"
    assert Path(opensearch.es_root).name == "opensearch-3"
    assert Path(other_version.es_root).name == "opensearch-3.2.0"


def test_the_engine_is_remembered_and_down_finds_it_whatever_it_is_given(tmp_path: Path) -> None:
    first = saved(tmp_path, engine="opensearch-2").load_state()
    assert first is not None

    again = Stack(StackOptions(tmp_path)).plan()
    switched = Stack(StackOptions(tmp_path, engine="elasticsearch-8")).plan()
    _, node = Stack(StackOptions(tmp_path, engine="elasticsearch-9")).nodes(first)

    assert json.loads((tmp_path / "stack.json").read_text())["engine"] == "opensearch-2:2.19.6"
    assert (again.engine, again.es_root, again.es_port) == (
        first.engine,
        first.es_root,
        first.es_port,
    )
    assert switched.engine == "elasticsearch-8:8.19.7"
    assert Path(switched.es_root).name == "elasticsearch-8"
    assert isinstance(node, OpenSearchNode) and node.engine.name == "opensearch-2"


def test_secure_is_remembered_for_its_own_engine_only(tmp_path: Path) -> None:
    first = saved(tmp_path, secure=True).load_state()
    assert first is not None and first.password

    assert Stack(StackOptions(tmp_path)).plan().password == first.password
    assert Stack(StackOptions(tmp_path, engine="opensearch-3")).plan().password is None


def test_a_state_file_from_before_engines_means_elasticsearch_9(tmp_path: Path) -> None:
    old = {
        "kafka_port": 9092, "controller_port": 9093, "es_port": 9200, "transport_port": 9300,
        "es_root": str(tmp_path / "elasticsearch"), "password": None, "kafka_sasl_port": 0,
        "kafka_sasl_password": None, "extra": {},
    }  # fmt: skip
    (tmp_path / "stack.json").write_text(json.dumps(old))
    stack = Stack(StackOptions(tmp_path))
    state = stack.load_state()
    assert state is not None

    _, node = stack.nodes(state)

    assert node.engine.spec == "elasticsearch-9:9.2.0"
    assert node.pid_file == tmp_path / "elasticsearch" / "elasticsearch.pid"
    assert stack.status()["elasticsearch"]["engine"] == "elasticsearch-9"


def test_status_of_a_stopped_stack_names_its_engine_and_pinned_version(tmp_path: Path) -> None:
    report = saved(tmp_path, engine="opensearch-3").status()["elasticsearch"]

    assert {k: report[k] for k in ("engine", "distribution", "version", "pid")} == {
        "engine": "opensearch-3",
        "distribution": "opensearch",
        "version": "3.3.2",
        "pid": None,
    }


def test_info_says_which_distribution_and_engine(tmp_path: Path) -> None:
    """Nothing answers on the node's port, so the version is the pinned one."""
    stack = saved(tmp_path, engine="elasticsearch-8")
    state = stack.load_state()
    assert state is not None

    es = stack.info(state).to_dict()["elasticsearch"]

    assert (es["distribution"], es["engine"], es["version"]) == (
        "elasticsearch",
        "elasticsearch-8",
        "8.19.7",
    )
    assert "username" not in es and es["url"].startswith("http://")


@pytest.mark.usefixtures("running_stack")
def test_secure_without_a_security_module_is_refused_before_anything_changes(
    tmp_path: Path,
) -> None:
    with pytest.raises(EngineError, match=r"^OpenSearch 2\.19\.6 .*no security plugin"):
        stack(tmp_path, engine="opensearch-2", secure=True).up()
    assert not (tmp_path / "stack.json").exists()

    saved(tmp_path)
    with pytest.raises(EngineError, match=r"no security plugin"):
        stack(tmp_path, engine="opensearch-2", secure=True, restart=True).up()
    assert json.loads((tmp_path / "stack.json").read_text())["engine"] == "elasticsearch-9:9.2.0"


@pytest.mark.usefixtures("running_stack")
def test_a_running_stack_of_another_engine_is_left_alone(tmp_path: Path) -> None:
    saved(tmp_path)

    with pytest.raises(
        UsageError,
        match=r"runs Elasticsearch 9\.2\.0 \(elasticsearch-9\), not opensearch-3:3\.3\.2; "
        r"it is left as it is \(--restart switches engines\)$",
    ):
        Stack(StackOptions(tmp_path, engine="opensearch-3")).up()
    assert json.loads((tmp_path / "stack.json").read_text())["engine"] == "elasticsearch-9:9.2.0"


def test_an_unknown_engine_is_one_line_and_exit_2(tmp_path: Path) -> None:
    result = CliRunner().invoke(main, ["stack", "up", "--dir", str(tmp_path), "--engine", "solr-9"])

    assert result.exit_code == 2
    assert result.output.strip().splitlines() == [
        "Error: unknown engine 'solr-9'; known engines: "
        "elasticsearch-9, elasticsearch-8, opensearch-2, opensearch-3"
    ]
    assert not (tmp_path / "stack.json").exists()


def test_status_text_names_the_distribution_in_its_row(tmp_path: Path) -> None:
    saved(tmp_path, engine="opensearch-3")

    result = CliRunner().invoke(main, ["stack", "status", "--dir", str(tmp_path)])

    assert result.exit_code == 1  # nothing runs
    assert [line.split()[::2] for line in result.output.splitlines()] == [
        ["kafka", "4.1.1"],
        ["opensearch", "3.3.2"],
    ]
