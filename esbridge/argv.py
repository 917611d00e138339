"""Argument-list templates: `{name}` placeholders filled inside each argument, never a shell.

Watch actions (and any later command action) render their argv here, and the config validates
its templates with the same function, so a template that loads is one that renders.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence

_TOKEN = re.compile(r"\{\{|\}\}|\{([A-Za-z_][A-Za-z0-9_]*)\}|[{}]")


def render_command(command: Sequence[str], values: Mapping[str, str]) -> list[str]:
    """`command` with each `{name}` replaced by `values[name]`, as data: never split or re-read.

    Raises ValueError for an empty command, an unknown placeholder or an unpaired brace.
    """
    if not command:
        raise ValueError("an action needs a command")
    return [_render(argument, values) for argument in command]


def _render(argument: str, values: Mapping[str, str]) -> str:
    def replace(match: re.Match[str]) -> str:
        token, name = match[0], match[1]
        if token in ("{{", "}}"):
            return token[0]
        if name is None:
            raise ValueError(f"unpaired {token!r} in {argument!r}: write {{{{ or }}}} for a brace")
        if name not in values:
            known = ", ".join(f"{{{key}}}" for key in sorted(values))
            raise ValueError(f"unknown placeholder {{{name}}} in {argument!r}; known: {known}")
        return values[name]

    return _TOKEN.sub(replace, argument)
