"""Fetching the servers from Maven Central once, into the user cache.

Maven (`mvn`) is preferred because it is what these machines are configured to reach Maven
Central with (mirrors, proxies, checksums); a plain HTTPS download with SHA-1 verification is
the fallback where `mvn` is missing.
"""

from __future__ import annotations

import fcntl
import hashlib
import shutil
import subprocess
import sys
import tempfile
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from importlib import resources
from pathlib import Path

from esbridge.errors import EsbridgeError
from esbridge.stack.paths import cache_dir

KAFKA_VERSION = "4.1.1"
ES_VERSION = "9.2.0"
ES_ARTIFACT = f"org.elasticsearch.distribution.integ-test-zip:elasticsearch:{ES_VERSION}"
MAVEN_CENTRAL = "https://repo1.maven.org/maven2"


class ArtifactError(EsbridgeError):
    """A server's files could not be fetched."""


@dataclass(frozen=True)
class Coordinate:
    group: str
    artifact: str
    version: str
    packaging: str = "jar"

    @classmethod
    def parse(cls, text: str, packaging: str = "jar") -> Coordinate:
        group, artifact, version = text.split(":")
        return cls(group, artifact, version, packaging)

    @property
    def filename(self) -> str:
        return f"{self.artifact}-{self.version}.{self.packaging}"

    @property
    def url(self) -> str:
        path = self.group.replace(".", "/")
        return f"{MAVEN_CENTRAL}/{path}/{self.artifact}/{self.version}/{self.filename}"

    def dependency_xml(self) -> str:
        return (
            f"<dependency><groupId>{self.group}</groupId><artifactId>{self.artifact}</artifactId>"
            f"<version>{self.version}</version><type>{self.packaging}</type></dependency>"
        )


def kafka_coordinates() -> list[Coordinate]:
    text = resources.files("esbridge.stack").joinpath("kafka-runtime.lock").read_text("utf-8")
    lines = (line.strip() for line in text.splitlines())
    return [Coordinate.parse(line) for line in lines if line and not line.startswith("#")]


def log(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


@contextmanager
def cache_lock(name: str) -> Iterator[None]:
    """Serialises downloads of one artifact between concurrent `stack up` runs."""
    root = cache_dir() / "artifacts"
    root.mkdir(parents=True, exist_ok=True)
    with (root / f".{name}.lock").open("w") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        yield


def kafka_libs() -> Path:
    """The folder of Kafka broker jars, downloaded on first use."""
    target = cache_dir() / "artifacts" / f"kafka-{KAFKA_VERSION}" / "libs"
    with cache_lock(f"kafka-{KAFKA_VERSION}"):
        if (target / ".complete").exists():
            return target
        log(f"esbridge: fetching Apache Kafka {KAFKA_VERSION} from Maven Central (once) ...")
        fetch_all(kafka_coordinates(), target)
        (target / ".complete").write_text("ok\n")
    return target


def elasticsearch_zip() -> Path:
    """The Elasticsearch integ-test-zip distribution, downloaded on first use."""
    coordinate = Coordinate.parse(ES_ARTIFACT, packaging="zip")
    target = cache_dir() / "artifacts" / f"elasticsearch-{ES_VERSION}"
    with cache_lock(f"elasticsearch-{ES_VERSION}"):
        if (target / ".complete").exists():
            return target / coordinate.filename
        log(
            f"esbridge: fetching Elasticsearch {ES_VERSION} (integ-test-zip) from Maven Central ..."
        )
        fetch_all([coordinate], target)
        (target / ".complete").write_text("ok\n")
    return target / coordinate.filename


def fetch_all(coordinates: list[Coordinate], target: Path) -> None:
    target.mkdir(parents=True, exist_ok=True)
    if shutil.which("mvn"):
        fetch_with_maven(coordinates, target)
    else:
        log("esbridge: `mvn` not found; downloading straight from Maven Central")
        for coordinate in coordinates:
            fetch_with_http(coordinate, target)
    missing = [c.filename for c in coordinates if not (target / c.filename).is_file()]
    if missing:
        raise ArtifactError(f"download incomplete, missing in {target}: {', '.join(missing)}")


def fetch_with_maven(coordinates: list[Coordinate], target: Path) -> None:
    """One Maven run over a generated POM: exact versions, no transitive resolution."""
    deps = "\n".join(c.dependency_xml() for c in coordinates)
    pom = (
        '<project xmlns="http://maven.apache.org/POM/4.0.0"><modelVersion>4.0.0</modelVersion>'
        "<groupId>esbridge</groupId><artifactId>stack-fetch</artifactId><version>1</version>"
        f"<dependencies>{deps}</dependencies></project>"
    )
    with tempfile.TemporaryDirectory(prefix="esbridge-mvn-") as work:
        Path(work, "pom.xml").write_text(pom, encoding="utf-8")
        command = [
            "mvn", "-B", "dependency:copy-dependencies", "-DexcludeTransitive=true",
            f"-DoutputDirectory={target}",
        ]  # fmt: skip
        process = subprocess.Popen(
            command, cwd=work, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True
        )
        assert process.stdout is not None
        tail: list[str] = []
        for line in process.stdout:
            tail = [*tail[-40:], line.rstrip()]
            if "Downloaded from" in line:
                log("  " + line.strip().removeprefix("[INFO] "))
        if process.wait() != 0:
            raise ArtifactError("mvn failed to fetch the artifacts:\n" + "\n".join(tail))


def fetch_with_http(coordinate: Coordinate, target: Path) -> None:
    destination = target / coordinate.filename
    if destination.is_file():
        return
    expected = read_url(coordinate.url + ".sha1").decode().split()[0].strip()
    partial = destination.with_suffix(destination.suffix + ".part")
    digest = hashlib.sha1()  # noqa: S324 - Maven Central publishes SHA-1 checksums
    with urllib.request.urlopen(coordinate.url, timeout=60) as response, partial.open("wb") as out:  # noqa: S310
        total = int(response.headers.get("Content-Length") or 0)
        done = 0
        while chunk := response.read(1 << 20):
            out.write(chunk)
            digest.update(chunk)
            done += len(chunk)
            if total:
                log(f"  {coordinate.filename}: {done * 100 // total}% of {total >> 20} MiB")
    if digest.hexdigest() != expected:
        partial.unlink()
        raise ArtifactError(f"{coordinate.filename}: SHA-1 mismatch with Maven Central")
    partial.rename(destination)


def read_url(url: str) -> bytes:
    try:
        with urllib.request.urlopen(url, timeout=60) as response:  # noqa: S310
            return bytes(response.read())
    except OSError as exc:
        raise ArtifactError(f"cannot download {url}: {exc}") from exc
