"""Choosing a JDK explicitly: Elasticsearch 9 needs Java 21+, Kafka 4 needs Java 17+."""

from __future__ import annotations

import os
import re
import shutil
from dataclasses import dataclass
from pathlib import Path

from esbridge.errors import EsbridgeError

JVM_ROOTS = (Path("/usr/lib/jvm"), Path("/usr/local/lib/jvm"), Path("/opt/java"))
_RELEASE_VERSION = re.compile(r'^JAVA_VERSION="(\d+)(?:[.\-+_][^"]*)?"', re.MULTILINE)


class JdkNotFoundError(EsbridgeError):
    """No installed JDK satisfies a server's minimum Java version."""


@dataclass(frozen=True)
class Jdk:
    home: Path
    major: int

    @property
    def java(self) -> Path:
        return self.home / "bin" / "java"


def read_major(home: Path) -> int | None:
    """The JDK's feature version from its `release` file (no JVM start needed)."""
    try:
        text = (home / "release").read_text(encoding="utf-8", errors="replace")
    except OSError:
        return None
    match = _RELEASE_VERSION.search(text)
    if not match:
        return None
    major = int(match.group(1))
    return 8 if major == 1 else major


def candidate_homes() -> list[Path]:
    """JAVA_HOME / ES_JAVA_HOME first, then `java` on PATH, then the usual install roots."""
    homes: list[Path] = []
    for var in ("ESBRIDGE_JAVA_HOME", "ES_JAVA_HOME", "JAVA_HOME"):
        value = os.environ.get(var)
        if value:
            homes.append(Path(value))
    on_path = shutil.which("java")
    if on_path:
        homes.append(Path(on_path).resolve().parent.parent)
    for root in JVM_ROOTS:
        if root.is_dir():
            homes.extend(sorted(p for p in root.iterdir() if p.is_dir() and not p.is_symlink()))
    unique: list[Path] = []
    for home in homes:
        if home.resolve() not in {h.resolve() for h in unique}:
            unique.append(home)
    return unique


def find_jdk(minimum: int, purpose: str) -> Jdk:
    """The newest JDK at or above `minimum`; the error lists what was found instead."""
    found = [(home, read_major(home)) for home in candidate_homes()]
    usable = [Jdk(home, major) for home, major in found if major and (home / "bin/java").exists()]
    fitting = [jdk for jdk in usable if jdk.major >= minimum]
    if fitting:
        return max(fitting, key=lambda jdk: jdk.major)
    seen = ", ".join(f"{jdk.home} (Java {jdk.major})" for jdk in usable) or "none"
    raise JdkNotFoundError(
        f"{purpose} needs Java {minimum} or newer; JDKs found: {seen}. "
        f"Install one (e.g. `apt-get install openjdk-{max(minimum, 21)}-jdk-headless`) "
        "or point ESBRIDGE_JAVA_HOME at it."
    )
