"""Bulk answers sorted into indexed / replay / retry / reject, and the backoff between tries."""

from __future__ import annotations

import pytest

from esbridge.ingest.bulk import Backoff, Outcome, classify, item_result, rejection_reason
from esbridge.ingest.encode import BulkItem
from esbridge.ingest.message import Message
from esbridge.ingest.pipeline import BatchBuilder


@pytest.mark.parametrize(
    ("status", "error_type", "outcome"),
    [
        (201, None, Outcome.INDEXED),
        (200, None, Outcome.INDEXED),
        (409, "version_conflict_engine_exception", Outcome.DUPLICATE),
        (429, "es_rejected_execution_exception", Outcome.RETRY),
        (503, "unavailable_shards_exception", Outcome.RETRY),
        (500, "internal_server_error", Outcome.RETRY),
        (403, "cluster_block_exception", Outcome.RETRY),
        (400, "document_parsing_exception", Outcome.REJECTED),
        (400, "illegal_argument_exception", Outcome.REJECTED),
        (404, "index_not_found_exception", Outcome.REJECTED),
    ],
)
def test_bulk_item_status_is_classified(
    status: int, error_type: str | None, outcome: Outcome
) -> None:
    error = {"type": error_type, "reason": "r"} if error_type else None

    assert classify(status, error) is outcome


def test_item_result_reads_any_action_name() -> None:
    assert item_result({"create": {"status": 201}}) == (201, None)
    assert item_result({"index": {"status": 400, "error": {"type": "x"}}}) == (400, {"type": "x"})


def test_rejection_reason_carries_type_reason_and_cause() -> None:
    error = {
        "type": "document_parsing_exception",
        "reason": "failed to parse field [billing.file_size]",
        "caused_by": {"type": "illegal_argument_exception", "reason": "For input string"},
    }

    assert rejection_reason(400, error) == (
        "HTTP 400 document_parsing_exception: failed to parse field [billing.file_size] "
        "(caused by illegal_argument_exception: For input string)"
    )


def test_backoff_grows_exponentially_with_jitter_and_is_capped() -> None:
    backoff = Backoff(initial=1.0, maximum=8.0)
    delays = [backoff.next_delay() for _ in range(8)]

    for attempt, delay in enumerate(delays):
        ceiling = min(8.0, 2.0**attempt)
        assert ceiling / 2 <= delay <= ceiling
    backoff.reset()
    assert backoff.next_delay() <= 1.0


def item(topic: str, partition: int, offset: int, size: int = 10) -> BulkItem:
    return BulkItem(Message(topic, partition, offset, b"{}"), "p", b"x" * size, False)


def test_batch_builder_records_next_offset_per_partition_and_resets() -> None:
    builder = BatchBuilder(max_docs=10, max_bytes=1000, max_age=60)
    for offset in (5, 6, 7):
        builder.add(item("a", 0, offset))
    builder.add(item("a", 1, 3))

    batch = builder.take()

    assert batch.offsets == {("a", 0): 8, ("a", 1): 4}
    assert batch.nbytes == 40 and len(batch.items) == 4
    assert builder.items == [] and builder.offsets == {} and not builder.ready()


def test_batch_builder_is_ready_by_count_or_bytes() -> None:
    by_count = BatchBuilder(max_docs=2, max_bytes=10_000, max_age=60)
    by_bytes = BatchBuilder(max_docs=100, max_bytes=25, max_age=60)
    by_count.add(item("a", 0, 1))
    by_bytes.add(item("a", 0, 1))
    assert not by_count.ready() and not by_bytes.ready()

    by_count.add(item("a", 0, 2))
    by_bytes.add(item("a", 0, 2, size=20))

    assert by_count.ready() and by_bytes.ready()


def test_batch_builder_is_ready_when_its_first_item_is_old_enough() -> None:
    builder = BatchBuilder(max_docs=100, max_bytes=10_000, max_age=0.0)
    builder.add(item("a", 0, 1))

    assert builder.ready()
