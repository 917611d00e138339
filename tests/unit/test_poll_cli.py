"""`esbridge poll` on the command line: its help, and a config without a poll: section."""

from __future__ import annotations

import signal
from pathlib import Path

from click.testing import CliRunner

from esbridge.cli import main
from tests.helpers.configs import MINIMAL


def test_help_names_the_options_and_the_schedule() -> None:
    result = CliRunner().invoke(main, ["poll", "--help"])

    assert result.exit_code == 0
    for text in ("--once", "--dry-run", "-c, --config", "poll.interval", "SIGTERM"):
        assert text in result.output


def test_a_config_without_a_poll_section_is_one_line_and_exit_2(tmp_path: Path) -> None:
    path = tmp_path / "esbridge.yml"
    path.write_text(MINIMAL)

    result = CliRunner().invoke(main, ["poll", "-c", str(path), "--once"])

    assert (
        result.exit_code == 2
    )  # a usage mistake, like every config without the section a command needs
    assert result.output.strip() == f"Error: {path} has no poll: section"


def test_an_unreachable_frontend_fails_the_cycle_in_one_line_and_warns_of_the_topic(
    tmp_path: Path,
) -> None:
    path = tmp_path / "esbridge.yml"
    path.write_text(MINIMAL + "poll:\n  url: http://127.0.0.1:1\n  timeout: 2s\n")
    handlers = {s: signal.getsignal(s) for s in (signal.SIGTERM, signal.SIGINT)}
    try:
        result = CliRunner().invoke(main, ["poll", "-c", str(path), "--dry-run"])
    finally:
        for number, handler in handlers.items():
            signal.signal(number, handler)

    assert result.exit_code == 1
    lines = result.output.splitlines()
    assert any(
        "WARNING" in line and "not a topic of a poolinfo producer (there is none)" in line
        for line in lines
    ), lines
    errors = [line for line in lines if " ERROR " in line]
    assert len(errors) == 1 and "nothing published" in errors[0] and "ConnectError" in errors[0]
    assert "Traceback" not in result.output
