"""Running a rule's action for an issue (e.g. restarting a pool), without ever involving a shell.

The command is an argument list. Placeholders such as `{subject}` are filled inside each
argument with the issue's value exactly as it is, and the result goes straight to execve: a
subject like `; rm -rf /`, `$(...)` or one with a newline reaches the program as one literal
argument. The child gets no stdin and a minimal environment (so secrets passed to esbridge
through its environment stay there).

Each run has its own process group, and dies with the watcher. The command runs under a small
supervisor (`supervisor.py`) that leads the group and holds a lifeline pipe to the watcher:
when the watcher ends in any way, SIGKILL included, the kernel closes the pipe and the
supervisor SIGKILLs the whole group. A timeout kills the same group from the watcher. Why not
`PR_SET_PDEATHSIG` in a `preexec_fn`: it reaches only the direct child (a script's own children
would live on), it fires when the forking *thread* ends rather than the process, it is
Linux-only, and `preexec_fn` is unsafe in a process with threads. What still escapes: a command
that leaves its process group (`setsid`) on purpose, and anything it left running after it
exited while the watcher died before the run returned.

A run is recorded in the issue's history when it starts and when it ends (`plan_action`,
`settle_crash`): a restarted watcher that finds a start without an end knows the watcher running
it died, says so in the issue, and does not run it again unless the rule allows it.
"""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from pathlib import Path
from typing import Protocol

from esbridge.argv import render_command
from esbridge.utc import format_utc
from esbridge.watch import supervisor
from esbridge.watch.lifecycle import HISTORY_MAX, Issue, Transition

OUTPUT_LIMIT = 4096
"""Bytes of output kept (the last ones: that is where errors are); the rest is cut."""

END_GRACE = timedelta(seconds=60)
"""How long after a run's timeout its watcher may still take to record the end (a slow write,
client retries): only later is a start without an end taken for a dead watcher."""

SUPERVISOR = Path(supervisor.__file__)


class ActionSpec(Protocol):
    """What a rule says about its action; the watch config's action model satisfies it."""

    @property
    def command(self) -> Sequence[str]:
        """The argument list, with `{name}` placeholders and `{{`/`}}` for literal braces."""

    @property
    def rate_limit(self) -> float:
        """Seconds that must pass between two runs for the same subject; 0 for no limit."""

    @property
    def timeout(self) -> float:
        """Seconds before the command and everything it started are killed."""

    @property
    def rerun_after_crash(self) -> bool:
        """Whether a run of unknown outcome (its watcher died) is repeated."""


@dataclass(frozen=True)
class ActionResult:
    """What happened, for the issue's history; `argv` is always the command as rendered.

    `ran` says whether the command was started; `reason` explains a skip, a start failure or a
    timeout (and is None for a normal exit); `exit_code` is None unless the command exited.
    """

    ran: bool
    reason: str | None
    exit_code: int | None
    output: str
    argv: tuple[str, ...]


@dataclass(frozen=True)
class ActionPlan:
    """What to do about an issue's action now: `run` it or not (`reason` says why not), after
    adding `entries` to its history (a crash found, the start of this run)."""

    run: bool
    reason: str | None
    entries: tuple[Transition, ...] = ()


def run_action(
    spec: ActionSpec,
    values: Mapping[str, str],
    *,
    dry_run: bool,
    now: datetime,
    last_run: datetime | None,
) -> ActionResult:
    """Run `spec` for one issue unless it ran for this subject within `spec.rate_limit`.

    `last_run` is when it last ran for this issue's subject (None: never); with `dry_run` the
    command is only rendered. Raises ValueError when the command cannot be rendered.
    """
    argv = tuple(render_command(spec.command, values))
    if (limited := rate_limited(spec, now, last_run)) is not None:
        return ActionResult(False, limited, None, "", argv)
    if dry_run:
        return ActionResult(False, "dry run", None, "", argv)
    return execute(argv, spec.timeout)


def rate_limited(spec: ActionSpec, now: datetime, last_run: datetime | None) -> str | None:
    """Why a run now would come too soon after `last_run`, or None if it may run."""
    if last_run is None or (elapsed := (now - last_run).total_seconds()) >= spec.rate_limit:
        return None
    return (
        f"rate limited: ran {elapsed:.0f}s ago for this subject, "
        f"at most once per {spec.rate_limit:g}s"
    )


def settle_crash(issue: Issue, spec: ActionSpec, now: datetime) -> Issue:
    """`issue` with its last run's outcome recorded as unknown if that run started and never
    ended, and cannot be running any more: its timeout and `END_GRACE` are past, so the watcher
    running it died (its run died with it) or lost Elasticsearch before recording the end."""
    note = _crash_note(issue, spec, now)
    return issue if note is None else with_entries(issue, (note,))


def _crash_note(issue: Issue, spec: ActionSpec, now: datetime) -> Transition | None:
    last = _last_action(issue)
    if last is None or last.action != "started" or now < last.at + _overdue(spec):
        return None
    rerun = spec.rerun_after_crash
    then = "repeated at its next notification" if rerun else "not repeated automatically"
    reason = (
        f"action started at {format_utc(last.at)}: outcome unknown, its end was never recorded "
        f"(the watcher running it stopped); {then} "
        f"(action.rerun_after_crash: {str(rerun).lower()})"
    )
    return Transition(now, issue.status, issue.status, reason, action="unknown")


def plan_action(
    issue: Issue, spec: ActionSpec, argv: Sequence[str], *, now: datetime, last_run: datetime | None
) -> ActionPlan:
    """Whether to run `spec` (rendered as `argv`) for `issue` now, from what its history says.

    - a run started and not ended that may still be running (within its timeout and
      `END_GRACE`): wait, another watcher has it;
    - a run of unknown outcome (see `settle_crash`) in the current episode (it started after
      `opened_at`): run again only with `rerun_after_crash`, and then regardless of the rate
      limit, as that run is being replaced rather than repeated;
    - otherwise run, unless `last_run` is within `rate_limit`.

    A run's plan holds its start entry, so that the write recording it decides who runs.
    """
    note = _crash_note(issue, spec, now)
    found = () if note is None else (note,)
    settled = with_entries(issue, found)
    last = _last_action(settled)
    if last is not None and last.action == "started":
        return ActionPlan(False, f"started at {format_utc(last.at)}, may still be running")
    start = _last_start(settled)
    unknown = last is not None and last.action == "unknown"
    if unknown and start is not None and start.at >= issue.opened_at:
        if not spec.rerun_after_crash:
            why = f"the run started at {format_utc(start.at)} has an unknown outcome; not repeated"
            return ActionPlan(False, f"{why} (action.rerun_after_crash: false)", found)
    elif (limited := rate_limited(spec, now, last_run)) is not None:
        return ActionPlan(False, limited, found)
    started = Transition(
        now, issue.status, issue.status, f"action {' '.join(argv)}: started", action="started"
    )
    return ActionPlan(True, None, (*found, started))


def with_entries(issue: Issue, entries: Sequence[Transition]) -> Issue:
    """`issue` with `entries` appended to its history (the latest `HISTORY_MAX` kept)."""
    return replace(issue, history=(*issue.history, *entries)[-HISTORY_MAX:])


def _last_action(issue: Issue) -> Transition | None:
    return next((t for t in reversed(issue.history) if t.action is not None), None)


def _last_start(issue: Issue) -> Transition | None:
    return next((t for t in reversed(issue.history) if t.action == "started"), None)


def _overdue(spec: ActionSpec) -> timedelta:
    return timedelta(seconds=spec.timeout) + END_GRACE


def execute(argv: tuple[str, ...], timeout: float) -> ActionResult:
    """Run `argv` under the supervisor, in its own process group, killed after `timeout`."""
    lifeline, keep = os.pipe()
    try:
        process = subprocess.Popen(
            [sys.executable, "-I", "-S", str(SUPERVISOR), str(lifeline), *argv],
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            env=_environment(),
            start_new_session=True,
            pass_fds=(lifeline,),
        )
    except (OSError, ValueError) as exc:  # ValueError: a NUL byte, which no argument can hold
        os.close(keep)
        return ActionResult(False, f"cannot start {argv[0]!r}: {exc}", None, "", argv)
    finally:
        os.close(lifeline)
    try:
        output, errors = process.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(process.pid, signal.SIGKILL)
        output, errors = process.communicate()
        reason = f"timed out after {timeout:g}s and was killed"
        return ActionResult(True, reason, None, _tail(output + errors), argv)
    finally:
        os.close(keep)
    complaint = errors.decode(errors="replace").strip()
    if process.returncode == supervisor.CANNOT_START and complaint.startswith(
        supervisor.CANNOT_START_PREFIX
    ):
        return ActionResult(False, complaint, None, "", argv)
    return ActionResult(True, None, process.returncode, _tail(output + errors), argv)


def _environment() -> dict[str, str]:
    keep = {name: os.environ[name] for name in ("HOME", "USER", "LOGNAME") if name in os.environ}
    return {"PATH": os.environ.get("PATH", os.defpath), "LANG": "C.UTF-8", **keep}


def _tail(output: bytes) -> str:
    if len(output) <= OUTPUT_LIMIT:
        return output.decode(errors="replace")
    cut = len(output) - OUTPUT_LIMIT
    return f"[first {cut} bytes cut]\n" + output[cut:].decode(errors="replace")
