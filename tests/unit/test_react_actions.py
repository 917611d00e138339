"""Rendering, judging and retrying a reactor's action; real processes, never a shell."""

from __future__ import annotations

import json
import os
import sys
import threading
import time
from pathlib import Path

import pytest

from esbridge.config.react import CommandConfig, RetryConfig
from esbridge.react.actions import (
    Account,
    Attempt,
    Processes,
    backoff,
    judge,
    render,
    resolve_account,
    run_with_retries,
)

LOCKED = RetryConfig(attempts=3, initial_backoff=5, max_backoff=8, output=("LockedException",))
ECHO = [sys.executable, "-c", "import json, sys; print(json.dumps(sys.argv[1:]))"]


def test_a_value_that_would_become_an_option_is_refused() -> None:
    assert render(["occ", "{name}"], {"name": "-rf"}) == (
        "an argument would start with '-' and be read as an option"
    )
    assert render(["occ", "--path={name}"], {"name": "-rf"}) == ("occ", "--path=-rf")
    assert render(["occ", "--shallow"], {}) == ("occ", "--shallow")


def test_locked_output_is_retried_even_with_exit_code_zero() -> None:
    """occ long answered 0 whatever happened (nextcloud/server#27031)."""
    locked = Attempt(0, 'Exception during scan: "files/5b3f" is locked\nOCP\\Lock\\LockedException')
    assert judge(locked, fail_output=("Exception",), retry=LOCKED)[0] == "retry"
    assert judge(Attempt(0, "Unknown user alice"), fail_output=("Unknown user",), retry=LOCKED) == (
        "failed",
        "its output matches 'Unknown user' (exit code 0)",
    )
    assert judge(Attempt(0, "| 1 | 1 |"), fail_output=("Exception",), retry=LOCKED) == ("ok", None)


def test_exit_codes_are_retried_only_when_listed_and_start_failures_never() -> None:
    retry = RetryConfig(exit_codes=(75,))
    assert judge(Attempt(75, ""), fail_output=(), retry=retry) == ("retry", "exit code 75")
    assert judge(Attempt(1, ""), fail_output=(), retry=retry) == ("failed", "exit code 1")
    gone = Attempt(None, "", "cannot start 'occ': no such file", started=False)
    assert judge(gone, fail_output=(), retry=retry)[0] == "failed"
    slow = Attempt(None, "", "timed out after 5s and was killed")
    assert judge(slow, fail_output=(), retry=retry)[0] == "retry"


def test_backoff_doubles_up_to_its_cap() -> None:
    assert [backoff(LOCKED, n) for n in (1, 2, 3, 4)] == [5.0, 8.0, 8.0, 8.0]


def test_retries_wait_between_attempts_and_give_up_after_the_last() -> None:
    answers = iter([Attempt(0, "LockedException")] * 3)
    waits: list[float] = []
    outcome = run_with_retries(
        lambda: next(answers), fail_output=(), retry=LOCKED, wait=lambda s: waits.append(s) or True
    )
    assert waits == [5.0, 8.0]
    assert (outcome.status, outcome.attempts) == ("failed", 3)
    assert outcome.reason == "its output matches 'LockedException'; gave up after 3 attempts"


def test_a_retry_that_succeeds_is_ok_and_a_stop_abandons() -> None:
    answers = iter([Attempt(0, "LockedException"), Attempt(0, "done")])
    outcome = run_with_retries(
        lambda: next(answers), fail_output=(), retry=LOCKED, wait=lambda s: True
    )
    assert (outcome.status, outcome.attempts) == ("ok", 2)
    stopped = run_with_retries(
        lambda: Attempt(0, "LockedException"), fail_output=(), retry=LOCKED, wait=lambda s: False
    )
    assert stopped.status == "abandoned"


HOSTILE = [
    "a b",
    'it\'s "q"',
    "; rm -rf ~",
    "$(touch PWNED)",
    "`touch PWNED`",
    "* ~ $HOME",
    "n" * 4096,
]


def test_hostile_values_reach_the_program_as_one_literal_argument_each(tmp_path: Path) -> None:
    record = tmp_path / "argv.json"
    write = "import json, sys; open(sys.argv[1], 'w').write(json.dumps(sys.argv[2:]))"
    template = [sys.executable, "-c", write, str(record), "--path=/alice/files/{p}", "{p}"]
    for hostile in HOSTILE:
        argv = render(template, {"p": hostile})
        assert isinstance(argv, tuple)
        attempt = Processes().run(argv, 30, Account())
        assert attempt.exit_code == 0, attempt
        assert json.loads(record.read_text()) == [f"--path=/alice/files/{hostile}", hostile]
    assert not list(tmp_path.glob("PWNED")), "no shell ran the text"
    assert not Path("PWNED").exists()


def test_a_timeout_kills_the_command_and_a_missing_program_does_not_start() -> None:
    slow = Processes().run((sys.executable, "-c", "import time; time.sleep(30)"), 0.5, Account())
    assert (slow.exit_code, slow.problem) == (None, "timed out after 0.5s and was killed")
    missing = Processes().run(("/nonexistent/occ", "files:scan"), 5, Account())
    assert not missing.started
    assert "cannot start" in (missing.problem or "")


def test_stopping_kills_running_commands_and_marks_them_stopped() -> None:
    processes = Processes()
    found: list[Attempt] = []
    runner = threading.Thread(
        target=lambda: found.append(
            processes.run((sys.executable, "-c", "import time; time.sleep(30)"), 60, Account())
        )
    )
    runner.start()
    while not processes.running:
        time.sleep(0.01)
    processes.kill_all()
    runner.join(10)
    assert found[0].stopped
    assert processes.run(tuple(ECHO), 5, Account()).stopped, "nothing starts after a stop"


def test_another_account_needs_root_and_an_existing_user() -> None:
    if os.geteuid() == 0:
        assert resolve_account(CommandConfig(argv=("occ",), user="nobody")).uid != 0
        with pytest.raises(ValueError, match="no such account"):
            resolve_account(CommandConfig(argv=("occ",), user="no-such-user-esbridge"))
    else:
        with pytest.raises(ValueError, match="root"):
            resolve_account(CommandConfig(argv=("occ",), user=0))
    assert resolve_account(CommandConfig(argv=("occ",))) == Account()
    me = CommandConfig(argv=("occ",), user=os.geteuid(), group=os.getegid())
    assert resolve_account(me) == Account(), "already that account: nothing to switch"


@pytest.mark.skipif(os.geteuid() != 0, reason="switching accounts needs root")
def test_the_command_alone_runs_as_the_configured_account() -> None:
    nobody = resolve_account(CommandConfig(argv=("id",), user="nobody"))
    user = Processes().run(("/usr/bin/id", "-u"), 10, nobody)
    groups = Processes().run(("/usr/bin/id", "-G"), 10, nobody)
    assert user.output.split() == [str(nobody.uid)]
    assert groups.output.split() == [str(nobody.gid)], "no root groups kept"
