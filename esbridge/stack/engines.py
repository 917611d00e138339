"""The search engines the local stack can run, pinned in `engines.lock`.

Four engines, one per major a site runs: Elasticsearch 9 and 8, OpenSearch 2 and 3, each the
integ-test-zip distribution from Maven Central. An engine is named `NAME` (the pinned
version) or `NAME:VERSION` (another version of the same major). This module only knows the
specs, their archives and their JDKs; `esbridge/stack/nodes.py` starts and stops them.
"""

from __future__ import annotations

import tomllib
from dataclasses import dataclass, replace
from functools import cache
from importlib import resources
from pathlib import Path
from typing import Literal, cast

from esbridge.errors import UsageError
from esbridge.stack.artifacts import Coordinate, cache_lock, fetch_all, log
from esbridge.stack.jdk import Jdk, JdkNotFoundError, candidate_homes, read_major
from esbridge.stack.paths import cache_dir

Distribution = Literal["elasticsearch", "opensearch"]
DEFAULT_ENGINE = "elasticsearch-9"
_PRODUCT = {"elasticsearch": "Elasticsearch", "opensearch": "OpenSearch"}


class EngineError(UsageError):
    """An engine name or version the stack cannot run."""


@dataclass(frozen=True)
class Engine:
    """One pinned search engine: where its zip comes from and which JDKs start it."""

    name: str
    distribution: Distribution
    version: str
    maven: str
    """`group:artifact` of the integ-test-zip on Maven Central."""
    java_min: int
    java_max: int
    security: bool
    """Whether the zip has a security module, so that a node can run with TLS and a user."""

    @property
    def major(self) -> int:
        return int(self.version.split(".")[0])

    @property
    def product(self) -> str:
        return _PRODUCT[self.distribution]

    @property
    def label(self) -> str:
        return f"{self.product} {self.version}"

    @property
    def spec(self) -> str:
        return f"{self.name}:{self.version}"

    @property
    def coordinate(self) -> Coordinate:
        return Coordinate.parse(f"{self.maven}:{self.version}", packaging="zip")

    @property
    def home_name(self) -> str:
        """The folder the zip unpacks to, e.g. `opensearch-2.19.6`."""
        return f"{self.coordinate.artifact}-{self.version}"


@cache
def engines() -> dict[str, Engine]:
    """The pinned engines of `engines.lock`, by name."""
    text = resources.files("esbridge.stack").joinpath("engines.lock").read_text("utf-8")
    table = tomllib.loads(text)
    found: dict[str, Engine] = {}
    for name, entry in table.items():
        java_min, java_max = (int(v) for v in entry["java"])
        found[name] = Engine(
            name=name,
            distribution=cast(Distribution, entry["distribution"]),
            version=str(entry["version"]),
            maven=str(entry["maven"]),
            java_min=java_min,
            java_max=java_max,
            security=bool(entry["security"]),
        )
    return found


def resolve(spec: str) -> Engine:
    """`NAME` or `NAME:VERSION` to an engine; a version must keep the name's major."""
    name, _, version = spec.partition(":")
    known = engines()
    if name not in known:
        raise EngineError(f"unknown engine {name!r}; known engines: {', '.join(known)}")
    engine = known[name]
    if not version:
        return engine
    parts = version.split(".")
    if len(parts) != 3 or not all(part.isdigit() for part in parts):
        raise EngineError(f"engine {spec!r}: the version must look like {engine.version}")
    if int(parts[0]) != engine.major:
        raise EngineError(
            f"engine {spec!r}: {name} runs {engine.product} {engine.major}.x, not {version}"
        )
    return replace(engine, version=version)


def find_jdk_for(engine: Engine) -> Jdk:
    """The newest installed JDK within the engine's range: a JVM too new is as fatal as one
    too old (OpenSearch 2 needs the Security Manager, which Java 24 removed)."""
    found = [(home, read_major(home)) for home in candidate_homes()]
    usable = [Jdk(home, major) for home, major in found if major and (home / "bin/java").exists()]
    fitting = [jdk for jdk in usable if engine.java_min <= jdk.major <= engine.java_max]
    if fitting:
        return max(fitting, key=lambda jdk: jdk.major)
    seen = ", ".join(f"{jdk.home} (Java {jdk.major})" for jdk in usable) or "none"
    raise JdkNotFoundError(
        f"{engine.label} needs Java {engine.java_min} to {engine.java_max}; JDKs found: {seen}. "
        f"Install one (e.g. `apt-get install openjdk-{engine.java_max}-jdk-headless`) "
        "or point ESBRIDGE_JAVA_HOME at it."
    )


def engine_zip(engine: Engine) -> Path:
    """The engine's integ-test-zip, downloaded once into the artifact cache."""
    coordinate = engine.coordinate
    target = cache_dir() / "artifacts" / engine.home_name
    with cache_lock(engine.home_name):
        if not (target / ".complete").exists():
            log(f"esbridge: fetching {engine.label} (integ-test-zip) from Maven Central ...")
            fetch_all([coordinate], target)
            (target / ".complete").write_text("ok\n")
    return target / coordinate.filename
