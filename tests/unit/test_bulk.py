"""Bulk answers sorted into indexed / conflict / retry / denied / reject, whole-request
refusals, and the sender's rules over a fake cluster: what settles a message (only its
document or its dead letter in Elasticsearch), what holds it, how a 413 splits a batch, and
how a 409 is told apart as a replay or another record under the same id."""

from __future__ import annotations

import random
import threading
from typing import Any
from zoneinfo import ZoneInfo

import pytest

from esbridge.cluster.errors import (
    ClusterError,
    ClusterUnavailableError,
    TlsFailureError,
    UnsupportedClusterError,
)
from esbridge.config import ElasticsearchConfig, IngestConfig
from esbridge.ingest.bulk import (
    Backoff,
    Outcome,
    Refusal,
    classify,
    classify_request,
    item_result,
    rejection_reason,
)
from esbridge.ingest.encode import BulkItem, DeadLetterTarget, Route, to_item
from esbridge.ingest.message import Message
from esbridge.ingest.pipeline import BatchBuilder
from esbridge.ingest.sender import (
    Batch,
    BatchResult,
    BulkSender,
    ElasticsearchDeniedError,
    ElasticsearchUnavailableError,
    connect_patiently,
)
from esbridge.transforms import PARSERS, ParseContext
from esbridge.utc import now_utc
from tests.helpers.seams import FakeClock, FakeCluster, billing_messages, cluster_error


@pytest.mark.parametrize(
    ("status", "error_type", "outcome"),
    [
        (201, None, Outcome.INDEXED),
        (200, None, Outcome.INDEXED),
        (409, "version_conflict_engine_exception", Outcome.CONFLICT),
        (429, "es_rejected_execution_exception", Outcome.RETRY),
        (503, "unavailable_shards_exception", Outcome.RETRY),
        (500, "internal_server_error", Outcome.RETRY),
        (403, "cluster_block_exception", Outcome.RETRY),
        (400, "index_closed_exception", Outcome.RETRY),
        (404, "index_not_found_exception", Outcome.RETRY),
        (401, "security_exception", Outcome.DENIED),
        (403, "security_exception", Outcome.DENIED),
        (400, "document_parsing_exception", Outcome.REJECTED),
        (400, "illegal_argument_exception", Outcome.REJECTED),
    ],
)
def test_bulk_item_status_is_classified(
    status: int, error_type: str | None, outcome: Outcome
) -> None:
    error = {"type": error_type, "reason": "r"} if error_type else None

    assert classify(status, error) is outcome


def test_an_alias_without_write_index_is_retried_a_mapping_limit_rejected() -> None:
    no_write_index = {
        "type": "illegal_argument_exception",
        "reason": "no write index is defined for alias [dcache-billing]. The write index ...",
    }
    fields_limit = {
        "type": "illegal_argument_exception",
        "reason": "Limit of total fields [1000] has been exceeded",
    }

    assert classify(400, no_write_index) is Outcome.RETRY
    assert classify(400, fields_limit) is Outcome.REJECTED


@pytest.mark.parametrize(
    ("status", "error_type", "refusal"),
    [
        (413, "", Refusal.TOO_LARGE),
        (401, "security_exception", Refusal.DENIED),
        (401, "", Refusal.DENIED),
        (403, "security_exception", Refusal.DENIED),
        (403, "cluster_block_exception", Refusal.RETRY),
        (429, "es_rejected_execution_exception", Refusal.RETRY),
        (503, "", Refusal.RETRY),
        (404, "", Refusal.REQUEST),
        (400, "illegal_argument_exception", Refusal.REQUEST),
    ],
)
def test_whole_request_refusal_is_classified_never_as_a_verdict_on_documents(
    status: int, error_type: str, refusal: Refusal
) -> None:
    assert classify_request(status, error_type) is refusal


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
    message = Message(topic, partition, offset, b"{}")
    return BulkItem(message, "p", b"x" * size, False, f"{topic}-{partition}-{offset}", "h")


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
    assert not by_count.full() and not by_bytes.full()

    by_count.add(item("a", 0, 2))
    by_bytes.add(item("a", 0, 2, size=20))

    assert by_count.ready() and by_bytes.ready()
    assert by_count.full() and by_bytes.full()


def test_batch_builder_is_ready_when_its_first_item_is_old_enough() -> None:
    builder = BatchBuilder(max_docs=100, max_bytes=10_000, max_age=0.0)
    builder.add(item("a", 0, 1))

    assert builder.ready()
    assert not builder.full()  # age is read once per poll, not after every item


# --- the sender over a fake Elasticsearch -------------------------------------------------------

TARGET = DeadLetterTarget("dead", payload_max_bytes=256)
ROUTE = Route(
    producer="billing",
    index="billing",
    parser=PARSERS["billing"],
    context=ParseContext("billing", ZoneInfo("UTC")),
    mandatory=(),
    deterministic_ids=True,
    max_message_bytes=1 << 20,
    original_max_bytes=1 << 14,
    id_prefix="TcrDvD7t",
)
ENDPOINT = "https://es.example.org:9200"


def batch_of(messages: list[Message]) -> Batch:
    items = [to_item(m, ROUTE, TARGET, "2026-11-22T00:00:00.000Z") for m in messages]
    return Batch(items, sum(len(i.line) for i in items), {("billing", 0): len(messages)})


def sender_for(es: FakeCluster, clock: FakeClock | None = None) -> BulkSender:
    """No threads (`workers=0`): the test calls `settle` itself; no backoff waits."""
    return BulkSender(
        es,  # type: ignore[arg-type]
        TARGET,
        0.0,
        0.0,
        workers=0,
        auth_failure_timeout=10.0,
        endpoint=ENDPOINT,
        clock=clock or FakeClock(),
    )


def settle(sender: BulkSender, batch: Batch) -> BatchResult:
    return sender.settle(batch, Backoff(0.0, 0.0))


def ids(es: FakeCluster, index: str) -> set[str]:
    return {doc_id for (name, doc_id) in es.stored if name == index}


@pytest.mark.parametrize("status", [401, 403])
def test_denied_requests_dead_letter_nothing_and_stop_after_auth_failure_timeout(
    status: int,
) -> None:
    clock = FakeClock()
    es = FakeCluster(refuse=cluster_error(status, "security_exception"))
    es.after = lambda _requests: clock.advance(1.0)
    sender = sender_for(es, clock)

    with pytest.raises(ElasticsearchDeniedError) as raised:
        settle(sender, batch_of(billing_messages(5)))

    message = str(raised.value)
    assert ENDPOINT in message and "\n" not in message
    assert ("username/password" in message) == (status == 401)
    assert es.stored == {}
    assert {path for path, _ in es.requests} == {"/_bulk"}
    assert len(es.requests) >= 10  # retried for the whole timeout, one request a second
    assert sender.retrying_workers == 0


def test_denial_clock_restarts_once_elasticsearch_accepts_the_credentials() -> None:
    clock = FakeClock()
    es = FakeCluster(refuse=cluster_error(401, "security_exception"))

    def password_fixed_after_five_requests(requests: int) -> None:
        clock.advance(1.0)
        if requests == 5:
            es.refuse = None

    es.after = password_fixed_after_five_requests
    sender = sender_for(es, clock)

    result = settle(sender, batch_of(billing_messages(5)))

    assert (result.indexed, result.dead_letters) == (5, 0)
    assert sender.denied_since is None


@pytest.mark.parametrize(
    "refusal",
    [
        cluster_error(404),
        cluster_error(400, "illegal_argument_exception"),
        cluster_error(503),
        ClusterUnavailableError("http://es:9200: POST /_bulk: connection refused"),
        ClusterError("POST /_bulk: unreadable answer: not JSON"),
    ],
    ids=["404", "400", "503", "unreachable", "unreadable"],
)
def test_a_whole_request_refusal_is_retried_and_never_dead_letters(refusal: Any) -> None:
    es = FakeCluster(refuse=refusal)

    def refusing_for_three_requests(requests: int) -> None:
        if requests == 3:
            es.refuse = None

    es.after = refusing_for_three_requests

    result = settle(sender_for(es), batch_of(billing_messages(4)))

    assert (result.indexed, result.dead_letters) == (4, 0)
    assert ids(es, "dead") == set()
    assert len(ids(es, "billing")) == 4


def test_a_batch_sent_again_after_a_refusal_carries_the_time_of_the_send_that_took_it() -> None:
    es = FakeCluster(refuse=cluster_error(503))

    def back_after_two_requests(requests: int) -> None:
        if requests == 2:
            es.refuse = None

    es.after = back_after_two_requests
    before = now_utc()

    settle(sender_for(es), batch_of(billing_messages(3)))

    stamps = {doc["event"]["ingested"] for doc in es.stored.values()}
    assert len(es.stored) == 3 and len(stamps) == 1
    (stamp,) = stamps
    assert stamp >= before  # not the encoding time, 2026-11-22T00:00:00.000Z
    assert all(doc["@timestamp"] == "2026-10-14T07:12:03.400Z" for doc in es.stored.values())


def test_a_batch_taken_at_once_keeps_the_time_it_was_encoded() -> None:
    es = FakeCluster()

    settle(sender_for(es), batch_of(billing_messages(3)))

    assert {doc["event"]["ingested"] for doc in es.stored.values()} == {"2026-11-22T00:00:00.000Z"}


def test_a_refused_dead_letter_holds_its_batch_until_it_is_in_elasticsearch() -> None:
    es = FakeCluster(unparseable={"billing"}, closed={"dead"})
    dead_letters_seen: list[int] = []

    def dead_letter_index_opened_after_six_requests(requests: int) -> None:
        dead_letters_seen.append(len(ids(es, "dead")))
        if requests == 6:
            es.closed.clear()

    es.after = dead_letter_index_opened_after_six_requests

    result = settle(sender_for(es), batch_of(billing_messages(3)))

    assert dead_letters_seen[:6] == [0] * 6  # the batch did not settle while they were refused
    assert (result.indexed, result.dead_letters) == (0, 3)
    assert ids(es, "dead") == {f"TcrDvD7t-0-{offset}" for offset in range(3)}
    assert all(doc["error"]["type"] == "rejected" for doc in es.stored.values())


def test_a_closed_index_holds_documents_instead_of_dead_lettering_them() -> None:
    es = FakeCluster(closed={"billing"})

    def opened_after_three_requests(requests: int) -> None:
        if requests == 3:
            es.closed.clear()

    es.after = opened_after_three_requests

    result = settle(sender_for(es), batch_of(billing_messages(3)))

    assert (result.indexed, result.dead_letters) == (3, 0)
    assert result.retried == 6


def test_413_halves_the_request_until_each_part_fits() -> None:
    batch = batch_of(billing_messages(10))
    one = len(batch.items[0].line)
    es = FakeCluster(max_body=3 * one)

    result = settle(sender_for(es), batch)

    assert (result.indexed, result.dead_letters) == (10, 0)
    assert ids(es, "billing") == {f"TcrDvD7t-0-{offset}" for offset in range(10)}
    accepted = [size for _, size in es.requests if size <= 3 * one]
    assert sum(accepted) == batch.nbytes  # every item sent in exactly one accepted request
    assert es.requests[0][1] == batch.nbytes  # the whole batch was tried first


def test_a_document_still_too_large_alone_becomes_a_too_large_dead_letter() -> None:
    record = b'{"msgType":"remove","date":"2026-10-14T09:12:03Z","cellName":"p1","pad":"'
    big = Message("billing", 0, 2, record + b"x" * 4000 + b'"}')
    messages = [*billing_messages(2), big, *billing_messages(2, start=3)]
    batch = batch_of(messages)
    es = FakeCluster(max_body=2000)

    result = settle(sender_for(es), batch)

    assert (result.indexed, result.dead_letters) == (4, 1)
    letter = es.stored["dead", "TcrDvD7t-0-2"]
    assert letter["error"]["type"] == "too_large"
    assert "HTTP 413" in letter["error"]["message"]
    assert letter["deadletter"]["payload_size"] == len(big.value or b"")


def test_a_409_on_the_same_record_is_a_replay() -> None:
    batch = batch_of(billing_messages(4))
    es = FakeCluster()
    settle(sender_for(es), batch)
    before = dict(es.stored)

    replay = settle(sender_for(es), batch_of(billing_messages(4)))

    assert (replay.indexed, replay.duplicates, replay.collisions) == (0, 4, 0)
    assert es.stored == before
    assert [path for path, _ in es.requests[-2:]] == ["/_bulk", "/_mget"]


def test_a_409_on_another_record_stores_this_one_under_a_suffixed_id_idempotently() -> None:
    es = FakeCluster()
    settle(sender_for(es), batch_of(billing_messages(3)))
    other = [
        Message("billing", 0, m.offset, (m.value or b"").replace(b'"p1"', b'"p2"'))
        for m in billing_messages(3)
    ]

    first = settle(sender_for(es), batch_of(other))
    again = settle(sender_for(es), batch_of(other))

    digests = [item.digest for item in batch_of(other).items]
    assert (first.indexed, first.duplicates, first.collisions) == (3, 0, 3)
    assert (again.indexed, again.duplicates, again.collisions) == (0, 3, 3)
    assert ids(es, "billing") == {f"TcrDvD7t-0-{o}" for o in range(3)} | {
        f"TcrDvD7t-0-{o}~{digest}" for o, digest in enumerate(digests)
    }
    assert {doc["dcache"]["cell"] for doc in es.stored.values()} == {"p1", "p2"}


def test_a_409_on_a_record_stored_without_hash_counts_as_a_replay() -> None:
    es = FakeCluster(stored={("billing", "TcrDvD7t-0-0"): {"kafka": {"offset": 0}}})

    result = settle(sender_for(es), batch_of(billing_messages(1)))

    assert (result.indexed, result.duplicates, result.collisions) == (0, 1, 0)


def test_a_failed_read_back_of_conflicting_ids_is_retried() -> None:
    es = FakeCluster()
    settle(sender_for(es), batch_of(billing_messages(2)))
    es.mget_failures = 2

    result = settle(sender_for(es), batch_of(billing_messages(2)))

    assert (result.indexed, result.duplicates) == (0, 2)
    assert [path for path, _ in es.requests].count("/_mget") == 3


class Opener:
    """`connect` that fails with the given errors first, advancing the clock a second each."""

    def __init__(self, clock: FakeClock, *failures: Exception) -> None:
        self.clock = clock
        self.failures = list(failures)
        self.calls = 0

    def __call__(self, config: ElasticsearchConfig) -> Any:
        self.calls += 1
        self.clock.advance(1.0)
        if self.failures:
            raise self.failures.pop(0)
        return "connected"


ES_CONFIG = ElasticsearchConfig(hosts=(ENDPOINT,))
QUICK_RETRIES = IngestConfig(
    retry_initial_backoff=0.001, retry_max_backoff=0.001, auth_failure_timeout=5
)


def test_a_cluster_down_or_busy_at_start_is_waited_for_not_a_failed_run() -> None:
    clock = FakeClock()
    down = ClusterUnavailableError(f"{ENDPOINT}: GET /: connection refused")
    opener = Opener(clock, down, cluster_error(503), down)

    cluster = connect_patiently(
        ES_CONFIG, QUICK_RETRIES, threading.Event(), opener=opener, clock=clock
    )

    assert cluster == "connected"
    assert opener.calls == 4


def test_credentials_refused_at_start_stop_the_run_after_auth_failure_timeout() -> None:
    clock = FakeClock()
    opener = Opener(clock, *[cluster_error(401, "security_exception")] * 20)

    with pytest.raises(ElasticsearchDeniedError) as raised:
        connect_patiently(ES_CONFIG, QUICK_RETRIES, threading.Event(), opener=opener, clock=clock)

    message = str(raised.value)
    assert f"Elasticsearch at {ENDPOINT} refused esbridge's requests (HTTP 401" in message
    assert "username/password" in message and "nothing was committed" in message
    assert opener.calls == 6  # one a second until 5 s of refusals


def test_a_cluster_that_never_answers_at_start_stops_the_run_after_connect_timeout() -> None:
    clock = FakeClock()
    down = ClusterUnavailableError(f"{ENDPOINT}: GET /: connection refused")
    tuning = QUICK_RETRIES.model_copy(update={"connect_timeout": 10.0})
    opener = Opener(clock, *[down] * 30)

    with pytest.raises(ElasticsearchUnavailableError) as raised:
        connect_patiently(ES_CONFIG, tuning, threading.Event(), opener=opener, clock=clock)

    message = str(raised.value)
    assert message.startswith(f"no answer from Elasticsearch at {ENDPOINT} for 10s")
    assert "connection refused" in message and "elasticsearch.hosts" in message
    assert opener.calls == 11  # one a second until 10 s without an answer


def test_a_failed_tls_handshake_at_start_stops_the_run_at_once() -> None:
    clock = FakeClock()
    opener = Opener(clock, TlsFailureError(f"{ENDPOINT}: TLS handshake failed (...)"))

    with pytest.raises(TlsFailureError):
        connect_patiently(ES_CONFIG, QUICK_RETRIES, threading.Event(), opener=opener, clock=clock)

    assert opener.calls == 1


@pytest.mark.parametrize(
    "error",
    [
        UnsupportedClusterError(f"Elasticsearch 7.17.0 at {ENDPOINT} is older than ..."),
        cluster_error(400, "illegal_argument_exception"),
    ],
)
def test_an_engine_esbridge_cannot_use_stops_the_run_at_once(error: Exception) -> None:
    opener = Opener(FakeClock(), error)

    with pytest.raises(type(error)):
        connect_patiently(ES_CONFIG, QUICK_RETRIES, threading.Event(), opener=opener)

    assert opener.calls == 1


def test_a_stop_while_waiting_for_the_cluster_ends_without_connecting() -> None:
    stop = threading.Event()
    stop.set()
    opener = Opener(FakeClock(), ClusterUnavailableError("down"))

    assert connect_patiently(ES_CONFIG, QUICK_RETRIES, stop, opener=opener) is None


def batches_by_add(builder: BatchBuilder, items: list[BulkItem]) -> list[Batch]:
    made = []
    for one in items:
        builder.add(one)
        if builder.full():
            made.append(builder.take())
    return made


def batches_by_fill(builder: BatchBuilder, items: list[BulkItem]) -> list[Batch]:
    made = []
    while items:
        items = builder.fill(items)
        if builder.full():
            made.append(builder.take())
    return made


@pytest.mark.parametrize("seed", range(20))
def test_fill_makes_the_batches_add_makes_one_by_one(seed: int) -> None:
    """The pipeline's batch step (`fill`, in C-level steps) against the item-by-item rule:
    same items, sizes and commit offsets per batch, whatever the limits and line sizes."""
    rng = random.Random(seed)
    max_docs, max_bytes = rng.randint(1, 40), rng.randint(1, 2_000)
    items = [
        item(rng.choice("ab"), rng.randint(0, 2), offset, size=rng.randint(1, 300))
        for offset in range(rng.randint(0, 400))
    ]
    by_add, by_fill = BatchBuilder(max_docs, max_bytes, 60), BatchBuilder(max_docs, max_bytes, 60)
    for polled in (items[:17], items[17:60], items[60:]):  # several polls, one open batch
        one_by_one = batches_by_add(by_add, polled)
        filled = batches_by_fill(by_fill, polled)

        assert [(b.items, b.nbytes, b.offsets) for b in filled] == [
            (b.items, b.nbytes, b.offsets) for b in one_by_one
        ]
        assert (by_fill.items, by_fill.nbytes, by_fill.offsets) == (
            by_add.items,
            by_add.nbytes,
            by_add.offsets,
        )
