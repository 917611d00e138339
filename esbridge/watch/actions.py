"""Running a rule's action for an issue (e.g. restarting a pool), without ever involving a shell.

The command is an argument list. Placeholders such as `{subject}` are filled inside each
argument with the issue's value exactly as it is, and the result goes straight to execve: a
subject like `; rm -rf /`, `$(...)` or one with a newline reaches the program as one literal
argument. The child gets no stdin, a minimal environment (so secrets passed to esbridge through
its environment stay there) and its own process group, so a timeout kills everything it started.
"""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Protocol

from esbridge.argv import render_command

OUTPUT_LIMIT = 4096
"""Bytes of output kept (the last ones: that is where errors are); the rest is cut."""


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
    if last_run is not None and (elapsed := (now - last_run).total_seconds()) < spec.rate_limit:
        reason = (
            f"rate limited: ran {elapsed:.0f}s ago for this subject, "
            f"at most once per {spec.rate_limit:g}s"
        )
        return ActionResult(False, reason, None, "", argv)
    if dry_run:
        return ActionResult(False, "dry run", None, "", argv)
    return _execute(argv, spec.timeout)


def _execute(argv: tuple[str, ...], timeout: float) -> ActionResult:
    try:
        process = subprocess.Popen(
            argv,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            env=_environment(),
            start_new_session=True,
        )
    except (OSError, ValueError) as exc:  # ValueError: a NUL byte, which no argument can hold
        return ActionResult(False, f"cannot start {argv[0]!r}: {exc}", None, "", argv)
    try:
        output, _ = process.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(process.pid, signal.SIGKILL)
        output, _ = process.communicate()
        reason = f"timed out after {timeout:g}s and was killed"
        return ActionResult(True, reason, None, _tail(output), argv)
    return ActionResult(True, None, process.returncode, _tail(output), argv)


def _environment() -> dict[str, str]:
    keep = {name: os.environ[name] for name in ("HOME", "USER", "LOGNAME") if name in os.environ}
    return {"PATH": os.environ.get("PATH", os.defpath), "LANG": "C.UTF-8", **keep}


def _tail(output: bytes) -> str:
    if len(output) <= OUTPUT_LIMIT:
        return output.decode(errors="replace")
    cut = len(output) - OUTPUT_LIMIT
    return f"[first {cut} bytes cut]\n" + output[cut:].decode(errors="replace")
