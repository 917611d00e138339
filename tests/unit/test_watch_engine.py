"""One cycle of the watcher on a small in-memory stand-in for the cluster: what is skipped.

The stand-in keeps documents by id and refuses what a test tells it to, the way the search
layer reports an engine's refusal (a status and an error type); the same cycle runs against
the real server in tests/integration/test_watch_limits.py.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from esbridge.cluster.errors import ClusterError, from_answer
from esbridge.cluster.search import Document
from esbridge.config import load_config
from esbridge.watch import engine
from esbridge.watch.engine import Watcher, skippable
from tests.helpers.configs import MINIMAL

NOW = datetime(2026, 10, 14, 8, 0, tzinfo=UTC)


def refusal(status: int, error: str) -> ClusterError:
    body = {"error": {"type": error, "reason": f"{error} for this test"}, "status": status}
    return from_answer("PUT /issues/_doc/x", status, body)


class FakeCluster:
    """The `SearchCluster` calls the issue store makes; `refuse(doc) -> ClusterError | None`
    decides on writes."""

    def __init__(self, refuse: Any = lambda doc: None) -> None:
        self.docs: dict[str, dict[str, Any]] = {}
        self.refuse = refuse

    def get(self, index: str, doc_id: str) -> Document | None:
        if doc_id not in self.docs:
            return None
        return Document(index, doc_id, 1, 1, self.docs[doc_id])

    def create(self, index: str, doc_id: str, document: dict[str, Any]) -> None:
        self.index(index, document, doc_id=doc_id)

    def index(self, index: str, document: dict[str, Any], *, doc_id: str, **_: Any) -> None:
        if (refused := self.refuse(document)) is not None:
            raise refused
        self.docs[doc_id] = document

    def refresh(self, index: str) -> None:
        return

    def search(self, index: str, body: dict[str, Any]) -> dict[str, Any]:
        found = [{"_source": doc} for doc in self.docs.values() if "status" in doc]
        return {"hits": {"hits": found}}


@pytest.fixture
def config(tmp_path: Path) -> Any:
    text = MINIMAL.replace("parser: billing", "parser: logs") + (
        "watch:\n  rules:\n    - name: pool-disabled\n      type: PoolDisabled\n"
        "      producer: billing\n      match: {phrase: Pool mode changed to disabled}\n"
    )
    path = tmp_path / "esbridge.yml"
    path.write_text(text)
    return load_config(path, {})


def lines(*pools: str) -> Iterator[dict[str, Any]]:
    for pool in pools:
        yield {
            "@timestamp": "2026-10-14T07:59:00.000Z",
            "message": "Pool mode changed to disabled(): Operator intervention",
            "dcache": {"pool": {"name": pool}},
        }


def cycle(config: Any, es: FakeCluster, monkeypatch: pytest.MonkeyPatch, *pools: str) -> Any:
    monkeypatch.setattr(engine, "hits", lambda _es, _index, _body: lines(*pools))
    watcher = Watcher(config, es, None, ingest_clock=lambda: NOW)
    return watcher.run_cycle(NOW)


def test_an_issue_elasticsearch_refuses_is_skipped_counted_and_the_rest_go_on(
    config: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    immense = refusal(400, "illegal_argument_exception")
    es = FakeCluster(lambda doc: immense if doc.get("subject", {}).get("name") == "huge" else None)

    report = cycle(config, es, monkeypatch, "pool1", "huge", "pool2")

    assert report.occurrences == 3
    assert [key for key, _ in report.skipped] == ["pool-disabled:huge"]
    assert "illegal_argument_exception" in report.skipped[0][1]
    assert {"pool-disabled:pool1", "pool-disabled:pool2"} <= set(es.docs)
    assert es.docs["checkpoint:pool-disabled"]["checkpoint"]["end"] == "2026-10-14T08:00:00.000000Z"
    assert "1 skipped" in report.summary()


@pytest.mark.parametrize(
    "refused",
    [refusal(503, "unavailable_shards_exception"), refusal(400, "index_closed_exception")],
)
def test_a_refusal_about_the_cluster_fails_the_cycle_and_keeps_the_checkpoint(
    config: Any, monkeypatch: pytest.MonkeyPatch, refused: ClusterError
) -> None:
    es = FakeCluster(lambda doc: refused if "status" in doc else None)

    with pytest.raises(ClusterError):
        cycle(config, es, monkeypatch, "pool1")

    assert "checkpoint:pool-disabled" not in es.docs


@pytest.mark.parametrize(
    ("exc", "skip"),
    [
        (refusal(400, "action_request_validation_exception"), True),
        (refusal(400, "document_parsing_exception"), True),
        (refusal(413, "request_entity_too_large"), True),
        (refusal(400, "index_closed_exception"), False),
        (refusal(403, "cluster_block_exception"), False),
        (refusal(429, "es_rejected_execution_exception"), False),
        (refusal(500, "null_pointer_exception"), False),
        (ValueError("unknown status 'bogus'"), True),
        (KeyError("subject"), True),
    ],
)
def test_what_is_about_one_issue(exc: Exception, skip: bool) -> None:
    assert skippable(exc) is skip


def test_the_window_ends_on_the_ingest_clock_not_the_lifecycles(
    config: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    es = FakeCluster()
    monkeypatch.setattr(engine, "hits", lambda _es, _index, _body: lines())
    watcher = Watcher(config, es, None, ingest_clock=lambda: NOW)

    report = watcher.run_cycle(NOW - timedelta(days=400))

    assert report.windows["pool-disabled"] == (NOW - timedelta(hours=1), NOW)
