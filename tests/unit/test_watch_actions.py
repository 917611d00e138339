"""Actions run real commands with the issue's values as data: no shell, ever, whatever they hold."""

from __future__ import annotations

import signal
import subprocess
import sys
import time
from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from esbridge.argv import render_command
from esbridge.stack import process
from esbridge.watch.actions import (
    END_GRACE,
    OUTPUT_LIMIT,
    execute,
    plan_action,
    run_action,
    settle_crash,
    with_entries,
)
from esbridge.watch.lifecycle import HISTORY_MAX, Issue, Occurrence, Subject, Transition, observe
from esbridge.watch.policy import RulePolicy

NOW = datetime(2025, 3, 1, 12, 0, tzinfo=UTC)
ECHO_ARGS = [sys.executable, "-c", "import sys; print(repr(sys.argv[1:]))"]

HOSTILE = [
    "; rm -rf /",
    "$(touch PWNED)",
    "`touch PWNED`",
    "pool1\ntouch PWNED",
    "it's \"quoted\" 'twice'",
    "&& touch PWNED || touch PWNED | tee PWNED > PWNED",
    "* ? ~ $HOME ${HOME} {subject} {{",
    "ünï©ødé\t\r",
]


@dataclass(frozen=True)
class Spec:
    command: tuple[str, ...]
    rate_limit: float = 0.0
    timeout: float = 10.0
    rerun_after_crash: bool = False


def test_placeholders_fill_inside_arguments_without_splitting() -> None:
    command = ["ssh", "{host}", "dcache pool disable {pool} --reason='{why}'", "{{literal}}"]
    values = {"host": "pool-host", "pool": "pool 1", "why": "a b"}

    assert render_command(command, values) == [
        "ssh",
        "pool-host",
        "dcache pool disable pool 1 --reason='a b'",
        "{literal}",
    ]


def test_a_filled_in_value_is_never_read_again_for_placeholders() -> None:
    assert render_command(["{a}", "{b}"], {"a": "{b}", "b": "{{x}}"}) == ["{b}", "{{x}}"]


@pytest.mark.parametrize(
    ("command", "message"),
    [
        (["restart", "{pool}"], r"unknown placeholder \{pool\} in '\{pool\}'; known: \{subject\}"),
        (["restart", "{subject"], "unpaired '{'"),
        (["restart", "subject}"], "unpaired '}'"),
        (["restart", "{sub.ject}"], "unpaired '{'"),
        ([], "needs a command"),
    ],
)
def test_bad_templates_are_clear_errors(command: list[str], message: str) -> None:
    with pytest.raises(ValueError, match=message):
        render_command(command, {"subject": "pool1"})


@pytest.mark.parametrize("hostile", HOSTILE)
def test_hostile_values_arrive_as_one_literal_argument(
    hostile: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    spec = Spec((*ECHO_ARGS, "{subject}", "--pool={subject}"))

    result = run_action(spec, {"subject": hostile}, dry_run=False, now=NOW, last_run=None)

    assert result.ran
    assert result.reason is None
    assert result.exit_code == 0
    assert result.output == repr([hostile, f"--pool={hostile}"]) + "\n"
    assert result.argv == (*ECHO_ARGS, hostile, f"--pool={hostile}")
    assert list(tmp_path.iterdir()) == []


def test_a_nul_byte_cannot_start_the_command() -> None:
    spec = Spec((*ECHO_ARGS, "{subject}"))

    result = run_action(
        spec, {"subject": "pool\x00; touch PWNED"}, dry_run=False, now=NOW, last_run=None
    )

    assert (result.ran, result.exit_code) == (False, None)
    assert result.reason is not None
    assert "cannot start" in result.reason


def test_exit_code_and_both_output_streams_are_captured() -> None:
    script = (
        "import sys; print('out', flush=True); print('err', file=sys.stderr, flush=True); "
        "sys.exit(3)"
    )
    result = run_action(
        Spec((sys.executable, "-c", script)), {}, dry_run=False, now=NOW, last_run=None
    )

    assert (result.ran, result.reason, result.exit_code) == (True, None, 3)
    assert result.output.splitlines() == ["out", "err"]


def test_long_output_keeps_its_end() -> None:
    script = "print('x' * 10000, end=''); print('the error', end='')"
    result = run_action(
        Spec((sys.executable, "-c", script)), {}, dry_run=False, now=NOW, last_run=None
    )

    assert result.output.startswith(f"[first {10009 - OUTPUT_LIMIT} bytes cut]\n")
    assert result.output.endswith("x" * (OUTPUT_LIMIT - 9) + "the error")


def test_the_environment_is_minimal(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("ESBRIDGE_ES_PASSWORD", "secret")
    script = "import os; print(sorted(os.environ))"
    result = run_action(
        Spec((sys.executable, "-c", script)), {}, dry_run=False, now=NOW, last_run=None
    )

    assert "ESBRIDGE_ES_PASSWORD" not in result.output
    assert "'PATH'" in result.output


def test_a_missing_program_is_reported_not_raised() -> None:
    result = run_action(
        Spec(("/nonexistent/restart-pool", "{subject}")),
        {"subject": "pool1"},
        dry_run=False,
        now=NOW,
        last_run=None,
    )

    assert not result.ran
    assert result.reason is not None
    assert result.reason.startswith("cannot start '/nonexistent/restart-pool'")


def test_a_timeout_kills_the_command_and_what_it_started() -> None:
    # The grandchild holds the output pipe: only killing the whole group lets the run return.
    script = (
        "import subprocess, sys, time; "
        "child = subprocess.Popen([sys.executable, '-c', 'import time; time.sleep(60)']); "
        "print(child.pid, flush=True); time.sleep(60)"
    )
    result = run_action(
        Spec((sys.executable, "-c", script), timeout=1.0),
        {},
        dry_run=False,
        now=NOW,
        last_run=None,
    )

    assert result.ran
    assert result.exit_code is None
    assert result.reason == "timed out after 1s and was killed"
    grandchild = int(result.output)
    for _ in range(100):  # killed at once; only reaping by init may lag
        if not process.alive(grandchild):
            break
        time.sleep(0.05)
    assert not process.alive(grandchild)


def test_dry_run_renders_but_does_not_run(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    spec = Spec((sys.executable, "-c", "open('RAN', 'w')", "{subject}"))

    result = run_action(spec, {"subject": "pool1"}, dry_run=True, now=NOW, last_run=None)

    assert (result.ran, result.reason, result.exit_code, result.output) == (
        False,
        "dry run",
        None,
        "",
    )
    assert result.argv == (sys.executable, "-c", "open('RAN', 'w')", "pool1")
    assert not (tmp_path / "RAN").exists()


def test_rate_limit_skips_a_subject_that_ran_recently(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    spec = Spec((sys.executable, "-c", "open('RAN', 'w')"), rate_limit=600)

    recent = run_action(spec, {}, dry_run=False, now=NOW, last_run=NOW - timedelta(seconds=599))
    assert not recent.ran
    assert recent.reason == "rate limited: ran 599s ago for this subject, at most once per 600s"
    assert not (tmp_path / "RAN").exists()

    later = run_action(spec, {}, dry_run=False, now=NOW, last_run=NOW - timedelta(seconds=600))
    assert later.ran
    assert later.exit_code == 0
    assert (tmp_path / "RAN").exists()


def test_rate_limit_applies_before_dry_run() -> None:
    spec = Spec(("true",), rate_limit=60)

    result = run_action(spec, {}, dry_run=True, now=NOW, last_run=NOW - timedelta(seconds=1))

    assert result.reason is not None
    assert result.reason.startswith("rate limited")


# --- start and end in the history, and after a crash ------------------------------------------

ARGV = ("restart-pool", "pool1")
POLICY = RulePolicy(
    rule="pool-disabled",
    type="PoolDisabled",
    status_class="normal",
    notification_delay=timedelta(minutes=10),
    stale_after=timedelta(days=7),
    finalize_after=timedelta(days=1),
    delete_after=timedelta(hours=1),
    ttl=timedelta(hours=1),
)
OPENED = NOW - timedelta(hours=1)
CRASH_SPEC = Spec(("restart-pool", "{pool}"), rate_limit=3600, timeout=60)
OVERDUE = timedelta(seconds=60) + END_GRACE


def issue(opened: datetime = OPENED) -> Issue:
    pool = Subject("pool1", "pool1")
    return observe(None, Occurrence(opened, "Pool mode changed to disabled()", pool), POLICY)


def started(at: datetime, base: Issue | None = None) -> Issue:
    plan = plan_action(base or issue(), CRASH_SPEC, ARGV, now=at, last_run=None)
    assert plan.run
    return with_entries(base or issue(), plan.entries)


def ended(at: datetime, base: Issue) -> Issue:
    return with_entries(base, (Transition(at, "unresolved", "unresolved", "x", action="ended"),))


def test_a_run_starts_with_an_entry_in_the_history() -> None:
    plan = plan_action(issue(), CRASH_SPEC, ARGV, now=NOW, last_run=None)

    assert (plan.run, plan.reason) == (True, None)
    assert [(e.at, e.action, e.reason) for e in plan.entries] == [
        (NOW, "started", "action restart-pool pool1: started")
    ]


def test_a_run_that_ended_is_followed_by_the_rate_limit_only() -> None:
    done = ended(NOW + timedelta(seconds=5), started(NOW))

    soon = plan_action(done, CRASH_SPEC, ARGV, now=NOW + timedelta(minutes=5), last_run=NOW)
    later = plan_action(done, CRASH_SPEC, ARGV, now=NOW + timedelta(hours=1), last_run=NOW)

    assert (soon.run, soon.entries) == (False, ())
    assert soon.reason is not None and soon.reason.startswith("rate limited")
    assert later.run


def test_a_start_without_an_end_within_its_timeout_is_left_to_its_watcher() -> None:
    running = started(NOW)
    limit_off = replace(CRASH_SPEC, rate_limit=0)

    plan = plan_action(
        running, limit_off, ARGV, now=NOW + OVERDUE - timedelta(seconds=1), last_run=NOW
    )

    assert (plan.run, plan.entries) == (False, ())
    assert plan.reason == "started at 2025-03-01T12:00:00.000Z, may still be running"
    assert settle_crash(running, limit_off, NOW + OVERDUE - timedelta(seconds=1)) == running


def test_a_start_without_an_end_past_its_timeout_is_an_unknown_outcome_not_repeated() -> None:
    crashed = started(NOW)
    later = NOW + OVERDUE
    limit_off = replace(CRASH_SPEC, rate_limit=0)

    plan = plan_action(crashed, limit_off, ARGV, now=later, last_run=NOW)

    assert not plan.run
    assert plan.reason == (
        "the run started at 2025-03-01T12:00:00.000Z has an unknown outcome; not repeated "
        "(action.rerun_after_crash: false)"
    )
    [note] = plan.entries
    assert (note.at, note.action, note.from_status, note.to) == (
        later,
        "unknown",
        "unresolved",
        "unresolved",
    )
    assert note.reason.startswith("action started at 2025-03-01T12:00:00.000Z: outcome unknown")
    assert "not repeated automatically (action.rerun_after_crash: false)" in note.reason


def test_an_unknown_outcome_is_recorded_once_and_keeps_blocking_in_its_episode() -> None:
    settled = settle_crash(started(NOW), CRASH_SPEC, NOW + OVERDUE)

    assert settle_crash(settled, CRASH_SPEC, NOW + OVERDUE * 2) == settled
    plan = plan_action(settled, CRASH_SPEC, ARGV, now=NOW + timedelta(days=2), last_run=NOW)
    assert (plan.run, plan.entries) == (False, ())
    assert plan.reason is not None and "unknown outcome" in plan.reason


def test_rerun_after_crash_runs_again_despite_the_rate_limit() -> None:
    rerun = replace(CRASH_SPEC, rerun_after_crash=True)
    later = NOW + OVERDUE

    plan = plan_action(started(NOW), rerun, ARGV, now=later, last_run=NOW)

    assert plan.run
    assert [e.action for e in plan.entries] == ["unknown", "started"]
    assert "repeated at its next notification (action.rerun_after_crash: true)" in (
        plan.entries[0].reason
    )


def test_a_new_episode_runs_again_after_an_unknown_outcome() -> None:
    settled = settle_crash(started(NOW), CRASH_SPEC, NOW + OVERDUE)
    reopened = replace(settled, opened_at=NOW + timedelta(hours=2))

    plan = plan_action(reopened, CRASH_SPEC, ARGV, now=NOW + timedelta(hours=3), last_run=NOW)

    assert plan.run
    assert [e.action for e in plan.entries] == ["started"]


def test_a_crash_is_recorded_in_a_full_history_too() -> None:
    busy = with_entries(
        issue(),
        [Transition(OPENED, "unresolved", "unresolved", f"note {n}") for n in range(HISTORY_MAX)],
    )

    plan = plan_action(started(NOW, busy), CRASH_SPEC, ARGV, now=NOW + OVERDUE, last_run=NOW)

    assert [e.action for e in plan.entries] == ["unknown"]
    assert not plan.run


def test_the_action_events_survive_the_document() -> None:
    settled = settle_crash(started(NOW), CRASH_SPEC, NOW + OVERDUE)

    assert Issue.from_doc(settled.to_doc()) == settled
    assert [t["action"] for t in settled.to_doc()["history"]] == [None, "started", "unknown"]


# --- the run dies with its watcher ------------------------------------------------------------

STAND_IN = """
import sys
from esbridge.watch.actions import execute
execute(tuple(sys.argv[1:]), 60.0)
"""
"""A watcher in miniature: runs one action and is killed during it."""


def test_a_killed_watcher_takes_its_action_and_what_it_started_with_it(tmp_path: Path) -> None:
    pids = tmp_path / "pids"
    script = (
        "import subprocess, sys, time; "
        "child = subprocess.Popen([sys.executable, '-c', 'import time; time.sleep(60)']); "
        f"open({str(pids)!r}, 'w').write(f'{{__import__(\"os\").getpid()}} {{child.pid}}'); "
        "time.sleep(60)"
    )
    watcher = subprocess.Popen([sys.executable, "-c", STAND_IN, sys.executable, "-c", script])
    try:
        for _ in range(400):
            if pids.exists() and len(pids.read_text().split()) == 2:
                break
            time.sleep(0.05)
        action, grandchild = map(int, pids.read_text().split())
        assert process.alive(action) and process.alive(grandchild)
    finally:
        watcher.kill()
        watcher.wait()
    for _ in range(100):  # SIGKILLed at once by the supervisor; only reaping by init may lag
        if not process.alive(action) and not process.alive(grandchild):
            break
        time.sleep(0.05)
    assert not process.alive(action)
    assert not process.alive(grandchild)


def test_an_action_killed_by_a_signal_is_reported_as_such() -> None:
    script = "import os, signal; os.kill(os.getpid(), signal.SIGTERM)"

    result = execute((sys.executable, "-c", script), 10.0)

    assert (result.ran, result.exit_code) == (True, -signal.SIGTERM)
