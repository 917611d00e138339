"""`load_config`: from a YAML file to a validated `Config`, or one error listing every problem.

Each problem reads `<file>:<line>: <key.path>: <message>` so an operator can jump straight to
it. Messages never quote configured values (pydantic's default text does): a misplaced secret
must not end up in a terminal, a journal or a bug report.
"""

from __future__ import annotations

import os
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

import yaml
from pydantic import ValidationError
from pydantic_core import ErrorDetails

from esbridge.config.models import Config, LocatedError
from esbridge.config.source import KeyPath, SourceError, interpolate, line_of, parse_yaml


@dataclass(frozen=True)
class ConfigProblem:
    """One thing wrong with a config file; `line` is None for file-level problems."""

    file: Path
    line: int | None
    path: str
    message: str

    def __str__(self) -> str:
        where = str(self.file) if self.line is None else f"{self.file}:{self.line}"
        return f"{where}: {self.path}: {self.message}" if self.path else f"{where}: {self.message}"


class ConfigError(Exception):
    """The config cannot be used; `str()` lists every problem found, one per line."""

    def __init__(self, problems: Sequence[ConfigProblem]) -> None:
        self.problems = tuple(problems)
        super().__init__("\n".join(str(problem) for problem in self.problems))


def load_config(path: Path, environ: Mapping[str, str] | None = None) -> Config:
    """Read, interpolate (from `environ`, default `os.environ`) and validate the config at `path`.

    Raises ConfigError for anything from a missing file to a bad value.
    """
    text = _read(path)
    try:
        data, lines = parse_yaml(text)
    except yaml.reader.ReaderError as exc:
        line = text.count("\n", 0, exc.position) + 1
        raise _error(path, line, "invalid YAML: a control character YAML does not allow") from None
    except yaml.MarkedYAMLError as exc:
        raise _yaml_error(path, exc) from None
    except SourceError as exc:
        raise _source_error(path, exc) from None
    if data is None:
        raise _error(path, None, "the file is empty: expected a mapping of sections")
    if not isinstance(data, dict):
        kind = "list" if isinstance(data, list) else "single value"
        raise _error(path, lines[()], f"the top level must be a mapping of sections, not a {kind}")
    try:
        data = interpolate(data, lines, os.environ if environ is None else environ)
        return Config.model_validate(data)
    except SourceError as exc:
        raise _source_error(path, exc) from None
    except ValidationError as exc:
        problems = [
            ConfigProblem(path, line_of(lines, loc), format_path(loc), message)
            for loc, message in _validation_messages(exc)
        ]
        raise ConfigError(sorted(problems, key=lambda p: p.line or 0)) from None


def format_path(loc: KeyPath) -> str:
    """`("producers", 1, "parser")` as `producers[1].parser`."""
    parts: list[str] = []
    for part in loc:
        if isinstance(part, int):
            parts.append(f"[{part}]")
        else:
            parts.append(f".{part}" if parts else part)
    return "".join(parts)


def _read(path: Path) -> str:
    try:
        return path.read_text(encoding="utf-8-sig")
    except FileNotFoundError:
        message = "no such file"
    except IsADirectoryError:
        message = "is a directory, expected a YAML file"
    except UnicodeDecodeError as exc:
        message = f"not UTF-8 text (bad byte at offset {exc.start})"
    except OSError as exc:
        message = f"cannot read the file: {exc.strerror}"
    raise _error(path, None, message)


def _validation_messages(exc: ValidationError) -> Iterator[tuple[KeyPath, str]]:
    for error in exc.errors(include_input=False, include_url=False):
        loc = tuple(error["loc"])
        cause = error.get("ctx", {}).get("error")
        if isinstance(cause, LocatedError):
            for sub_loc, message in cause.errors:
                yield (*loc, *sub_loc), message
        else:
            yield loc, _message(error)


_PLAIN_MESSAGES = {
    "missing": "required key is missing",
    "extra_forbidden": "unknown key",
    "tuple_type": "expected a list",
    "model_type": "expected a mapping of keys",
}
"""Replacements for pydantic messages that speak of its types rather than of YAML."""


def _message(error: ErrorDetails) -> str:
    return _PLAIN_MESSAGES.get(error["type"]) or error["msg"].removeprefix("Value error, ")


def _yaml_error(path: Path, exc: yaml.MarkedYAMLError) -> ConfigError:
    # Only positions and PyYAML's fixed phrases: str(exc) quotes the offending source lines.
    message = f"invalid YAML: {exc.problem or 'syntax error'}"
    if exc.context and exc.context_mark and exc.problem_mark:
        message = f"invalid YAML {exc.context} (line {exc.context_mark.line + 1}): {exc.problem}"
    mark = exc.problem_mark or exc.context_mark
    if mark is None:
        return _error(path, None, message)
    return _error(path, mark.line + 1, f"{message} (column {mark.column + 1})")


def _error(path: Path, line: int | None, message: str) -> ConfigError:
    return ConfigError([ConfigProblem(path, line, "", message)])


def _source_error(path: Path, exc: SourceError) -> ConfigError:
    return ConfigError(
        [ConfigProblem(path, p.line, format_path(p.path), p.message) for p in exc.problems]
    )
