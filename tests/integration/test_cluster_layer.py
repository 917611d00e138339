"""The search-engine layer against every engine esbridge supports, each the real server.

Elasticsearch 9 is the session's node; Elasticsearch 8, OpenSearch 2 and OpenSearch 3 are
started here by `esbridge.stack.nodes`, one at a time (a module-scoped parametrized fixture:
pytest stops one engine before it starts the next), so each test below runs four times.
"""

from __future__ import annotations

import contextlib
import shutil
import uuid
from collections.abc import Callable, Iterator

import pytest
from elasticsearch import ApiError, Elasticsearch, UnsupportedProductError

from esbridge.cluster.errors import ConflictError, NotFoundError, RequestRejectedError
from esbridge.cluster.search import SearchCluster
from esbridge.stack.engines import resolve
from esbridge.stack.nodes import start_node, stop_node

ENGINES = ["elasticsearch-9", "elasticsearch-8", "opensearch-2", "opensearch-3"]


@pytest.fixture(scope="module", params=ENGINES)
def engine(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[tuple[str, str]]:
    """`(engine name, URL)`: the session's Elasticsearch 9, or a node of our own."""
    name: str = request.param
    if name == "elasticsearch-9":
        yield name, request.getfixturevalue("es_url")
        return
    directory = tmp_path_factory.mktemp(name)
    node = start_node(name, directory)
    try:
        yield name, node.url
    finally:
        stop_node(node)
        # under root the node's folders may live under /var/lib/esbridge: leave nothing there
        shutil.rmtree(node.root if node.root.parent == directory else node.root.parent)


@pytest.fixture(scope="module")
def cluster(engine: tuple[str, str]) -> Iterator[SearchCluster]:
    connected = SearchCluster.connect([engine[1]], request_timeout=60)
    yield connected
    connected.close()


@pytest.fixture
def name(cluster: SearchCluster) -> Iterator[Callable[[str], str]]:
    """Unique lowercase names; indices and templates so named are deleted after the test."""
    made: list[str] = []

    def make(prefix: str) -> str:
        made.append(f"{prefix}-{uuid.uuid4().hex[:10]}")
        return made[-1]

    yield make
    for prefix in made:
        found = cluster.get_index(f"{prefix}*")
        if found:
            cluster.delete_index(",".join(found))
        for template in (prefix, f"{prefix}-mappings"):
            for delete in (cluster.delete_index_template, cluster.delete_component_template):
                with contextlib.suppress(NotFoundError):
                    delete(template)


def test_connect_tells_engine_and_version_and_that_no_lifecycle_module_is_there(
    engine: tuple[str, str], cluster: SearchCluster
) -> None:
    pinned = resolve(engine[0])

    assert (cluster.flavour.distribution, cluster.flavour.version) == (
        pinned.distribution,
        pinned.version,
    )
    assert cluster.lifecycle() is None  # no test distribution carries ILM or ISM
    assert cluster.health()["status"] in ("green", "yellow")


def test_the_elasticsearch_9_client_is_what_cannot_talk_to_the_others(
    engine: tuple[str, str],
) -> None:
    """Why the layer exists: elasticsearch-py 9 fails on all but Elasticsearch 9."""
    client = Elasticsearch(engine[1], request_timeout=30)
    try:
        if engine[0] == "elasticsearch-9":
            assert client.cluster.health()["status"] in ("green", "yellow")
        elif engine[0] == "elasticsearch-8":
            with pytest.raises(ApiError, match="media_type_header_exception"):
                client.cluster.health()
        else:
            with pytest.raises(UnsupportedProductError):
                client.cluster.health()
    finally:
        client.close()


def test_bulk_answers_per_item_a_replayed_create_is_409_beside_a_new_201(
    cluster: SearchCluster, name: Callable[[str], str]
) -> None:
    index = name("layer-bulk")
    first = b'{"create":{"_index":"%s","_id":"a"}}\n{"n":1}\n' % index.encode()
    cluster.bulk(first, refresh=True)
    again = first + b'{"create":{"_index":"%s","_id":"b"}}\n{"n":2}\n' % index.encode()

    answer = cluster.bulk(again, filter_path="errors,items.*.status,items.*.error", refresh=True)

    assert answer["errors"] is True
    statuses = [item["create"]["status"] for item in answer["items"]]
    assert statuses == [409, 201]
    assert answer["items"][0]["create"]["error"]["type"] == "version_conflict_engine_exception"
    assert cluster.count(index) == 2
    hits = cluster.search(index, {"query": {"term": {"n": 2}}})["hits"]["hits"]
    assert [hit["_id"] for hit in hits] == ["b"]


def test_conditional_writes_conflict_on_a_taken_id_and_on_a_stale_seq_no(
    cluster: SearchCluster, name: Callable[[str], str]
) -> None:
    index = name("layer-cas")
    created = cluster.create(index, "rule:pool/a", {"state": "open"})
    stored = cluster.get(index, "rule:pool/a")
    assert stored is not None and stored.source == {"state": "open"}
    assert (stored.seq_no, stored.primary_term) == (created.seq_no, created.primary_term)

    with pytest.raises(ConflictError) as taken:
        cluster.create(index, "rule:pool/a", {"state": "open"})
    updated = cluster.index(
        index,
        {"state": "acknowledged"},
        doc_id="rule:pool/a",
        if_seq_no=stored.seq_no,
        if_primary_term=stored.primary_term,
    )
    with pytest.raises(ConflictError) as stale:
        cluster.index(
            index,
            {"state": "resolved"},
            doc_id="rule:pool/a",
            if_seq_no=stored.seq_no,
            if_primary_term=stored.primary_term,
        )
    with pytest.raises(ConflictError):
        cluster.delete(
            index, "rule:pool/a", if_seq_no=stored.seq_no, if_primary_term=stored.primary_term
        )

    assert taken.value.status == 409
    assert taken.value.error_type == "version_conflict_engine_exception"
    assert stale.value.error_type == "version_conflict_engine_exception"
    assert updated.result == "updated" and updated.seq_no > stored.seq_no
    now = cluster.get(index, "rule:pool/a")
    assert now is not None and now.source == {"state": "acknowledged"}
    docs = cluster.mget([{"_index": index, "_id": "rule:pool/a"}, {"_index": index, "_id": "x"}])
    assert [doc["found"] for doc in docs] == [True, False]
    deleted = cluster.delete(
        index, "rule:pool/a", if_seq_no=updated.seq_no, if_primary_term=updated.primary_term
    )
    assert deleted.result == "deleted" and cluster.get(index, "rule:pool/a") is None


def test_templates_round_trip_and_shape_the_indices_they_match(
    cluster: SearchCluster, name: Callable[[str], str]
) -> None:
    prefix = name("layer-tpl")
    meta = {"managed_by": "esbridge", "esbridge_hash": "abc123"}
    component = {
        "template": {
            "settings": {"index.mapping.total_fields.limit": 321},
            "mappings": {"properties": {"client": {"type": "ip", "ignore_malformed": True}}},
        },
        "_meta": meta,
    }
    template = {
        "index_patterns": [f"{prefix}-*"],
        "composed_of": [f"{prefix}-mappings"],
        "priority": 200,
        "template": {"settings": {"number_of_shards": 1, "number_of_replicas": 0}},
        "_meta": meta,
    }

    cluster.put_component_template(f"{prefix}-mappings", component)
    cluster.put_index_template(prefix, template)
    cluster.create_index(f"{prefix}-000001")

    stored = cluster.get_index_template(prefix)
    stored_component = cluster.get_component_template(f"{prefix}-mappings")
    assert stored is not None and stored_component is not None
    assert stored["_meta"] == meta and stored_component["_meta"] == meta
    assert stored["composed_of"] == [f"{prefix}-mappings"] and stored["priority"] == 200
    settings = cluster.get_index(f"{prefix}-000001")[f"{prefix}-000001"]["settings"]["index"]
    assert settings["mapping"]["total_fields"]["limit"] == "321"
    assert cluster.get_index_template(f"{prefix}-missing") is None
    bad = cluster.bulk(
        b'{"index":{"_index":"%s-000001"}}\n{"client":"not-an-ip","n":1}\n' % prefix.encode(),
        refresh=True,
    )
    assert bad["errors"] is False  # ignore_malformed: the record is kept, the value not indexed


def test_rollover_moves_the_write_alias_to_a_new_backing_index(
    cluster: SearchCluster, name: Callable[[str], str]
) -> None:
    alias = name("layer-roll")
    cluster.create_index(
        f"{alias}-000001",
        {
            "settings": {"number_of_replicas": 0},
            "aliases": {alias: {"is_write_index": True}},
        },
    )
    cluster.index(alias, {"n": 1}, doc_id="1", refresh=True)
    assert cluster.alias_exists(alias) and not cluster.index_exists(f"{alias}-000002")

    dry = cluster.rollover(alias, {"max_docs": 1}, dry_run=True)
    done = cluster.rollover(alias, {"max_docs": 1})
    not_yet = cluster.rollover(alias, {"max_docs": 1})
    written = cluster.index(alias, {"n": 2}, doc_id="2", refresh=True)

    assert (dry.dry_run, dry.rolled_over, dry.new_index) == (True, False, f"{alias}-000002")
    assert (done.old_index, done.new_index, done.rolled_over) == (
        f"{alias}-000001",
        f"{alias}-000002",
        True,
    )
    assert not_yet.rolled_over is False  # the new write index is empty
    assert written.index == f"{alias}-000002"
    aliases = cluster.get_alias(alias)
    assert {
        index: entry["aliases"][alias].get("is_write_index") for index, entry in aliases.items()
    } == {
        f"{alias}-000001": False,
        f"{alias}-000002": True,
    }
    assert cluster.count(alias) == 2


def test_point_in_time_search_pages_in_order_with_the_engines_tiebreaker(
    cluster: SearchCluster, name: Callable[[str], str]
) -> None:
    index = name("layer-pit")
    lines = b"".join(
        b'{"create":{"_index":"%s","_id":"%d"}}\n{"n":%d}\n' % (index.encode(), i, i)
        for i in range(5)
    )
    cluster.bulk(lines, refresh=True)
    pit = cluster.open_pit(index, "1m")
    assert pit is not None
    tiebreak = [{"_shard_doc": "asc"}] if cluster.flavour.has_shard_doc else []
    seen: list[int] = []
    after = None
    try:
        if not cluster.flavour.has_shard_doc:
            with pytest.raises(RequestRejectedError, match=r"No mapping found for \[_shard_doc\]"):
                cluster.search(None, {"pit": {"id": pit}, "sort": [{"_shard_doc": "asc"}]})
        while True:
            body = {
                "pit": {"id": pit, "keep_alive": "1m"},
                "sort": [{"n": "asc"}, *tiebreak],
                "size": 2,
                **({"search_after": after} if after else {}),
            }
            page = cluster.search(None, body)
            hits = page["hits"]["hits"]
            seen.extend(hit["_source"]["n"] for hit in hits)
            if len(hits) < 2:
                break
            after = hits[-1]["sort"]
    finally:
        cluster.close_pit(pit)

    assert seen == [0, 1, 2, 3, 4]
    assert cluster.open_pit(f"{index}-missing", "1m") is None


def test_a_refused_document_is_a_rejected_request_with_the_engines_reason(
    cluster: SearchCluster, name: Callable[[str], str]
) -> None:
    index = name("layer-bad")
    cluster.create_index(index, {"mappings": {"properties": {"n": {"type": "long"}}}})

    with pytest.raises(RequestRejectedError) as refused:
        cluster.index(index, {"n": "not a number"}, doc_id="1")

    assert refused.value.status == 400
    assert refused.value.error_type in ("document_parsing_exception", "mapper_parsing_exception")
    assert "\n" not in str(refused.value) and f"/{index}/_doc/1" in str(refused.value)
