"""The reactor loop's delivery rules over small fakes: what is committed when, what becomes a
dead letter, and that a run is never started for a message that does not match."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import pytest

from esbridge.config.react import ReactorConfig
from esbridge.ingest.message import Message
from esbridge.react.actions import Outcome
from esbridge.react.runner import ReactorLoop, Work
from tests.helpers.reacting import PREFIX, billing_request
from tests.helpers.seams import FakeClock, FakeSource

OK = Outcome("ok", 1, 0, "", None)
FAILED = Outcome("failed", 2, 1, "Exception during scan", "exit code 1")
ABANDONED = Outcome("abandoned", 1, None, "", "stopped")


def reactor(**overrides: Any) -> ReactorConfig:
    spec: dict[str, Any] = {
        "name": "scan",
        "producer": "billing",
        "match": [{"field": "moverInfo.isWrite", "equals": "write"}],
        "path": {"strip_prefix": PREFIX, "only": "/[^/]+/files/.+"},
        "action": {"command": {"argv": ["occ", "files:scan", "--shallow", "--path={parent}"]}},
        "coalesce": 5,
    }
    return ReactorConfig.model_validate(spec | overrides)


def write(offset: int, path: str, partition: int = 0, **kwargs: Any) -> Message:
    return Message("billing", partition, offset, billing_request(PREFIX + path, **kwargs))


@dataclass
class Sink:
    stored: dict[str, dict[str, Any]] = field(default_factory=dict)
    failing: bool = False

    def write(self, documents: list[tuple[str, dict[str, Any]]]) -> None:
        if self.failing:
            raise OSError("connection refused")
        self.stored.update(documents)


@dataclass
class Rig:
    loop: ReactorLoop
    source: FakeSource
    clock: FakeClock
    sink: Sink
    jobs: list[Callable[[], None]]
    ran: list[tuple[str, ...]]

    def step(self, times: int = 1) -> None:
        for _ in range(times):
            self.loop.step(0)

    def run_jobs(self, order: list[int] | None = None) -> None:
        chosen = order if order is not None else list(range(len(self.jobs)))
        jobs = [self.jobs[i] for i in chosen]
        self.jobs[:] = [job for i, job in enumerate(self.jobs) if i not in chosen]
        for job in jobs:
            job()

    def committed(self) -> dict[tuple[str, int], int]:
        return self.source.committed()


def rig(
    messages: list[Message],
    outcomes: dict[str, Outcome] | None = None,
    partitions: int = 1,
    **overrides: Any,
) -> Rig:
    clock, sink, jobs, ran = FakeClock(), Sink(), [], []
    source = FakeSource(backlog=messages, partitions={("billing", p) for p in range(partitions)})

    def perform(work: Work) -> Outcome:
        assert work.argv is not None
        ran.append(work.argv)
        return (outcomes or {}).get(work.argv[-1].removeprefix("--path="), OK)

    loop = ReactorLoop(reactor(**overrides), ["billing"], source, perform, sink, clock=clock,
                       spawn=jobs.append)  # fmt: skip
    return Rig(loop, source, clock, sink, jobs, ran)


def test_messages_that_match_nothing_are_committed_at_once() -> None:
    r = rig([write(0, "alice/files/a/x", is_write="read"), write(1, "alice/cache/x"),
             Message("billing", 0, 2, None)])  # fmt: skip
    r.step(2)
    assert r.committed() == {("billing", 0): 3}
    assert r.ran == []
    assert r.jobs == []


def test_offsets_wait_for_the_action_of_every_earlier_matching_message() -> None:
    r = rig([write(0, "alice/files/a/x"), write(1, "alice/files/a/y", is_write="read"),
             write(2, "bob/files/b/z")])  # fmt: skip
    r.step()
    assert r.committed() == {}, "offset 0 is pending"
    r.clock.advance(5)
    r.step()
    assert len(r.jobs) == 1, "concurrency 1: one run at a time"
    r.run_jobs()
    r.step()
    assert r.committed() == {("billing", 0): 2}, "up to the next pending one, offset 2"
    r.run_jobs()
    r.step()
    assert r.committed() == {("billing", 0): 3}
    assert r.ran == [("occ", "files:scan", "--shallow", "--path=/alice/files/a"),
                     ("occ", "files:scan", "--shallow", "--path=/bob/files/b")]  # fmt: skip


def test_files_in_one_folder_within_the_window_make_one_run() -> None:
    r = rig([write(i, f"alice/files/Photos/{i}.jpg", partition=i % 2) for i in range(6)],
            partitions=2)  # fmt: skip
    r.step()
    r.clock.advance(5)
    r.step()
    r.run_jobs()
    r.step()
    assert r.ran == [("occ", "files:scan", "--shallow", "--path=/alice/files/Photos")]
    assert r.committed() == {("billing", 0): 5, ("billing", 1): 6}


def test_a_later_run_finishing_first_does_not_move_the_commit_past_an_earlier_one() -> None:
    r = rig([write(0, "a/files/x/1"), write(1, "b/files/y/2")],
            action={"command": {"argv": ["occ", "--path={parent}"], "concurrency": 2}})  # fmt: skip
    r.step()
    r.clock.advance(5)
    r.step()
    assert len(r.jobs) == 2
    r.run_jobs(order=[1])
    r.step()
    assert r.committed() == {}, "offset 0 still running"
    r.run_jobs()
    r.step()
    assert r.committed() == {("billing", 0): 2}


def test_a_failure_for_good_is_committed_only_once_its_dead_letter_is_stored() -> None:
    r = rig([write(7, "alice/files/a/x")], outcomes={"/alice/files/a": FAILED})
    r.sink.failing = True
    r.step()
    r.clock.advance(5)
    r.step()
    r.run_jobs()
    r.step(3)
    assert r.committed() == {("billing", 0): 7}, "not past 7: its dead letter is not stored"
    r.sink.failing = False
    r.step()
    assert r.committed() == {("billing", 0): 8}
    letter = r.sink.stored["scan-billing-0-7"]
    assert letter["argv"] == ["occ", "files:scan", "--shallow", "--path=/alice/files/a"]
    assert (letter["exit_code"], letter["attempts"], letter["reason"]) == (1, 2, "exit code 1")
    assert letter["output"] == "Exception during scan"
    assert letter["kafka"] == {"topic": "billing", "partition": 0, "offset": 7}


@pytest.mark.parametrize(
    ("value", "reason"),
    [
        (billing_request(PREFIX + "../../etc/passwd"), "climbs out"),
        (billing_request(PREFIX + "alice/files/a\nb/c"), "U+000A"),
        (billing_request(b"/pnfs/desy.de/sync/al\xffce/files/a/b"), "not a JSON object in UTF-8"),
        (b"not json", "not a JSON object"),
    ],
)
def test_a_refused_message_becomes_a_dead_letter_and_runs_nothing(
    value: bytes, reason: str
) -> None:
    r = rig([Message("billing", 0, 0, value)])
    r.step()
    r.clock.advance(5)
    r.step(2)
    assert r.jobs == []
    assert r.committed() == {("billing", 0): 1}
    (letter,) = r.sink.stored.values()
    assert reason in letter["reason"]
    assert "argv" not in letter
    assert letter["original"] == value.decode(errors="replace")


def test_an_argument_that_would_be_an_option_is_refused() -> None:
    r = rig([write(0, "alice/files/-rf")], action={"command": {"argv": ["rm", "{name}"]}})
    r.step(2)
    assert r.jobs == []
    assert "read as an option" in next(iter(r.sink.stored.values()))["reason"]


def test_an_abandoned_run_leaves_its_messages_uncommitted() -> None:
    r = rig([write(0, "alice/files/a/x"), write(1, "alice/files/a/z", is_write="read")],
            outcomes={"/alice/files/a": ABANDONED})  # fmt: skip
    r.step()
    r.clock.advance(5)
    r.step()
    r.run_jobs()
    r.step(2)
    assert r.committed() == {}
    assert r.sink.stored == {}
    assert r.loop.ledger.pending() == 1


def test_a_revoked_partition_is_forgotten_after_committing_what_is_finished() -> None:
    r = rig([write(0, "x", is_write="read"), write(1, "alice/files/a/x")])
    r.step()
    assert r.source.on_revoked is not None
    r.source.on_revoked({("billing", 0)})
    assert r.committed() == {("billing", 0): 1}
    assert r.loop.ledger.pending() == 0


def test_dry_run_prints_what_it_would_run_and_commits_nothing(
    capsys: pytest.CaptureFixture[str],
) -> None:
    clock, source, ran = FakeClock(), FakeSource(backlog=[write(0, "alice/files/it's a b/x")]), []
    loop = ReactorLoop(reactor(), ["billing"], source, lambda w: ran.append(w) or OK, None,
                       clock=clock, echo=None)  # fmt: skip
    import io  # noqa: PLC0415

    out = io.StringIO()
    loop.echo = out
    loop.step(0)
    clock.advance(5)
    loop.step(0)
    loop.step(0)
    assert out.getvalue() == (
        '["occ", "files:scan", "--shallow", "--path=/alice/files/it\'s a b"]\n'
    )
    assert ran == []
    assert source.commits == []


def test_an_action_that_raises_fails_into_a_dead_letter_instead_of_stalling() -> None:
    source = FakeSource(backlog=[write(0, "alice/files/a/x")])

    def perform(work: Work) -> Outcome:
        raise RuntimeError("boom")

    sink = Sink()
    loop = ReactorLoop(reactor(coalesce=0), ["billing"], source, perform, sink, clock=FakeClock(),
                       spawn=lambda job: job())  # fmt: skip
    loop.step(0)
    loop.step(0)
    assert source.committed() == {("billing", 0): 1}
    assert next(iter(sink.stored.values()))["reason"] == "esbridge error: boom"


def test_run_loops_exits_when_idle_and_cleans_up_after_an_error() -> None:
    import threading  # noqa: PLC0415

    from esbridge.react.runner import run_loops  # noqa: PLC0415

    r = rig([write(0, "x", is_write="read")])
    stopped: list[bool] = []
    assert (
        run_loops([r.loop], threading.Event(), idle_exit=0, on_stop=lambda: stopped.append(True))
        == 0
    )
    assert (stopped, r.source.closed, r.committed()) == ([True], True, {("billing", 0): 1})

    broken = rig([])

    def fail(timeout: float, max_records: int) -> list[Message]:
        raise OSError("Kafka is gone")

    broken.source.poll = fail  # type: ignore[method-assign]
    with pytest.raises(OSError, match="gone"):
        run_loops([broken.loop], threading.Event(), on_stop=lambda: stopped.append(True))
    assert stopped == [True, True]
    assert broken.source.closed
