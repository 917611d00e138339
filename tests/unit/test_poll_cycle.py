"""One poll cycle with a fake frontend and publisher: whole or nothing, one line per failure."""

from __future__ import annotations

import logging
import threading
from datetime import UTC, datetime
from typing import Any

import orjson
import pytest

from esbridge.poll.client import Answer, FrontendError
from esbridge.poll.cycle import run_cycle
from esbridge.poll.publish import PublishError
from tests.helpers.dcache_frontend import new_server_usage, pool_entry

AT = datetime(2026, 10, 14, 8, 0, tzinfo=UTC)
MODIFIED = datetime(2026, 10, 14, 7, 59, tzinfo=UTC)


class FakeFrontend:
    """Answers from dicts; an exception value is raised instead of answered."""

    def __init__(self, pools: Any, usages: dict[str, Any]) -> None:
        self.pools = pools
        self.usages = usages
        self.asked: list[str] = []
        self._lock = threading.Lock()

    def list_pools(self) -> Answer:
        if isinstance(self.pools, Exception):
            raise self.pools
        return Answer(self.pools, MODIFIED)

    def usage(self, pool: str) -> Answer:
        with self._lock:
            self.asked.append(pool)
        value = self.usages[pool]
        if isinstance(value, Exception):
            raise value
        return Answer(value, None)


class FakePublisher:
    def __init__(self, error: Exception | None = None) -> None:
        self.published: list[list[tuple[str, bytes]]] = []
        self.error = error

    def publish(self, messages: Any) -> None:
        if self.error is not None:
            raise self.error
        self.published.append(list(messages))

    def close(self) -> None:
        pass


ENTRIES = [pool_entry(f"pool_{i}", ["default"], []) for i in range(4)]


def usages() -> dict[str, Any]:
    return {e["name"]: new_server_usage(e["name"], domain="d") for e in ENTRIES}


def values(publisher: FakePublisher) -> dict[str, dict[str, Any]]:
    (batch,) = publisher.published
    return {key: orjson.loads(value) for key, value in batch}


def test_every_pool_is_one_message_keyed_by_its_name() -> None:
    publisher = FakePublisher()

    report = run_cycle(FakeFrontend(ENTRIES, usages()), publisher, at=AT, concurrency=2)

    assert not report.failed
    published = values(publisher)
    assert list(published) == [e["name"] for e in ENTRIES]
    assert all(
        v["pool"] == k and v["@timestamp"] == "2026-10-14T08:00:00.000Z"
        for k, v in published.items()
    )
    assert report.summary() == (
        "cycle 2026-10-14T08:00:00.000Z pools=4 published=4 not_cached=0 usage_failed=0 "
        f"seconds={report.seconds:.1f}"
    )


@pytest.mark.parametrize(
    "error",
    [
        FrontendError("auth", "GET .../pools: HTTP 401 Unauthorized"),
        FrontendError("http 500", "GET .../pools: HTTP 500 Server Error"),
        FrontendError("timeout", "GET .../pools: no answer within poll.timeout 30s"),
        FrontendError("unreachable", "GET .../pools: ConnectError"),
    ],
    ids=lambda e: e.kind,
)
def test_a_failed_pool_list_publishes_nothing_and_logs_one_line(
    error: FrontendError, caplog: pytest.LogCaptureFixture
) -> None:
    publisher = FakePublisher()
    frontend = FakeFrontend(error, usages())

    with caplog.at_level(logging.INFO, logger="esbridge.poll"):
        report = run_cycle(frontend, publisher, at=AT, concurrency=2)

    assert report.failed and publisher.published == [] and frontend.asked == []
    assert [r.getMessage() for r in caplog.records] == [report.summary()]
    assert str(error) in report.summary() and "nothing published" in report.summary()


def test_failed_usages_are_published_flagged_with_one_line_per_kind(
    caplog: pytest.LogCaptureFixture,
) -> None:
    answers = usages()
    answers["pool_0"] = FrontendError("timeout", "GET .../pool_0/usage: no answer")
    answers["pool_1"] = FrontendError("http 500", "GET .../pool_1/usage: HTTP 500")
    answers["pool_2"] = FrontendError("timeout", "GET .../pool_2/usage: no answer")
    publisher = FakePublisher()

    with caplog.at_level(logging.WARNING, logger="esbridge.poll"):
        report = run_cycle(FakeFrontend(ENTRIES, answers), publisher, at=AT, concurrency=3)

    published = values(publisher)
    assert published["pool_0"]["usage_error"] == "timeout"
    assert published["pool_1"]["usage_error"] == "http 500"
    assert published["pool_0"]["cached"] is False
    assert published["pool_0"]["last_modified"] == "2026-10-14T07:59:00.000Z"
    assert published["pool_3"]["cached"] is True and "usage_error" not in published["pool_3"]
    assert report.usage_failures == {"timeout": ["pool_0", "pool_2"], "http 500": ["pool_1"]}
    assert sorted(r.getMessage().split(": ")[1] for r in caplog.records) == ["http 500", "timeout"]


def test_an_uncached_pool_counts_as_not_cached_and_is_still_published() -> None:
    answers = usages() | {"pool_2": {}}
    publisher = FakePublisher()

    report = run_cycle(FakeFrontend(ENTRIES, answers), publisher, at=AT, concurrency=1)

    assert report.not_cached == 1 and report.published == 4
    assert values(publisher)["pool_2"]["cached"] is False


def test_every_usage_failing_is_dcache_failing_and_publishes_nothing() -> None:
    answers = {e["name"]: FrontendError("unreachable", "refused") for e in ENTRIES}
    publisher = FakePublisher()

    report = run_cycle(FakeFrontend(ENTRIES, answers), publisher, at=AT, concurrency=2)

    assert report.failed and publisher.published == []
    assert "no pool's usage could be read (unreachable)" in str(report.error)


def test_a_stop_while_asking_publishes_nothing_and_asks_no_further() -> None:
    stop = threading.Event()
    frontend = FakeFrontend(ENTRIES, usages())
    asked_first = frontend.usage

    def usage_then_stop(pool: str) -> Answer:
        stop.set()
        return asked_first(pool)

    frontend.usage = usage_then_stop  # type: ignore[method-assign]
    publisher = FakePublisher()

    report = run_cycle(frontend, publisher, at=AT, concurrency=1, stop=stop)

    assert report.failed and publisher.published == []
    assert frontend.asked == ["pool_0"]


def test_kafka_refusing_the_cycle_fails_it() -> None:
    publisher = FakePublisher(PublishError("topic 'dcache-poolinfo': 4 of 4 not delivered"))

    report = run_cycle(FakeFrontend(ENTRIES, usages()), publisher, at=AT, concurrency=2)

    assert report.failed and "not delivered" in str(report.error)
    assert report.published == 0


def test_no_pools_is_a_successful_empty_cycle() -> None:
    publisher = FakePublisher()

    report = run_cycle(FakeFrontend([], {}), publisher, at=AT, concurrency=2)

    assert not report.failed and publisher.published == [[]]
