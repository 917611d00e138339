"""Reading a rule's window from the producer's index, and what the pool snapshots add.

A window may hold more than 10,000 hits (a flapping pool, a long first run), so hits are paged
with `search_after` inside a point in time: the pages are one consistent view, and a
tie-breaker after the rule's own sort keeps lines with the same `@timestamp` from being
skipped or repeated at a page boundary. Where the engine has it (Elasticsearch, OpenSearch 3)
that is `_shard_doc`; OpenSearch 2 has none, so there the tie-breaker is the record's Kafka
coordinates, unique for every document ingest writes and read from doc values, then
`_seq_no` for documents without them (unique within a shard). Not `_id`: sorting on it loads
the ids of every segment onto the heap.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import replace
from typing import Any

from esbridge.cluster.errors import NotFoundError
from esbridge.cluster.search import SearchCluster
from esbridge.watch.lifecycle import Subject

PAGE = 1000
KEEP_ALIVE = "2m"
SHARD_DOC: list[dict[str, Any]] = [{"_shard_doc": "asc"}]
KAFKA_ORDER: list[dict[str, Any]] = [
    {"kafka.topic": {"order": "asc", "unmapped_type": "keyword"}},
    {"kafka.partition": {"order": "asc", "unmapped_type": "long"}},
    {"kafka.offset": {"order": "asc", "unmapped_type": "long"}},
    {"_seq_no": "asc"},
]
"""The tie-breaker where `_shard_doc` cannot be sorted on (OpenSearch 2)."""


def tiebreak(cluster: SearchCluster) -> list[dict[str, Any]]:
    return SHARD_DOC if cluster.flavour.has_shard_doc else KAFKA_ORDER


def hits(
    cluster: SearchCluster, index: str, body: dict[str, Any], *, page: int = PAGE
) -> Iterator[dict[str, Any]]:
    """The `_source` of every hit of `body` (from `query.py`) in `index`, in its sort order.

    An index that does not exist yet (nothing ingested) has no hits.
    """
    pit = cluster.open_pit(index, KEEP_ALIVE)
    if pit is None:
        return
    try:
        after: list[Any] | None = None
        while True:
            request: dict[str, Any] = {
                "pit": {"id": pit, "keep_alive": KEEP_ALIVE},
                "query": body["query"],
                "sort": [*body["sort"], *tiebreak(cluster)],
                "_source": body["_source"],
                "size": page,
            }
            if after is not None:
                request["search_after"] = after
            found = cluster.search(None, request)
            pit = found.get("pit_id", pit)
            batch = found["hits"]["hits"]
            for hit in batch:
                yield hit["_source"]
            if len(batch) < page:
                return
            after = batch[-1]["sort"]
    finally:
        cluster.close_pit(pit)


class PoolInfo:
    """The latest pool snapshot's groups and host, looked up once per pool and cycle.

    A domain-log line does not name the pool's groups, and a line logged by PoolManager names
    the head node as host: the pool's own snapshot knows better, when there is one.
    """

    def __init__(self, cluster: SearchCluster, index: str | None) -> None:
        self._cluster = cluster
        self._index = index
        self._known: dict[str, tuple[tuple[str, ...], str | None]] = {}

    def enrich(self, subject: Subject) -> Subject:
        """`subject` with its pool's groups and host from the latest snapshot, if any."""
        if self._index is None or subject.pool is None:
            return subject
        if subject.pool not in self._known:
            self._known[subject.pool] = self._lookup(self._index, subject.pool)
        groups, host = self._known[subject.pool]
        return replace(
            subject, pool_groups=groups or subject.pool_groups, host=host or subject.host
        )

    def _lookup(self, index: str, pool: str) -> tuple[tuple[str, ...], str | None]:
        try:
            found = self._cluster.search(
                index,
                {
                    "query": {"term": {"dcache.pool.name": pool}},
                    "sort": [{"@timestamp": "desc"}],
                    "size": 1,
                    "_source": {"includes": ["dcache.pool.groups", "host.name"]},
                },
            )
        except NotFoundError:  # no snapshot index yet
            return (), None
        latest = found.get("hits", {}).get("hits", [])
        if not latest:
            return (), None
        source = latest[0]["_source"]
        groups = source.get("dcache", {}).get("pool", {}).get("groups") or []
        host = source.get("host", {}).get("name")
        return tuple(g for g in groups if isinstance(g, str)), host if isinstance(
            host, str
        ) else None
