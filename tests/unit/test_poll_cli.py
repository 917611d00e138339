"""`esbridge poll` on the command line: its help, and a config without a poll: section."""

from __future__ import annotations

from pathlib import Path

from click.testing import CliRunner

from esbridge.cli import main
from tests.helpers.configs import MINIMAL


def test_help_names_the_options_and_the_schedule() -> None:
    result = CliRunner().invoke(main, ["poll", "--help"])

    assert result.exit_code == 0
    for text in ("--once", "--dry-run", "-c, --config", "poll.interval", "SIGTERM"):
        assert text in result.output


def test_a_config_without_a_poll_section_is_one_line_and_exit_1(tmp_path: Path) -> None:
    path = tmp_path / "esbridge.yml"
    path.write_text(MINIMAL)

    result = CliRunner().invoke(main, ["poll", "-c", str(path), "--once"])

    assert result.exit_code == 1
    assert result.output.strip() == f"Error: {path} has no poll: section"
