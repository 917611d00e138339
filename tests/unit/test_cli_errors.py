"""What a person sees when a command is given a config it cannot use: one message, exit 2."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import click
import pytest
from click.testing import CliRunner

from esbridge.cli import main


def commands_taking_a_config(
    group: click.Group, prefix: tuple[str, ...] = ()
) -> Iterator[tuple[str, ...]]:
    for name, command in sorted(group.commands.items()):
        if isinstance(command, click.Group):
            yield from commands_taking_a_config(command, (*prefix, name))
        elif any("-c" in getattr(p, "opts", ()) for p in command.params):
            yield (*prefix, name)


COMMANDS = list(commands_taking_a_config(main))


def required_values(path: tuple[str, ...], tmp_path: Path) -> list[str]:
    """Usable values for a command's required arguments and options, so only the config is bad."""
    command: click.Command = main
    for name in path:
        assert isinstance(command, click.Group)
        command = command.commands[name]
    values: list[str] = []
    for param in command.params:
        if not param.required or "-c" in param.opts:
            continue
        if isinstance(param.type, click.Choice):
            value = str(param.type.choices[0])
        elif isinstance(param.type, click.DateTime):
            value = "2019-06-01"
        else:
            value = str(tmp_path / "value")
        values += [str(value)] if isinstance(param, click.Argument) else [param.opts[0], str(value)]
    return values


def test_the_commands_with_a_config_are_found() -> None:
    assert {("setup",), ("ingest",), ("watch",), ("issues", "list")} <= set(COMMANDS)


@pytest.mark.parametrize("path", COMMANDS, ids=" ".join)
def test_an_invalid_config_is_one_message_with_exit_code_2(
    path: tuple[str, ...], tmp_path: Path
) -> None:
    config = tmp_path / "bad.yml"
    config.write_text("kafka:\n  bootstrap: 127.0.0.1:9092\n  bogus: 1\n")
    result = CliRunner().invoke(main, [*path, "-c", str(config), *required_values(path, tmp_path)])
    assert result.exit_code == 2, result.output
    assert "invalid config" in result.output
    assert "kafka.bogus: unknown key" in result.output
    assert "Traceback" not in result.output
