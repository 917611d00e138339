"""Actions run real commands with the issue's values as data: no shell, ever, whatever they hold."""

from __future__ import annotations

import sys
import time
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from esbridge.argv import render_command
from esbridge.stack import process
from esbridge.watch.actions import OUTPUT_LIMIT, run_action

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
