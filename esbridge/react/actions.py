"""Running a reactor's action for one target, judging the run and retrying it with backoff.

A command is an argument list rendered per element (`esbridge.argv`) and handed to execve: a
path such as `a; rm -rf /`, `$(id)` or one with quotes or spaces reaches the program as one
literal argument, and no shell is ever involved (`sudo ... sh -c` neither: another account is
taken through the child's own uid and gid, which needs react to run as root). An argument that
starts with `-` where its template does not is refused, as it would be read as an option.

Each run goes through the watcher's supervisor (`esbridge.watch.supervisor`): its own process
group, killed with react however react ends, SIGKILL included; a timeout or a stop kills the
group. With `user:` the supervisor switches the command's uid and gid (and drops supplementary
groups) as it starts it. The child gets no stdin and a minimal environment.

`judge` and `run_with_retries` are pure over their seams (a runner of one attempt, a wait), so
the retry policy is tested without processes.
"""

from __future__ import annotations

import contextlib
import os
import re
import signal
import subprocess
import sys
import threading
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

from esbridge.argv import render_command
from esbridge.config.notify import WebhookConfig
from esbridge.config.react import CommandConfig, RetryConfig
from esbridge.notify.errors import NotifyError
from esbridge.notify.webhook import post_json
from esbridge.watch import supervisor

OUTPUT_LIMIT = 4096
"""Bytes of output kept, the last ones (where errors are)."""

SUPERVISOR = Path(supervisor.__file__)


@dataclass(frozen=True)
class Attempt:
    """One run: `exit_code` None when it did not exit by itself; `problem` says why (it could
    not start, timed out, the webhook failed); `stopped` when react's stop killed it."""

    exit_code: int | None
    output: str
    problem: str | None = None
    started: bool = True
    stopped: bool = False


Verdict = Literal["ok", "retry", "failed"]
Status = Literal["ok", "failed", "abandoned"]


@dataclass(frozen=True)
class Outcome:
    """How a target's action ended, after all attempts; `reason` says why it failed."""

    status: Status
    attempts: int
    exit_code: int | None
    output: str
    reason: str | None


def render(argv: Sequence[str], values: Mapping[str, str]) -> tuple[str, ...] | str:
    """The argument list, or why it is refused: an argument turned into an option by a value."""
    rendered = render_command(argv, values)
    for template, argument in zip(argv, rendered, strict=True):
        if argument.startswith("-") and not template.startswith("-"):
            return "an argument would start with '-' and be read as an option"
    return tuple(rendered)


def judge(
    attempt: Attempt, *, fail_output: Sequence[str], retry: RetryConfig
) -> tuple[Verdict, str | None]:
    """Whether an attempt succeeded, may be retried, or failed; with the reason.

    Output the retry policy names (`LockedException`) means "try again", whatever the exit
    code; then output meaning failure (`fail_output`); then the exit code, retried when listed.
    A program that could not start fails at once; a timeout is retried.
    """
    if not attempt.started:
        return "failed", attempt.problem
    for pattern in retry.output:
        if re.search(pattern, attempt.output):
            return "retry", f"its output matches {pattern!r}"
    if attempt.exit_code is None:
        return "retry", attempt.problem
    for pattern in fail_output:
        if re.search(pattern, attempt.output):
            return "failed", f"its output matches {pattern!r} (exit code {attempt.exit_code})"
    if attempt.exit_code == 0:
        return "ok", None
    if attempt.exit_code in retry.exit_codes:
        return "retry", f"exit code {attempt.exit_code}"
    return "failed", f"exit code {attempt.exit_code}"


def backoff(retry: RetryConfig, attempt: int) -> float:
    """Seconds to wait after failed attempt number `attempt` (1-based): doubling, capped."""
    return float(min(retry.max_backoff, retry.initial_backoff * 2 ** (attempt - 1)))


def run_with_retries(
    once: Callable[[], Attempt],
    *,
    fail_output: Sequence[str],
    retry: RetryConfig,
    wait: Callable[[float], bool],
) -> Outcome:
    """Runs `once` until it succeeds, fails for good, or `retry.attempts` are used up.

    `wait(seconds)` sleeps between attempts and returns False when react is stopping: the
    outcome is then "abandoned" (not finished: its messages stay uncommitted).
    """
    number = 0
    while True:
        number += 1
        attempt = once()
        if attempt.stopped:
            return Outcome("abandoned", number, attempt.exit_code, attempt.output, "stopped")
        verdict, reason = judge(attempt, fail_output=fail_output, retry=retry)
        if verdict == "ok":
            return Outcome("ok", number, attempt.exit_code, attempt.output, None)
        if verdict == "failed":
            return Outcome("failed", number, attempt.exit_code, attempt.output, reason)
        if number >= retry.attempts:
            why = f"{reason}; gave up after {number} attempts"
            return Outcome("failed", number, attempt.exit_code, attempt.output, why)
        if not wait(backoff(retry, number)):
            return Outcome("abandoned", number, attempt.exit_code, attempt.output, "stopped")


@dataclass(frozen=True)
class Account:
    """The uid and gid a command runs as (None: react's own)."""

    uid: int | None = None
    gid: int | None = None


def resolve_account(config: CommandConfig) -> Account:
    """The configured user and group as numbers; ValueError naming what cannot be used."""
    import grp  # noqa: PLC0415 - POSIX only, needed only when a reactor switches user
    import pwd  # noqa: PLC0415

    if config.user is None:
        return Account()
    try:
        entry = (
            pwd.getpwuid(config.user) if isinstance(config.user, int) else pwd.getpwnam(config.user)
        )
    except KeyError:
        raise ValueError("user: no such account on this host") from None
    gid = entry.pw_gid
    if config.group is not None:
        try:
            found = (
                grp.getgrgid(config.group)
                if isinstance(config.group, int)
                else grp.getgrnam(config.group)
            )
        except KeyError:
            raise ValueError("group: no such group on this host") from None
        gid = found.gr_gid
    if (entry.pw_uid, gid) == (os.geteuid(), os.getegid()):
        return Account()  # already that account: nothing to switch
    if os.geteuid() != 0:
        raise ValueError("user: running as another account needs react to run as root")
    return Account(entry.pw_uid, gid)


class Processes:
    """Starts commands under the supervisor and knows which are running, to kill them on stop."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.running: set[int] = set()
        self.stopping = threading.Event()

    def run(self, argv: tuple[str, ...], timeout: float, account: Account) -> Attempt:
        lifeline, keep = os.pipe()
        handle = str(lifeline)
        if account.uid is not None:
            handle += f":{account.uid}:{account.gid}"
        try:
            with self.lock:
                if self.stopping.is_set():
                    os.close(keep)
                    return Attempt(None, "", "stopped", started=False, stopped=True)
                process = subprocess.Popen(
                    [sys.executable, "-I", "-S", str(SUPERVISOR), handle, *argv],
                    stdin=subprocess.DEVNULL,
                    stdout=subprocess.PIPE,
                    stderr=subprocess.PIPE,
                    env=_environment(account),
                    start_new_session=True,
                    pass_fds=(lifeline,),
                )
                self.running.add(process.pid)
        except (OSError, ValueError) as exc:  # ValueError: a NUL byte, which no argument holds
            os.close(keep)
            return Attempt(None, "", f"cannot start {argv[0]!r}: {exc}", started=False)
        finally:
            os.close(lifeline)
        try:
            output, errors = process.communicate(timeout=timeout)
            problem = None
        except subprocess.TimeoutExpired:
            _kill(process.pid)
            output, errors = process.communicate()
            problem = f"timed out after {timeout:g}s and was killed"
        finally:
            os.close(keep)
            with self.lock:
                self.running.discard(process.pid)
        if self.stopping.is_set():
            return Attempt(None, _tail(output + errors), "stopped", stopped=True)
        complaint = errors.decode(errors="replace").strip()
        if process.returncode == supervisor.CANNOT_START and complaint.startswith(
            supervisor.CANNOT_START_PREFIX
        ):
            return Attempt(None, "", complaint, started=False)
        code = None if problem is not None else process.returncode
        return Attempt(code, _tail(output + errors), problem)

    def kill_all(self) -> None:
        """Stop: kill every running command's process group; start no more."""
        with self.lock:
            self.stopping.set()
            for pid in self.running:
                _kill(pid)


def post(config: WebhookConfig, payload: Mapping[str, object]) -> Attempt:
    """One webhook attempt; any failure (unreachable, non-2xx) may be retried."""
    try:
        post_json(config, payload, "the reactor's event")
    except NotifyError as exc:
        return Attempt(None, "", str(exc))
    return Attempt(0, "")


def _kill(pid: int) -> None:
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(pid, signal.SIGKILL)


def _environment(account: Account) -> dict[str, str]:
    names = ("HOME", "USER", "LOGNAME") if account.uid is None else ()
    keep = {name: os.environ[name] for name in names if name in os.environ}
    return {"PATH": os.environ.get("PATH", os.defpath), "LANG": "C.UTF-8", **keep}


def _tail(output: bytes) -> str:
    if len(output) <= OUTPUT_LIMIT:
        return output.decode(errors="replace")
    cut = len(output) - OUTPUT_LIMIT
    return f"[first {cut} bytes cut]\n" + output[cut:].decode(errors="replace")
