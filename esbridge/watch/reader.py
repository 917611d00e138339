"""Reading a rule's window from the producer's index, and what the pool snapshots add.

A window may hold more than 10,000 hits (a flapping pool, a long first run), so hits are paged
with `search_after` inside a point in time: the pages are one consistent view, and the
`_shard_doc` tie-breaker keeps lines with the same `@timestamp` from being skipped or repeated.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import replace
from typing import Any

from elasticsearch import Elasticsearch, NotFoundError

from esbridge.watch.lifecycle import Subject

PAGE = 1000
KEEP_ALIVE = "2m"


def hits(es: Elasticsearch, index: str, body: dict[str, Any]) -> Iterator[dict[str, Any]]:
    """The `_source` of every hit of `body` (from `query.py`) in `index`, in its sort order.

    An index that does not exist yet (nothing ingested) has no hits.
    """
    try:
        pit: str = es.open_point_in_time(index=index, keep_alive=KEEP_ALIVE)["id"]
    except NotFoundError:
        return
    try:
        after: list[Any] | None = None
        while True:
            page = es.search(
                pit={"id": pit, "keep_alive": KEEP_ALIVE},
                query=body["query"],
                sort=[*body["sort"], {"_shard_doc": "asc"}],
                source_includes=body["_source"],
                size=PAGE,
                search_after=after,
            )
            pit = page["pit_id"]
            found = page["hits"]["hits"]
            for hit in found:
                yield hit["_source"]
            if len(found) < PAGE:
                return
            after = found[-1]["sort"]
    finally:
        es.options(ignore_status=404).close_point_in_time(id=pit)


class PoolInfo:
    """The latest pool snapshot's groups and host, looked up once per pool and cycle.

    A domain-log line does not name the pool's groups, and a line logged by PoolManager names
    the head node as host: the pool's own snapshot knows better, when there is one.
    """

    def __init__(self, es: Elasticsearch, index: str | None) -> None:
        self._es = es
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
        found = self._es.options(ignore_status=404).search(
            index=index,
            query={"term": {"dcache.pool.name": pool}},
            sort=[{"@timestamp": "desc"}],
            size=1,
            source_includes=["dcache.pool.groups", "host.name"],
        )
        latest = found.body.get("hits", {}).get("hits", [])
        if not latest:
            return (), None
        source = latest[0]["_source"]
        groups = source.get("dcache", {}).get("pool", {}).get("groups") or []
        host = source.get("host", {}).get("name")
        return tuple(g for g in groups if isinstance(g, str)), host if isinstance(
            host, str
        ) else None
