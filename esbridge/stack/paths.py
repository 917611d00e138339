"""Where the stack keeps downloads and run state."""

from __future__ import annotations

import os
from pathlib import Path


def cache_dir() -> Path:
    """The user cache directory (XDG), shared by every stack directory of this user."""
    base = os.environ.get("ESBRIDGE_CACHE_DIR")
    if base:
        return Path(base)
    xdg = os.environ.get("XDG_CACHE_HOME")
    return (Path(xdg) if xdg else Path.home() / ".cache") / "esbridge"


def default_stack_dir() -> Path:
    return cache_dir() / "stack"
