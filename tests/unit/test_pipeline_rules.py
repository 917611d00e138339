"""The pipeline's ordering and lifecycle rules over fake seams: what is committed, when polling
pauses, what a revoke keeps, and when the loop may exit. The same rules run end to end against
the real servers in tests/integration/test_ingest*.py and test_sink_order.py."""

from __future__ import annotations

import logging
import textwrap
from pathlib import Path

import pytest

from esbridge.config import Config, load_config
from esbridge.ingest.kafka import KafkaUnavailableError
from esbridge.ingest.message import Message
from esbridge.ingest.pipeline import Pipeline, RunLimits
from esbridge.ingest.sender import ElasticsearchDeniedError
from tests.helpers.configs import MINIMAL
from tests.helpers.seams import FakeClock, FakeSender, FakeSource, billing_messages


@pytest.fixture
def config(tmp_path: Path) -> Config:
    path = tmp_path / "esbridge.yml"
    ingest = """\
        ingest:
          batch_max_docs: 10
          flush_interval: 5s
          max_buffered_bytes: 4kb
        """
    path.write_text(MINIMAL + textwrap.dedent(ingest), encoding="utf-8")
    return load_config(path, environ={})


def pipeline(
    config: Config, source: FakeSource, sender: FakeSender, **limits: float
) -> tuple[Pipeline, FakeClock]:
    clock = FakeClock()
    return Pipeline(config, source, sender, RunLimits(**limits), clock=clock), clock  # type: ignore[arg-type]


def test_offsets_are_committed_only_up_to_the_last_settled_batch(config: Config) -> None:
    source, sender = FakeSource(billing_messages(30)), FakeSender()
    run, _ = pipeline(config, source, sender)

    run.handle(source.poll(0, 30))
    assert len(sender.submitted) == 3
    sender.settle(0)
    sender.settle(2)  # a later batch settling first must not move the commit past batch 1
    run.commit_settled()

    assert source.committed() == {("billing", 0): 10}
    sender.settle(1)
    run.commit_settled()
    assert source.committed() == {("billing", 0): 30}


def test_nothing_is_committed_while_no_batch_has_settled(config: Config) -> None:
    source, sender = FakeSource(billing_messages(25)), FakeSender()
    run, _ = pipeline(config, source, sender)

    run.handle(source.poll(0, 25))
    run.commit_settled()

    assert source.commits == []


def test_each_partition_commits_its_own_offset(config: Config) -> None:
    messages = billing_messages(5, partition=0) + billing_messages(5, partition=1, start=100)
    source = FakeSource(messages, partitions={("billing", 0), ("billing", 1)})
    sender = FakeSender(settle_on_submit=True)
    run, _ = pipeline(config, source, sender)

    run.handle(source.poll(0, 10))
    run.commit_settled()

    assert source.committed() == {("billing", 0): 5, ("billing", 1): 105}


def test_polling_pauses_while_the_sender_retries_and_resumes_after(config: Config) -> None:
    source = FakeSource(billing_messages(3))
    sender = FakeSender(refusing=True, settle_on_submit=True)

    def elasticsearch_recovers(polls: int) -> None:
        if polls == 3:
            sender.refusing = False

    source.after_poll = elasticsearch_recovers
    run, _ = pipeline(config, source, sender, idle_exit=0)

    assert run.run() == 0
    assert source.polled_while_paused[:3] == [True, True, True]
    assert source.polled_while_paused[3] is False
    assert source.committed() == {("billing", 0): 3}


def test_polling_pauses_when_the_unsent_backlog_passes_max_buffered_bytes(config: Config) -> None:
    source, sender = FakeSource(billing_messages(60)), FakeSender()
    run, _ = pipeline(config, source, sender)

    run.handle(source.poll(0, 60))

    assert sender.backlog_bytes >= config.ingest.max_buffered_bytes
    assert run.backpressure()
    for number in range(len(sender.submitted)):
        sender.settle(number)
    run.commit_settled()
    assert not run.backpressure()


def test_revoked_partition_keeps_its_settled_commit_and_drops_the_rest(config: Config) -> None:
    source, sender = FakeSource(billing_messages(20)), FakeSender()
    run, _ = pipeline(config, source, sender)
    run.handle(source.poll(0, 20))
    sender.settle(0)

    assert source.on_revoked is not None
    source.on_revoked({("billing", 0)})
    sender.settle(1)  # settles after the partition went to another member
    run.commit_settled()

    assert source.committed() == {("billing", 0): 10}
    assert run.assigned == set()


def test_a_batch_is_sent_once_it_is_older_than_the_flush_interval(config: Config) -> None:
    source, sender = FakeSource(billing_messages(3)), FakeSender()
    run, clock = pipeline(config, source, sender)

    run.handle(source.poll(0, 3))
    assert sender.submitted == [] and not run.builder.ready()
    clock.advance(config.ingest.flush_interval)

    assert run.builder.ready()


def test_every_message_becomes_exactly_one_item_bad_ones_dead_letters(config: Config) -> None:
    bad = [Message("billing", 0, 10, b"{not json"), Message("billing", 0, 11, None)]
    source = FakeSource(billing_messages(10) + bad)
    sender = FakeSender(settle_on_submit=True)
    run, _ = pipeline(config, source, sender)

    run.handle(source.poll(0, 12))
    run.sender.submit(run.builder.take())
    run.commit_settled()

    items = [item for batch in sender.submitted for item in batch.items]
    assert [item.message.offset for item in items] == list(range(12))
    assert [item.dead for item in items] == [False] * 10 + [True, True]
    assert (run.stats.indexed, run.stats.dead_letters) == (10, 2)
    assert source.committed() == {("billing", 0): 12}


def test_run_exits_on_idle_only_when_settled_and_drained(config: Config) -> None:
    source, sender = FakeSource(billing_messages(5)), FakeSender(settle_on_submit=True)
    run, _ = pipeline(config, source, sender, idle_exit=0)

    assert run.run() == 0
    assert source.committed() == {("billing", 0): 5}
    assert source.closed


def test_shutdown_with_unsettled_batches_commits_nothing_of_them_and_fails(
    config: Config,
) -> None:
    source, sender = FakeSource(billing_messages(10)), FakeSender()
    run, _ = pipeline(config, source, sender, max_messages=10)

    assert run.run() == 1
    assert source.commits == []


def test_a_requested_stop_with_unsettled_batches_commits_nothing_of_them_and_exits_0(
    config: Config, caplog: pytest.LogCaptureFixture
) -> None:
    source, sender = FakeSource(billing_messages(10)), FakeSender()
    run, _ = pipeline(config, source, sender)
    source.after_poll = lambda polls: run.request_stop() if polls == 1 else None

    with caplog.at_level(logging.WARNING, logger="esbridge.ingest"):
        assert run.run() == 0
    assert source.commits == []
    assert "will be read again on the next start" in caplog.text


TOPIC_ID = "TcrDvD7tT8igYIV2buFa-g"


def test_ids_start_with_the_topic_id_learned_once_per_assignment(config: Config) -> None:
    source = FakeSource(billing_messages(20), ids={"billing": TOPIC_ID})
    sender = FakeSender()
    run, _ = pipeline(config, source, sender)

    run.handle(source.poll(0, 10))
    run.handle(source.poll(0, 10))

    doc_ids = [item.doc_id for batch in sender.submitted for item in batch.items]
    assert doc_ids == [f"TcrDvD7t-0-{offset}" for offset in range(20)]
    assert source.id_lookups == [{"billing"}]


def test_a_re_created_topic_gets_ids_of_its_own_on_the_next_assignment(config: Config) -> None:
    source = FakeSource(billing_messages(10), ids={"billing": TOPIC_ID})
    sender = FakeSender()
    run, _ = pipeline(config, source, sender)
    run.handle(source.poll(0, 10))

    assert source.on_revoked is not None and source.on_assigned is not None
    source.on_revoked({("billing", 0)})
    source.ids = {"billing": "Q2xvbmVkVG9waWNJZEFhQQ"}
    source.backlog = billing_messages(10)  # the new incarnation starts again at offset 0
    source.on_assigned({("billing", 0)})
    run.handle(source.poll(0, 10))

    first, second = ({item.doc_id for item in batch.items} for batch in sender.submitted)
    assert first.isdisjoint(second)
    assert all(doc_id.startswith("Q2xvbmVk-0-") for doc_id in second)


def test_a_topic_without_topic_id_keeps_its_name_in_ids(config: Config) -> None:
    source, sender = FakeSource(billing_messages(10)), FakeSender()
    run, _ = pipeline(config, source, sender)

    run.handle(source.poll(0, 10))

    assert [item.doc_id for item in sender.submitted[0].items][:2] == ["billing-0-0", "billing-0-1"]


def test_a_failed_topic_id_lookup_stops_without_indexing_or_committing(
    config: Config, caplog: pytest.LogCaptureFixture
) -> None:
    source = FakeSource(billing_messages(10), ids_error=RuntimeError("broker away"))
    sender = FakeSender(settle_on_submit=True)
    run, _ = pipeline(config, source, sender, idle_exit=0)

    assert run.run() == 1
    assert sender.submitted == []
    assert source.commits == []
    assert "cannot learn the Kafka topic id of billing (broker away)" in caplog.text


def test_elasticsearch_denying_esbridge_ends_the_run_with_one_line_and_no_commit(
    config: Config, caplog: pytest.LogCaptureFixture
) -> None:
    source, sender = FakeSource(billing_messages(10)), FakeSender()
    run, _ = pipeline(config, source, sender)
    run.handle(source.poll(0, 10))
    sender.failure = ElasticsearchDeniedError("Elasticsearch at https://es:9200 refused ...")

    with caplog.at_level(logging.ERROR, logger="esbridge.ingest"):
        assert run.run() == 1

    assert source.commits == []
    errors = [r.getMessage() for r in caplog.records if r.levelno >= logging.ERROR]
    assert errors == ["Elasticsearch at https://es:9200 refused ..."]


def test_kafka_unavailable_ends_the_run_after_committing_only_what_settled(
    config: Config, caplog: pytest.LogCaptureFixture
) -> None:
    """A source that gives up (no broker answered for kafka.connect_timeout) stops the loop:
    the open batch is still sent, what settles is committed, then exit 1 and one error line."""
    source, sender = FakeSource(billing_messages(15)), FakeSender()
    refused = KafkaUnavailableError("no Kafka broker of k:9092 accepted the credentials ...")

    def lose_kafka(polls: int) -> None:
        if polls == 2:
            sender.settle(0)  # the first batch of 10 settles; the last 5 do not
            source.poll = unreachable  # type: ignore[method-assign]

    def unreachable(timeout: float, max_records: int) -> list[Message]:
        raise refused

    source.after_poll = lose_kafka
    run, _ = pipeline(config, source, sender)

    with caplog.at_level(logging.ERROR, logger="esbridge.ingest"):
        assert run.run() == 1

    assert source.committed() == {("billing", 0): 10}
    assert source.closed
    errors = [r.getMessage() for r in caplog.records if r.levelno >= logging.ERROR]
    assert errors == [str(refused)]
