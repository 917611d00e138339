"""The Elasticsearch side: sender threads that retry each batch until it is settled.

A batch is settled when every item in it is in Elasticsearch: indexed, found already there (a
replay: same id and same content hash), or in dead letters. Nothing else settles a message: a
dead letter Elasticsearch refuses holds its batch (and so its offsets) like a busy cluster does.
Several batches may be in flight at once (one Elasticsearch write thread serves one bulk
request, so one request at a time leaves the node's other cores idle), but settled batches are
handed back strictly in submission order, so committed offsets never skip a message.

Requests go through `SearchCluster` (plain JSON, the same on Elasticsearch 8/9 and OpenSearch
2/3): one `_bulk` per attempt, its answer trimmed by `filter_path` and parsed once, and one
`_mget` per answer with 409s; a refused request arrives as the layer's `ClusterError`, with
its status and the engine's `error.type`.
"""

from __future__ import annotations

import logging
import queue
import threading
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from enum import Enum
from typing import Any, Protocol

from esbridge.cluster.errors import (
    AuthError,
    ClusterError,
    ClusterUnavailableError,
    ServerError,
    TlsFailureError,
)
from esbridge.cluster.search import SearchCluster, connect
from esbridge.config import ElasticsearchConfig, IngestConfig
from esbridge.errors import EsbridgeError
from esbridge.ingest.bulk import (
    Backoff,
    Outcome,
    Refusal,
    classify,
    classify_request,
    item_result,
    rejection_reason,
)
from esbridge.ingest.encode import (
    COLLISION_MARK,
    BulkItem,
    DeadLetterTarget,
    as_dead_letter,
    restamped,
    with_collision_id,
)
from esbridge.ingest.stats import SendCounters
from esbridge.utc import now_utc

log = logging.getLogger("esbridge.sink")

BULK_FILTER = "errors,items.*.status,items.*.error"
MGET_FILTER = "docs.found,docs._source.event.hash"


@dataclass
class Batch:
    items: list[BulkItem]
    nbytes: int
    offsets: dict[tuple[str, int], int]
    """Per partition, the offset to commit once this batch is settled (last offset + 1)."""


@dataclass
class BatchResult:
    """One settled batch: `indexed` and `dead_letters` count new writes only, `duplicates`
    the replays (already stored with the same hash); `tally` the same per producer (kind
    "indexed", "replay", "dead" with the dead letter's reason, "collision") for the metrics."""

    offsets: dict[tuple[str, int], int]
    indexed: int = 0
    dead_letters: int = 0
    duplicates: int = 0
    retried: int = 0
    collisions: int = 0
    """Records whose id was taken by another record: stored under `<id>~<hash>` instead."""
    tally: dict[tuple[str, str, str], int] = field(default_factory=dict)

    def add(self, producer: str, kind: str, reason: str = "", count: int = 1) -> None:
        key = (producer, kind, reason)
        self.tally[key] = self.tally.get(key, 0) + count


class Whole(Enum):
    """An answer about every item of a bulk request at once."""

    CREATED = "created"
    """`errors: false`: no entry needs a look."""


@dataclass(frozen=True)
class Refused:
    """The bulk request was refused as a whole: `kind` says what to do about it."""

    kind: Refusal
    reason: str


def count_settled(item: BulkItem, result: BatchResult) -> None:
    if item.dead:
        result.dead_letters += 1
        result.add(item.producer, "dead", item.reason)
    else:
        result.indexed += 1
        result.add(item.producer, "indexed")


def count_created(items: list[BulkItem], result: BatchResult) -> None:
    """A whole request created: one pass over the items, counting per producer and reason."""
    tally: dict[tuple[str, str], int] = {}
    for item in items:
        key = (item.producer, item.reason)
        tally[key] = tally.get(key, 0) + 1
    for (producer, reason), count in tally.items():
        if reason:
            result.dead_letters += count
            result.add(producer, "dead", reason, count)
        else:
            result.indexed += count
            result.add(producer, "indexed", "", count)


def retry_cause(answer: Refused) -> str:
    """`unreachable`, `http_<status>` or the refusal's kind: what an operator would fix."""
    if answer.reason.startswith("unreachable"):
        return "unreachable"
    if answer.reason.startswith("HTTP "):
        return "http_" + answer.reason.split()[1]
    return answer.kind.value


class Sender(Protocol):
    """The Elasticsearch seam of the pipeline: batches in, settled results out, in order."""

    backlog_bytes: int
    failure: Exception | None
    counters: SendCounters

    def submit(self, batch: Batch) -> None: ...
    def results(self) -> list[BatchResult]: ...
    def retrying(self) -> bool: ...
    def idle(self) -> bool: ...
    def close(self, timeout: float) -> bool: ...


class SendAbortedError(Exception):
    """Shutdown was asked for while a batch could not be settled; it stays uncommitted."""


class ElasticsearchDeniedError(EsbridgeError):
    """Elasticsearch refused esbridge's credentials or privileges for `auth_failure_timeout`.

    Waiting longer would not help: a person has to fix the password or the role. The messages
    stay uncommitted, so the next run, with the fix, reads them again.
    """


class ElasticsearchUnavailableError(EsbridgeError):
    """Elasticsearch did not answer for `ingest.connect_timeout` when ingest started."""


def denied_message(endpoint: str, reason: str, seconds: float) -> str:
    if "HTTP 401" in reason:
        check = "check elasticsearch.username/password or api_key"
    else:
        check = (
            "check that esbridge's user has the cluster privilege monitor (to read the "
            "engine's version) and may write (create_doc) to the producers' indices and the "
            "dead-letter index"
        )
    return (
        f"Elasticsearch at {endpoint} refused esbridge's requests ({reason}) for "
        f"{seconds:.0f}s: {check}; nothing was committed, the messages will be read again"
    )


def connect_patiently(
    config: ElasticsearchConfig,
    tuning: IngestConfig,
    stop: threading.Event,
    *,
    opener: Callable[[ElasticsearchConfig], SearchCluster] = connect,
    clock: Callable[[], float] = time.monotonic,
    counters: SendCounters | None = None,
) -> SearchCluster | None:
    """The cluster, once it answers and takes esbridge's credentials; None if `stop` came first.

    Connecting reads the engine and version (`SearchCluster.connect`), so a cluster that is
    down, busy or refusing the credentials when ingest starts would otherwise end the run
    before a message is read. It is waited for by the rules a bulk request follows: unreachable
    or 429/5xx is retried with backoff until `ingest.connect_timeout` (then
    ElasticsearchUnavailableError), a 401/403 until `ingest.auth_failure_timeout` (then
    ElasticsearchDeniedError). A failed TLS handshake, an engine esbridge does not speak, or
    any other refusal stops at once. Nothing is consumed meanwhile, so nothing waits uncommitted.
    """
    endpoint = ", ".join(config.hosts)
    backoff = Backoff(tuning.retry_initial_backoff, tuning.retry_max_backoff)
    denied_since: float | None = None
    unreachable_since: float | None = None
    while True:
        try:
            return opener(config)
        except AuthError as exc:
            now = clock()
            denied_since = now if denied_since is None else denied_since
            reason = f"HTTP {exc.status} {exc.error_type or ''}".strip()
            if now - denied_since >= tuning.auth_failure_timeout:
                raise ElasticsearchDeniedError(
                    denied_message(endpoint, reason, now - denied_since)
                ) from None
            log.error(
                "Elasticsearch at %s refused esbridge's credentials (%s): nothing is read "
                "from Kafka until it takes them; stopping after %.0fs of refusals",
                endpoint,
                reason,
                tuning.auth_failure_timeout,
            )
            delay = backoff.next_delay()
            delay = min(delay, max(denied_since + tuning.auth_failure_timeout - now, 0.05))
            if counters is not None:
                counters.retry("connect_denied")
            unreachable_since = None  # it answers, if only to refuse
        except TlsFailureError:
            raise  # a CA or host-name mismatch does not heal by waiting
        except (ClusterUnavailableError, ServerError) as exc:
            denied_since = None
            now = clock()
            unreachable_since = now if unreachable_since is None else unreachable_since
            if now - unreachable_since >= tuning.connect_timeout:
                raise ElasticsearchUnavailableError(
                    f"no answer from Elasticsearch at {endpoint} for "
                    f"{tuning.connect_timeout:.0f}s (ingest.connect_timeout): {exc}; check "
                    "elasticsearch.hosts and that the node is up"
                ) from None
            log.warning("cannot connect yet, will retry: %s", exc)
            if counters is not None:
                counters.retry("connect")
            delay = backoff.next_delay()
        if stop.wait(delay):
            return None


class Hold:
    """One batch's retries: the worker counts as retrying (the pipeline pauses polling) from its
    first refusal until the batch is settled."""

    def __init__(self, sender: BulkSender, backoff: Backoff) -> None:
        self.sender = sender
        self.backoff = backoff
        self.retrying = False

    def wait(self, count: int) -> None:
        if not self.retrying:
            self.retrying = True
            self.sender.count_retrying(+1)
        self.sender.wait_before_retry(count, self.backoff)

    def release(self) -> None:
        if self.retrying:
            self.sender.count_retrying(-1)
        self.backoff.reset()


class BulkSender:
    def __init__(
        self,
        cluster: SearchCluster,
        target: DeadLetterTarget,
        initial_backoff: float,
        max_backoff: float,
        workers: int = 1,
        auth_failure_timeout: float = 60.0,
        endpoint: str = "",
        clock: Callable[[], float] = time.monotonic,
        counters: SendCounters | None = None,
    ) -> None:
        self.cluster = cluster
        self.counters = SendCounters() if counters is None else counters
        self.target = target
        self.auth_failure_timeout = auth_failure_timeout
        self.endpoint = endpoint
        self.clock = clock
        self.denied_since: float | None = None
        """When Elasticsearch began refusing esbridge's credentials; None while it accepts them."""
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
                if not isinstance(exc, EsbridgeError):
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
        hold = Hold(self, backoff)
        try:
            self.settle_items(batch.items, result, hold)
        finally:
            hold.release()
        return result

    def settle_items(
        self, pending: list[BulkItem], result: BatchResult, hold: Hold, *, resend: bool = False
    ) -> None:
        """Sends `pending` until every item is in Elasticsearch; a 413 halves the request.

        Every send after the first re-stamps `event.ingested` (`restamped`), so a batch a
        refusal held back is not older, to the watcher, than the moment it became searchable.
        """
        while pending:
            if resend:
                now = now_utc()
                pending = [restamped(item, now) for item in pending]
            resend = True
            answer = self.send(pending)
            if answer is Whole.CREATED:
                self.note_allowed()
                count_created(pending, result)
                return
            if isinstance(answer, Refused):
                if answer.kind is Refusal.TOO_LARGE:
                    if len(pending) > 1:
                        half = len(pending) // 2
                        log.warning(
                            "bulk request of %d items refused as too large (%s): splitting it; "
                            "keep ingest.batch_max_bytes below the node's http.max_content_length",
                            len(pending),
                            answer.reason,
                        )
                        self.settle_items(pending[:half], result, hold, resend=True)
                        self.settle_items(pending[half:], result, hold, resend=True)
                        return
                    if not pending[0].dead:  # alone and still too large: about the document
                        reason = f"{answer.reason}: the document alone is above the limit"
                        pending = [as_dead_letter(pending[0], "too_large", reason, self.target)]
                        continue
                self.refused(answer, pending)
                result.retried += len(pending)
                self.counters.retry(retry_cause(answer), len(pending))
            else:
                pending, retry = self.account(pending, answer, result)
                if not retry:
                    continue
            hold.wait(len(pending))

    def refused(self, answer: Refused, pending: list[BulkItem]) -> None:
        """Says why a whole request is retried; after `auth_failure_timeout` of denials, stops."""
        if answer.kind is Refusal.RETRY:
            log.warning("bulk request not taken (%s), will retry", answer.reason)
            return
        if answer.kind is Refusal.DENIED:
            self.note_denied(answer.reason)
            return
        if answer.kind is Refusal.TOO_LARGE:  # only a lone dead letter gets here
            log.error(
                "a dead letter of %d bytes is above the request limit of Elasticsearch at %s "
                "(%s): held uncommitted; raise http.max_content_length or lower "
                "deadletter.payload_max_bytes",
                len(pending[0].line),
                self.endpoint,
                answer.reason,
            )
            return
        self.note_allowed()
        letters = sum(item.dead for item in pending)
        log.error(
            "bulk request of %d item(s) (%d dead letters) refused as a whole (%s) by "
            "Elasticsearch at %s: not a verdict on the documents, so none is dead-lettered; "
            "they are held uncommitted and retried",
            len(pending),
            letters,
            answer.reason,
            self.endpoint,
        )

    def note_denied(self, reason: str) -> None:
        now = self.clock()
        with self.lock:
            if self.denied_since is None:
                self.denied_since = now
            denied_for = now - self.denied_since
        if denied_for >= self.auth_failure_timeout:
            raise ElasticsearchDeniedError(denied_message(self.endpoint, reason, denied_for))
        log.error(
            "Elasticsearch at %s refused esbridge's requests (%s): holding the messages "
            "uncommitted and retrying; stopping after %.0fs of refusals",
            self.endpoint,
            reason,
            self.auth_failure_timeout,
        )

    def note_allowed(self) -> None:
        if self.denied_since is not None:
            with self.lock:
                self.denied_since = None

    def count_retrying(self, change: int) -> None:
        with self.lock:
            self.retrying_workers += change

    def account(
        self, items: list[BulkItem], entries: list[dict[str, Any]], result: BatchResult
    ) -> tuple[list[BulkItem], bool]:
        """Counts settled items; returns what must go again, and whether any was a retry."""
        again: list[BulkItem] = []
        retry = False
        held: list[str] = []
        denied: str | None = None
        conflicts: list[tuple[BulkItem, dict[str, Any]]] = []
        refused_letters: list[str] = []
        for item, entry in zip(items, entries, strict=True):
            status, error = item_result(entry)
            outcome = classify(status, error)
            if outcome is Outcome.INDEXED:
                count_settled(item, result)
            elif outcome is Outcome.CONFLICT:
                conflicts.append((item, error or {}))
            elif outcome in (Outcome.RETRY, Outcome.DENIED):
                again.append(item)
                result.retried += 1
                self.counters.retry(f"item_{status}")
                retry = True
                held.append(rejection_reason(status, error))
                if outcome is Outcome.DENIED:
                    denied = held[-1]
            elif item.dead:
                refused_letters.append(rejection_reason(status, error))
                again.append(item)
                result.retried += 1
                self.counters.retry("dead_letter_refused")
                retry = True
            else:
                reason = rejection_reason(status, error)
                again.append(as_dead_letter(item, "rejected", reason, self.target))
        if denied is not None:
            self.note_denied(denied)
        else:
            self.note_allowed()
        if held:
            log.warning(
                "%d item(s) not taken for now, e.g. %s%s: held uncommitted and retried",
                len(held),
                held[0],
                " (does the write alias exist? esbridge setup creates it)"
                if "index_not_found_exception" in held[0]
                else "",
            )
        if refused_letters:
            log.error(
                "%d dead letter(s) refused by Elasticsearch at %s, e.g. %s: their batch is held "
                "uncommitted and retried until %s accepts them",
                len(refused_letters),
                self.endpoint,
                refused_letters[0],
                self.target.index,
            )
        if conflicts:
            resend, conflict_retry = self.resolve_conflicts(conflicts, result)
            again.extend(resend)
            retry = retry or conflict_retry
        return again, retry

    def resolve_conflicts(
        self, conflicts: list[tuple[BulkItem, dict[str, Any]]], result: BatchResult
    ) -> tuple[list[BulkItem], bool]:
        """409s: a replay only when the stored record has this record's `event.hash`.

        One `_mget` of the stored hashes (from the concrete index each 409 names: behind a
        rolled-over alias a get by id is ambiguous). Another record under the id means the id
        was reused (a re-created topic without a topic id, say): this record goes again under
        `<id>~<hash>`. Returns what must go again, and whether to wait before sending it.
        """
        docs = [
            {"_index": error.get("index", ""), "_id": item.doc_id, "_source": ["event.hash"]}
            for item, error in conflicts
        ]
        stored: list[dict[str, Any]] | None
        try:
            stored = self.cluster.mget(docs, filter_path=MGET_FILTER)
        except ClusterError as exc:
            log.warning("cannot read back %d conflicting ids, will retry: %s", len(docs), exc)
            stored = None
        if not isinstance(stored, list) or len(stored) != len(conflicts):
            result.retried += len(conflicts)
            self.counters.retry("conflict_readback", len(conflicts))
            return [item for item, _ in conflicts], True
        again: list[BulkItem] = []
        retry = False
        for (item, _), doc in zip(conflicts, stored, strict=True):
            if not doc.get("found"):  # gone since the 409 (deleted): send it again
                again.append(item)
                retry = True
                self.counters.retry("conflict_gone")
                continue
            digest = (doc.get("_source") or {}).get("event", {}).get("hash")
            if digest is None or digest == item.digest:  # None: stored before event.hash
                result.duplicates += 1
                result.add(item.producer, "replay")
            elif COLLISION_MARK not in item.doc_id:
                result.collisions += 1
                result.add(item.producer, "collision")
                again.append(with_collision_id(item))
            elif not item.dead:
                reason = f"id {item.doc_id} is taken by another record (event.hash {digest})"
                again.append(as_dead_letter(item, "id_collision", reason, self.target))
            else:
                log.error(
                    "dead letter %s collides with another record's in %s: held uncommitted",
                    item.doc_id,
                    self.target.index,
                )
                again.append(item)
                retry = True
                self.counters.retry("dead_letter_collision")
        return again, retry

    def send(self, items: list[BulkItem]) -> list[dict[str, Any]] | Whole | Refused:
        """The bulk response's items, or an answer that holds for all of them."""
        body = b"".join([item.line for item in items])
        started = time.perf_counter()
        try:
            answer = self.cluster.bulk(body, filter_path=BULK_FILTER)
        except ClusterUnavailableError as exc:
            self.counters.request(time.perf_counter() - started)
            return Refused(Refusal.RETRY, f"unreachable: {exc}")
        except ClusterError as exc:
            self.counters.request(time.perf_counter() - started)
            if exc.status is None:  # an answer that is not JSON (a proxy's page, say)
                return Refused(Refusal.REQUEST, str(exc))
            error_type = exc.error_type or ""
            reason = f"HTTP {exc.status} {error_type}" if error_type else f"HTTP {exc.status}"
            return Refused(classify_request(exc.status, error_type), reason)
        self.counters.request(time.perf_counter() - started)
        if not isinstance(answer, dict):
            return Refused(Refusal.RETRY, "a response without one entry per item")
        if answer.get("errors") is False:
            return Whole.CREATED
        body_items = answer.get("items")
        if not isinstance(body_items, list) or len(body_items) != len(items):
            return Refused(Refusal.RETRY, "a response without one entry per item")
        return body_items

    def wait_before_retry(self, count: int, backoff: Backoff) -> None:
        delay = backoff.next_delay()
        if self.denied_since is not None:  # stop close to the deadline, not a backoff later
            left = self.denied_since + self.auth_failure_timeout - self.clock()
            delay = min(delay, max(left, 0.05))
        log.info("retrying %d item(s) in %.1fs", count, delay)
        if self.abort.wait(delay):
            raise SendAbortedError
