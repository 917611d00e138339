"""The Elasticsearch side: sender threads that retry each batch until it is settled.

A batch is settled when every item in it is indexed, was already indexed (a replay), or is in
dead letters. Several batches may be in flight at once (one Elasticsearch write thread serves
one bulk request, so one request at a time leaves the node's other cores idle), but settled
batches are handed back strictly in submission order, so committed offsets never skip a
message.
"""

from __future__ import annotations

import logging
import queue
import threading
from collections import deque
from dataclasses import dataclass
from enum import Enum
from typing import Any, Protocol

from elastic_transport import ConnectionError as TransportConnectionError
from elastic_transport import ConnectionTimeout
from elasticsearch import ApiError, Elasticsearch

from esbridge.ingest.bulk import Backoff, Outcome, classify, item_result, rejection_reason
from esbridge.ingest.encode import BulkItem, DeadLetterTarget, dead_item

log = logging.getLogger("esbridge.sink")

NDJSON = {
    "content-type": "application/vnd.elasticsearch+x-ndjson; compatible-with=9",
    "accept": "application/vnd.elasticsearch+json; compatible-with=9",
}
BULK_FILTER = "errors,items.*.status,items.*.error"


@dataclass
class Batch:
    items: list[BulkItem]
    nbytes: int
    offsets: dict[tuple[str, int], int]
    """Per partition, the offset to commit once this batch is settled (last offset + 1)."""


@dataclass
class BatchResult:
    offsets: dict[tuple[str, int], int]
    indexed: int = 0
    dead_letters: int = 0
    duplicates: int = 0
    retried: int = 0


class Whole(Enum):
    """An answer about every item of a bulk request at once."""

    RETRY = "retry"
    CREATED = "created"
    """`errors: false`: no entry needs a look."""


def count_created(items: list[BulkItem], result: BatchResult) -> None:
    dead = sum(item.dead for item in items)
    result.dead_letters += dead
    result.indexed += len(items) - dead


class Sender(Protocol):
    """The Elasticsearch seam of the pipeline: batches in, settled results out, in order."""

    backlog_bytes: int
    failure: Exception | None

    def submit(self, batch: Batch) -> None: ...
    def results(self) -> list[BatchResult]: ...
    def retrying(self) -> bool: ...
    def idle(self) -> bool: ...
    def close(self, timeout: float) -> bool: ...


class SendAbortedError(Exception):
    """Shutdown was asked for while a batch could not be settled; it stays uncommitted."""


class BulkSender:
    def __init__(
        self,
        es: Elasticsearch,
        target: DeadLetterTarget,
        initial_backoff: float,
        max_backoff: float,
        workers: int = 1,
    ) -> None:
        self.es = es
        self.target = target
        self.todo: deque[tuple[int, Batch]] = deque()
        self.submitted = 0
        self.in_flight = 0
        self.finished: dict[int, BatchResult] = {}
        self.released = 0
        """Sequence number of the next result to hand back; later ones wait in `finished`."""
        self.done: queue.SimpleQueue[BatchResult] = queue.SimpleQueue()
        self.lock = threading.Condition()
        self.backlog_bytes = 0
        self.retrying_workers = 0
        self.abort = threading.Event()
        self.closing = False
        self.failure: Exception | None = None
        self.threads = [
            threading.Thread(
                target=self.run,
                args=(Backoff(initial_backoff, max_backoff),),
                name=f"esbridge-bulk-{number}",
                daemon=True,
            )
            for number in range(workers)
        ]
        for thread in self.threads:
            thread.start()

    def submit(self, batch: Batch) -> None:
        with self.lock:
            self.todo.append((self.submitted, batch))
            self.submitted += 1
            self.backlog_bytes += batch.nbytes
            self.lock.notify_all()

    def results(self) -> list[BatchResult]:
        """Settled batches, in the order they were submitted."""
        out = []
        while True:
            try:
                out.append(self.done.get_nowait())
            except queue.Empty:
                return out

    def retrying(self) -> bool:
        """Whether Elasticsearch is refusing work right now: the pipeline pauses polling."""
        return self.retrying_workers > 0

    def idle(self) -> bool:
        with self.lock:
            return self.all_settled()

    def all_settled(self) -> bool:
        return not self.todo and self.in_flight == 0

    def wait_idle(self, timeout: float) -> bool:
        """Waits until every submitted batch is settled; False when `timeout` passed first."""
        with self.lock:
            self.lock.wait_for(lambda: self.all_settled() or self.failure is not None, timeout)
            return self.all_settled()

    def close(self, timeout: float) -> bool:
        """Settles what it can within `timeout`, then stops the threads; True if all settled."""
        settled = self.wait_idle(timeout)
        self.abort.set()
        with self.lock:
            self.closing = True
            self.lock.notify_all()
        for thread in self.threads:
            thread.join(timeout=30)
        return settled

    def run(self, backoff: Backoff) -> None:
        while True:
            with self.lock:
                self.lock.wait_for(lambda: self.todo or self.closing)
                if not self.todo:
                    return
                sequence, batch = self.todo.popleft()
                self.in_flight += 1
            try:
                result = self.settle(batch, backoff)
            except SendAbortedError:
                return
            except Exception as exc:  # surfaced to the pipeline, which stops without committing
                log.exception("bulk sender failed")
                with self.lock:
                    self.failure = exc
                    self.lock.notify_all()
                return
            with self.lock:
                self.in_flight -= 1
                self.backlog_bytes -= batch.nbytes
                self.finished[sequence] = result
                self.release_in_order()
                self.lock.notify_all()

    def release_in_order(self) -> None:
        """Hands back every finished result whose predecessors are all handed back."""
        while self.released in self.finished:
            self.done.put(self.finished.pop(self.released))
            self.released += 1

    def settle(self, batch: Batch, backoff: Backoff) -> BatchResult:
        result = BatchResult(offsets=batch.offsets)
        pending = batch.items
        retrying = False
        try:
            while pending:
                entries = self.send(pending)
                if entries is Whole.RETRY:
                    result.retried += len(pending)
                elif entries is Whole.CREATED:
                    count_created(pending, result)
                    break
                else:
                    pending, retry = self.account(pending, entries, result)
                    if not retry:
                        continue
                if not retrying:
                    retrying = True
                    self.count_retrying(+1)
                self.wait_before_retry(len(pending), backoff)
        finally:
            if retrying:
                self.count_retrying(-1)
        backoff.reset()
        return result

    def count_retrying(self, change: int) -> None:
        with self.lock:
            self.retrying_workers += change

    def account(
        self, items: list[BulkItem], entries: list[dict[str, Any]], result: BatchResult
    ) -> tuple[list[BulkItem], bool]:
        """Counts settled items; returns what must go again, and whether any was a retry."""
        again: list[BulkItem] = []
        retry = False
        for item, entry in zip(items, entries, strict=True):
            status, error = item_result(entry)
            outcome = classify(status, error)
            if outcome in (Outcome.INDEXED, Outcome.DUPLICATE):
                result.duplicates += outcome is Outcome.DUPLICATE
                if item.dead:
                    result.dead_letters += 1
                else:
                    result.indexed += 1
            elif outcome is Outcome.RETRY:
                again.append(item)
                result.retried += 1
                retry = True
            elif item.dead:
                log.critical(
                    "dead letter refused by Elasticsearch, kept in this log: reason=%r line=%s",
                    rejection_reason(status, error),
                    item.line.decode("utf-8", errors="replace"),
                )
                result.dead_letters += 1
            else:
                reason = rejection_reason(status, error)
                again.append(
                    dead_item(item.message, item.producer, "rejected", reason, self.target)
                )
        return again, retry

    def send(self, items: list[BulkItem]) -> list[dict[str, Any]] | Whole:
        """The bulk response's items, or an answer that holds for all of them."""
        body = b"".join(item.line for item in items)
        try:
            response = self.es.perform_request(
                "POST", "/_bulk", params={"filter_path": BULK_FILTER}, headers=NDJSON, body=body
            )
        except (TransportConnectionError, ConnectionTimeout) as exc:
            log.warning("elasticsearch unreachable, will retry: %s", exc)
            return Whole.RETRY
        except ApiError as exc:
            if exc.meta.status == 429 or exc.meta.status >= 500:
                log.warning("bulk request refused (HTTP %s), will retry", exc.meta.status)
                return Whole.RETRY
            log.error("bulk request rejected as a whole (HTTP %s): %s", exc.meta.status, exc)
            error = {"type": "bulk_request_rejected", "reason": str(exc.message)}
            return [{"create": {"status": exc.meta.status, "error": error}}] * len(items)
        if isinstance(response.body, dict) and response.body.get("errors") is False:
            return Whole.CREATED
        body_items = response.body.get("items") if isinstance(response.body, dict) else None
        if not isinstance(body_items, list) or len(body_items) != len(items):
            log.warning("bulk response without one entry per item, will retry")
            return Whole.RETRY
        return body_items

    def wait_before_retry(self, count: int, backoff: Backoff) -> None:
        delay = backoff.next_delay()
        log.info("retrying %d item(s) in %.1fs", count, delay)
        if self.abort.wait(delay):
            raise SendAbortedError
