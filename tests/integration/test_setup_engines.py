"""`esbridge setup` on every engine: Elasticsearch 9 and 8, OpenSearch 2 and 3, each for real.

Each rendered body is installed on each engine by the command itself, twice (the second run
changes nothing), after a dry run that writes nothing; then documents, the parsers' real
output among them, go through the installed mappings. Elasticsearch 9 is the session's node;
the others are started one at a time by a module-scoped fixture (tests/helpers/engines.py).
No test distribution has ILM or ISM, so every policy is skipped with the warning; the policy
bodies are checked against their schemas in tests/unit/test_templates.py and test_ism_policy.py.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner, Result

from esbridge.cli import main
from esbridge.cluster.search import SearchCluster
from esbridge.config import Config, load_config
from esbridge.setup.templates import bootstrap_index_name, render_resources
from esbridge.stack.engines import resolve
from esbridge.transforms import PARSERS as TRANSFORMS
from esbridge.transforms import ParseContext, ParseError
from tests.helpers.engines import ENGINES, engine_url, remove_installed
from tests.helpers.sites import PARSERS, write_config
from tests.integration.test_setup import access_webdav_get, billing_transfer, dead_letter


@pytest.fixture(scope="module", params=ENGINES)
def engine(request: pytest.FixtureRequest) -> str:
    name: str = request.param
    return name


@pytest.fixture(scope="module")
def cluster(
    engine: str, request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[SearchCluster]:
    with engine_url(engine, request, tmp_path_factory) as url:
        connected = SearchCluster.connect([url], request_timeout=60)
        yield connected
        connected.close()


@pytest.fixture
def config(tmp_path: Path, cluster: SearchCluster) -> Iterator[Config]:
    """A config of its own name (templates, aliases), removed from the cluster afterwards."""
    name = f"eng{uuid.uuid4().hex[:10]}"
    path = write_config(tmp_path, name, "127.0.0.1:9", cluster.where, "")
    loaded = load_config(path, environ={})
    yield loaded
    remove_installed(cluster, render_resources(loaded.producers, loaded.deadletter, prefix=name))


def run_setup(config_path: Path, *args: str) -> Result:
    return CliRunner().invoke(main, ["setup", "-c", str(config_path), *args])


def alias(config: Config, parser: str) -> str:
    return next(p.index for p in config.producers if p.parser == parser)


def test_setup_dry_run_then_install_then_nothing_to_change(
    engine: str, cluster: SearchCluster, config: Config, tmp_path: Path
) -> None:
    path = tmp_path / "esbridge.yml"
    label = resolve(engine).label  # e.g. "OpenSearch 3.3.2": the summary names the engine
    module = "ILM" if cluster.flavour.distribution == "elasticsearch" else "ISM"
    total = len(render_resources(config.producers, config.deadletter))
    policies = len(config.producers) + 1

    dry = run_setup(path, "--dry-run")
    assert cluster.get_index(f"{config.deadletter.index}*") == {}
    first = run_setup(path)
    second = run_setup(path)

    for result in (dry, first, second):
        assert result.exit_code == 0, result.output
        assert f"warning: {label} has no {module}; policies skipped" in result.stderr
    assert dry.stdout.splitlines()[-1] == f"{label}: would change {total - policies} of {total}"
    assert first.stdout.splitlines()[-1] == f"{label}: changed {total - policies} of {total}"
    assert second.stdout.splitlines()[-1] == f"{label}: changed 0 of {total}"
    policy_kind = "ilm_policy" if module == "ILM" else "ism_policy"
    assert sum(
        line.startswith(f"skipped   {policy_kind}") for line in first.stdout.splitlines()
    ) == (policies)
    for producer in config.producers:
        write = bootstrap_index_name(producer.index)
        assert cluster.get_alias(producer.index) == {
            write: {"aliases": {producer.index: {"is_write_index": True}}}
        }
        assert cluster.get_index(write)[write]["mappings"]["_meta"] == {
            "managed_by": "esbridge",
            "write_alias": producer.index,
        }


def test_the_installed_mappings_take_every_parsed_sample_and_refuse_a_type_conflict(
    cluster: SearchCluster, config: Config, tmp_path: Path, samples_dir: Path
) -> None:
    assert run_setup(tmp_path / "esbridge.yml").exit_code == 0
    context = ParseContext(producer="sample", dcache_instance="desy-prod")

    for parser in PARSERS:
        lines: list[bytes] = []
        for raw in (samples_dir / f"{parser}.jsonl").read_text(encoding="utf-8").splitlines():
            try:
                doc = TRANSFORMS[parser](json.loads(raw), context)
            except ParseError:
                continue  # a dead letter by design, never sent to the producer's index
            lines += [
                json.dumps({"create": {"_index": alias(config, parser)}}).encode(),
                _ndjson(doc),
            ]
        answer = cluster.bulk(b"\n".join(lines) + b"\n", refresh=True)
        items = [item["create"] for item in answer["items"]]
        assert items, parser
        assert [item["error"] for item in items if "error" in item] == [], parser

    access = alias(config, "access")
    cluster.index(access, access_webdav_get(), doc_id="a-1", refresh=True)
    billing = alias(config, "billing")
    malformed = billing_transfer()
    malformed["client"]["ip"] = "dcache-door02.desy.de"
    cluster.index(billing, malformed, doc_id="b-1", refresh=True)
    conflict = billing_transfer()
    conflict["billing"]["file_size"] = "8 GiB"
    refused = cluster.bulk(_lines({"create": {"_index": billing, "_id": "b-2"}}, conflict))
    cluster.index(config.deadletter.index, dead_letter(), doc_id="d-1", refresh=True)

    retries = _field_type(cluster, bootstrap_index_name(access), "access.retries")
    assert retries == "keyword"  # a JSON number under access.* becomes keyword, on every engine
    ignored = cluster.search(billing, {"query": {"exists": {"field": "_ignored"}}})
    assert [hit["_id"] for hit in ignored["hits"]["hits"]] == ["b-1"]
    assert refused["items"][0]["create"]["status"] == 400
    assert "billing.file_size" in refused["items"][0]["create"]["error"]["reason"]
    assert cluster.count(config.deadletter.index) == 1


def _ndjson(doc: dict[str, Any]) -> bytes:
    return json.dumps(doc).encode()


def _lines(*docs: dict[str, Any]) -> bytes:
    return b"".join(_ndjson(doc) + b"\n" for doc in docs)


def _field_type(cluster: SearchCluster, index: str, field: str) -> str:
    found = cluster.request("GET", f"/{index}/_mapping/field/{field}")
    mapping = found[index]["mappings"][field]["mapping"]
    return str(mapping[field.rsplit(".", 1)[-1]]["type"])
