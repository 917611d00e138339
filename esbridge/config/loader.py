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

from esbridge.config.base import LocatedError
from esbridge.config.models import Config
from esbridge.config.yamlsource import KeyPath, SourceError, interpolate, line_of, parse_yaml
from esbridge.errors import UsageError
from esbridge.resources import rule_pack, shipped_rule_packs


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


class ConfigError(UsageError):
    """The config cannot be used; `str()` lists every problem found, one per line."""

    def __init__(self, problems: Sequence[ConfigProblem]) -> None:
        self.problems = tuple(problems)
        super().__init__("\n".join(str(problem) for problem in self.problems))


def load_config(path: Path, environ: Mapping[str, str] | None = None) -> Config:
    """Read, interpolate (from `environ`, default `os.environ`) and validate the config at `path`.

    The rules files of `watch.rules_dir` are read too. Raises ConfigError for anything from a
    missing file to a bad value.
    """
    env = os.environ if environ is None else environ
    data, lines = _parse(path)
    if data is None:
        raise _error(path, None, "the file is empty: expected a mapping of sections")
    if not isinstance(data, dict):
        kind = "list" if isinstance(data, list) else "single value"
        raise _error(path, lines[()], f"the top level must be a mapping of sections, not a {kind}")
    try:
        data = interpolate(data, lines, env)
    except SourceError as exc:
        raise _source_error(path, exc) from None
    rules_files = _add_rules_dir(data, path, lines, env)
    try:
        return Config.model_validate(data)
    except ValidationError as exc:
        problems = [
            _locate(path, lines, rules_files, loc, message)
            for loc, message in _validation_messages(exc)
        ]
        problems.sort(key=lambda p: (p.file != path, str(p.file), p.line or 0))
        raise ConfigError(problems) from None


def _parse(path: Path) -> tuple[object, dict[KeyPath, int]]:
    """The data and key lines of the YAML file at `path`; ConfigError if it cannot be read."""
    text = _read(path)
    try:
        return parse_yaml(text)
    except yaml.reader.ReaderError as exc:
        line = text.count("\n", 0, exc.position) + 1
        raise _error(path, line, "invalid YAML: a control character YAML does not allow") from None
    except yaml.MarkedYAMLError as exc:
        raise _yaml_error(path, exc) from None
    except SourceError as exc:
        raise _source_error(path, exc) from None


@dataclass(frozen=True)
class _RulesFile:
    """A file of `watch.rules_dir`: where its rules sit in `watch.rules`, to report errors at
    their own file and line; `prefix` is the key path of its list of rules."""

    path: Path
    lines: dict[KeyPath, int]
    prefix: KeyPath
    start: int
    count: int


def _add_rules_dir(
    data: object, path: Path, lines: dict[KeyPath, int], environ: Mapping[str, str]
) -> list[_RulesFile]:
    """Appends the rules of each pack in `watch.rule_packs` (shipped inside esbridge), then of
    every `*.yml` in `watch.rules_dir` (relative to the config's folder), to `watch.rules`, so
    they are validated as if written there, and says where each came from.
    """
    watch = data.get("watch") if isinstance(data, dict) else None
    if not isinstance(watch, dict) or not ({"rules_dir", "rule_packs"} & watch.keys()):
        return []
    rules = watch.setdefault("rules", [])
    if not isinstance(rules, list):
        return []  # validation reports it
    files: list[Path] = []
    for i, name in enumerate(_rule_packs(watch.get("rule_packs"))):
        pack = rule_pack(name)
        if pack is None:
            known = ", ".join(shipped_rule_packs())
            line = line_of(lines, ("watch", "rule_packs", i))
            message = f"no rule pack of that name ships with esbridge (shipped: {known})"
            raise ConfigError([ConfigProblem(path, line, f"watch.rule_packs[{i}]", message)])
        files.append(pack)
    if isinstance(watch.get("rules_dir"), str):
        folder = path.parent / watch["rules_dir"]
        if not folder.is_dir():
            line = line_of(lines, ("watch", "rules_dir"))
            raise ConfigError([ConfigProblem(path, line, "watch.rules_dir", "no such folder")])
        watch["rules_dir"] = str(folder)
        files.extend(sorted(folder.glob("*.yml")))
    found: list[_RulesFile] = []
    for file in files:
        file_rules, file_lines, prefix = _read_rules(file, environ)
        found.append(_RulesFile(file, file_lines, prefix, len(rules), len(file_rules)))
        rules.extend(file_rules)
    return found


def _rule_packs(value: object) -> list[str]:
    """The pack names of `watch.rule_packs`; anything else is left to validation to report."""
    if not isinstance(value, list):
        return []
    return [name for name in value if isinstance(name, str)]


def _read_rules(
    path: Path, environ: Mapping[str, str]
) -> tuple[list[object], dict[KeyPath, int], KeyPath]:
    """A rules file's rules (a list, or a mapping whose only key is `rules`), lines and prefix."""
    data, lines = _parse(path)
    try:
        data = interpolate(data, lines, environ)
    except SourceError as exc:
        raise _source_error(path, exc) from None
    if data is None:
        return [], lines, ()
    if isinstance(data, list):
        return data, lines, ()
    if not isinstance(data, dict):
        raise _error(path, lines[()], "expected a list of rules, or a mapping with the key rules")
    rules = data.get("rules")
    problems = [
        ConfigProblem(path, line_of(lines, (key,)), str(key), "unknown key: only rules is allowed")
        for key in data
        if key != "rules"
    ]
    if isinstance(rules, list) and not problems:
        return rules, lines, ("rules",)
    if not isinstance(rules, list):
        line = line_of(lines, ("rules",))
        problems.append(ConfigProblem(path, line, "rules", "expected a list of rules"))
    raise ConfigError(problems)


def _locate(
    path: Path, lines: dict[KeyPath, int], rules_files: list[_RulesFile], loc: KeyPath, message: str
) -> ConfigProblem:
    """The problem at `loc`, in the rules file a rule came from if it came from one."""
    index = loc[2] if len(loc) > 2 and loc[:2] == ("watch", "rules") else None
    for file in rules_files:
        if isinstance(index, int) and file.start <= index < file.start + file.count:
            local = (*file.prefix, index - file.start, *loc[3:])
            return ConfigProblem(file.path, line_of(file.lines, local), format_path(local), message)
    return ConfigProblem(path, line_of(lines, loc), format_path(loc), message)


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
