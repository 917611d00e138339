"""From a message's path to the target's: strip one prefix, add another, or refuse.

Pure. A prefix is a folder: `/pnfs/sync/` owns `/pnfs/sync/alice/x`, never `/pnfs/syncother/x`
(and it is removed as a prefix, not as a set of characters as `str.strip` would). Inside it the
rest is normalised (`a/./b`, `a//b`, `a/c/../b` all become `a/b`); what is hostile is refused
with a reason rather than passed on: `..` climbing out of the prefix, NUL and other control
characters (a newline would split a log line or a later tool's input), text that is not valid
UTF-8 (lone surrogates, which Python would turn back into raw bytes in an argument), a result
starting with `-` (a program would read it as an option) or longer than the limit.
"""

from __future__ import annotations

import posixpath
import re
import unicodedata
from dataclasses import dataclass

from esbridge.config.react import PathConfig


@dataclass(frozen=True)
class Mapped:
    """The target path and the placeholders it offers."""

    path: str
    parent: str
    name: str

    def values(self) -> dict[str, str]:
        return {"path": self.path, "parent": self.parent, "name": self.name}


@dataclass(frozen=True)
class Refused:
    """A path this reactor owns but will not pass on; `reason` names what is wrong."""

    reason: str


def map_path(raw: object, config: PathConfig) -> Mapped | Refused | None:
    """`raw` mapped by `config`; None when it is not this reactor's (not a string, outside
    `strip_prefix`, naming the prefix itself, or not matching `only`)."""
    if not isinstance(raw, str):
        return None
    prefix = config.strip_prefix.rstrip("/") + "/"
    if not raw.startswith(prefix):
        return None
    rest = raw[len(prefix) :]
    if (problem := unsafe_text(rest)) is not None:
        return Refused(f"the path {problem}")
    parts: list[str] = []
    for part in rest.split("/"):
        if part == "..":
            if not parts:
                return Refused("the path climbs out of its prefix with '..'")
            parts.pop()
        elif part not in ("", "."):
            parts.append(part)
    if not parts:
        return None
    relative = "/".join(parts)
    path = posixpath.join(config.add_prefix, relative) if config.add_prefix else relative
    if path.startswith("-"):
        return Refused("the mapped path starts with '-', which a program would take for an option")
    if len(path.encode()) > config.max_bytes:
        return Refused(f"the mapped path is longer than {config.max_bytes} bytes")
    if config.only is not None and re.fullmatch(config.only, path) is None:
        return None
    parent = posixpath.dirname(path) or "."
    return Mapped(path, parent, posixpath.basename(path))


def unsafe_text(value: str) -> str | None:
    """What makes `value` unfit for an argument or a log line, or None: 'contains ...'."""
    for char in value:
        category = unicodedata.category(char)
        if char == "\0":
            return "contains a NUL character"
        if category == "Cs":
            return "is not valid UTF-8 (it holds a lone surrogate)"
        if category == "Cc" or char in "\u2028\u2029":
            return f"contains the control character U+{ord(char):04X}"
    return None
