"""YAML text to plain data, remembering the line of every key so errors can point at it.

Also expands `${VAR}` / `${VAR:-default}` in string values, so endpoints and secrets can come
from the environment (containers, systemd credentials) instead of being written into the file.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import yaml
from yaml.nodes import MappingNode, Node, SequenceNode

KeyPath = tuple[str | int, ...]
"""A key path into the document: mapping keys and sequence indices, as in pydantic's `loc`."""


@dataclass(frozen=True)
class SourceProblem:
    """A problem found before validation; `line` is 1-based, `path` may be empty."""

    line: int
    path: KeyPath
    message: str


class SourceError(Exception):
    """The document cannot be turned into data; carries every problem found."""

    def __init__(self, problems: list[SourceProblem]) -> None:
        super().__init__(f"{len(problems)} problem(s)")
        self.problems = problems


class _StrictLoader(yaml.SafeLoader):
    """A SafeLoader that refuses duplicate keys, which plain PyYAML resolves as "last one wins"."""

    def construct_mapping(self, node: MappingNode, deep: bool = False) -> dict[Any, Any]:
        first_lines: dict[object, int] = {}
        for key_node, _ in node.value:
            if key_node.tag == "tag:yaml.org,2002:merge":
                continue
            if key_node.value in first_lines:
                problem = f"duplicate key (first given on line {first_lines[key_node.value]})"
                raise yaml.constructor.ConstructorError(None, None, problem, key_node.start_mark)
            first_lines[key_node.value] = key_node.start_mark.line + 1
        return super().construct_mapping(node, deep=deep)


def parse_yaml(text: str) -> tuple[object, dict[KeyPath, int]]:
    """The document's data and the 1-based start line of the root, every key and every item.

    Raises yaml.YAMLError for syntax errors and SourceError for a recursive alias.
    """
    loader = _StrictLoader(text)
    try:
        node = loader.get_single_node()
        if node is None:
            return None, {}
        data = loader.construct_document(node)
    finally:
        loader.dispose()
    lines: dict[KeyPath, int] = {(): node.start_mark.line + 1}
    _record_lines(node, (), lines, set())
    return data, lines


def _record_lines(node: Node, path: KeyPath, lines: dict[KeyPath, int], active: set[int]) -> None:
    # Runs after construction, so merge keys (`<<`) are flattened as in the data; a later
    # pair overrides a merged one there, and so here.
    if id(node) in active:
        raise SourceError([SourceProblem(lines[path], path, "recursive alias")])
    active.add(id(node))
    if isinstance(node, MappingNode):
        for key_node, value_node in node.value:
            child = (*path, key_node.value)
            lines[child] = key_node.start_mark.line + 1
            _record_lines(value_node, child, lines, active)
    elif isinstance(node, SequenceNode):
        for index, item in enumerate(node.value):
            child = (*path, index)
            lines[child] = item.start_mark.line + 1
            _record_lines(item, child, lines, active)
    active.discard(id(node))


_REFERENCE = re.compile(r"\$\$\{|\$\{(?:([A-Za-z_][A-Za-z0-9_]*)(?::-([^}]*))?\})?")


def interpolate(data: object, lines: Mapping[KeyPath, int], environ: Mapping[str, str]) -> object:
    """A copy of `data` with `${VAR}`, `${VAR:-default}` and `$${` expanded in string values.

    The default applies when the variable is unset or empty, as in the shell. Expanded text is
    not expanded again. Raises SourceError listing every unset variable and bad reference.
    """
    problems: list[SourceProblem] = []

    def expand(value: object, path: KeyPath) -> object:
        if isinstance(value, dict):
            return {key: expand(item, (*path, key)) for key, item in value.items()}
        if isinstance(value, list):
            return [expand(item, (*path, i)) for i, item in enumerate(value)]
        if isinstance(value, str) and "$" in value:
            return _REFERENCE.sub(lambda m: substitute(m, path), value)
        return value

    def substitute(match: re.Match[str], path: KeyPath) -> str:
        name, default = match[1], match[2]
        if match[0] == "$${":
            return "${"
        if name is None:
            problem = "malformed ${...}: expected ${NAME} or ${NAME:-default} ($${ for a literal)"
        elif default is not None and "${" in default:
            problem = f"nested ${{...}} in the default of {name} is not supported"
        elif default is not None:
            return environ.get(name) or default
        elif name in environ:
            return environ[name]
        else:
            problem = f"environment variable {name} is not set and has no default"
        problems.append(SourceProblem(line_of(lines, path), path, problem))
        return ""

    result = expand(data, ())
    if problems:
        raise SourceError(problems)
    return result


def line_of(lines: Mapping[KeyPath, int], path: KeyPath) -> int:
    """The line of `path`, or of its nearest ancestor present in the document."""
    for end in range(len(path), 0, -1):
        if path[:end] in lines:
            return lines[path[:end]]
    return lines[()]
