"""Filebeat built from source, once, into the user cache (for tests/integration/test_filebeat.py).

Elastic publishes Filebeat binaries only on its own download site; its source is a Go module
(`github.com/elastic/beats/v7`) served by the Go module proxy. `filebeat_binary()` downloads the
pinned release there, checks its checksum and builds `./filebeat` inside the module (the beats
go.mod has `replace` directives, which `go install pkg@version` refuses). GOPATH, the module
cache and the build cache live in a scratch directory that is deleted afterwards: the cache
keeps the binary only.

The version is 7.17.29 because that is the newest the module proxy serves. Beats 8.x and 9.x
are tagged `v8.*` / `v9.*` on a module whose path ends in `/v7`, which Go cannot resolve as a
version (only as a pseudo-version of the commit). The build is CGO_ENABLED=0: Filebeat 7.17's
journald input needs cgo, the systemd development headers and the `withjournald` tag, so this
binary has no journald input.

`python -m esbridge.stack.filebeat` builds it (if needed) and prints its path.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Mapping, Sequence
from pathlib import Path

from esbridge.errors import EsbridgeError
from esbridge.stack.artifacts import cache_lock, log
from esbridge.stack.paths import cache_dir

FILEBEAT_VERSION = "7.17.29"
BEATS_MODULE = "github.com/elastic/beats/v7"
BEATS_MODULE_SUM = "h1:xZD9AOJSheSUy96zjPo3K1UlwM2ROihnosUfTctGmv8="
"""The Go checksum database's hash of the module zip (`go mod download -json` prints it)."""

BUILD_FLAGS = ("-trimpath", "-buildvcs=false", "-ldflags=-s -w")


class FilebeatBuildError(EsbridgeError):
    """Filebeat could not be downloaded or built; the message carries Go's last lines."""


def filebeat_dir() -> Path:
    return cache_dir() / "artifacts" / f"filebeat-{FILEBEAT_VERSION}"


def filebeat_binary() -> Path:
    """The Filebeat executable, built on first use (about 5 minutes on 2 cores, cold)."""
    target = filebeat_dir()
    binary = target / "filebeat"
    with cache_lock(f"filebeat-{FILEBEAT_VERSION}"):
        if (target / ".complete").exists() and binary.is_file():
            return binary
        build(target)
    return binary


def build(target: Path) -> None:
    go = shutil.which("go")
    if go is None:
        raise FilebeatBuildError(
            f"building Filebeat {FILEBEAT_VERSION} needs the Go toolchain (`go`, 1.23.10 or "
            "newer) on PATH"
        )
    started = time.monotonic()
    log(
        f"esbridge: building Filebeat {FILEBEAT_VERSION} from the Go module proxy (once; "
        "about 5 minutes and 2 GB of scratch space) ..."
    )
    root = cache_dir() / "artifacts"
    root.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix=".filebeat-build-", dir=root) as scratch:
        work = Path(scratch)
        env = go_environment(work)
        source = download_source(go, work, env)
        downloaded = time.monotonic()
        target.mkdir(parents=True, exist_ok=True)
        partial = target / "filebeat.part"
        command = ["nice", "-n", "10", go, "build", *BUILD_FLAGS, "-o", str(partial), "./filebeat"]
        run_go(command, cwd=source, env=env, what="go build ./filebeat")
        version = run_go(
            [str(partial), "version", "--path.home", str(work)],
            cwd=work,
            env=env,
            what="filebeat version",
        ).strip()
        if f"filebeat version {FILEBEAT_VERSION} " not in version:
            raise FilebeatBuildError(f"the built binary reports {version!r}")
        partial.rename(target / "filebeat")
        toolchain = go_version(go, env)
    took = time.monotonic() - started
    (target / "BUILD").write_text(
        f"{version}\nmodule {BEATS_MODULE}@v{FILEBEAT_VERSION} {BEATS_MODULE_SUM}\n"
        f"{toolchain}, CGO_ENABLED=0, go build {' '.join(BUILD_FLAGS)} ./filebeat\n"
        f"download {downloaded - started:.0f} s, total {took:.0f} s\n",
        encoding="utf-8",
    )
    (target / ".complete").write_text("ok\n")
    log(f"esbridge: Filebeat {FILEBEAT_VERSION} built in {took:.0f} s: {target / 'filebeat'}")


def go_environment(work: Path) -> dict[str, str]:
    """A cold, self-contained Go setup in `work`: nothing from (or into) the user's caches."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("GO", "CGO_"))}
    keep = ("GOPROXY", "GONOPROXY", "GOSUMDB", "GONOSUMDB", "GOPRIVATE", "GOINSECURE")
    env.update({k: os.environ[k] for k in keep if k in os.environ})
    env.update(
        {
            "GOPATH": str(work / "gopath"),
            "GOMODCACHE": str(work / "modcache"),
            "GOCACHE": str(work / "gocache"),
            "GOFLAGS": "-modcacherw",  # a module cache that rmtree can delete
            "GOTOOLCHAIN": "local",
            "GOWORK": "off",
            "GO111MODULE": "on",
            "CGO_ENABLED": "0",
        }
    )
    return env


def download_source(go: str, work: Path, env: Mapping[str, str]) -> Path:
    """The beats module from the proxy, checksum-checked, copied out to a writable tree."""
    output = run_go(
        [go, "mod", "download", "-json", f"{BEATS_MODULE}@v{FILEBEAT_VERSION}"],
        cwd=work,
        env=env,
        what=f"go mod download {BEATS_MODULE}@v{FILEBEAT_VERSION}",
    )
    try:
        info = json.loads(output)
    except ValueError:
        raise FilebeatBuildError(f"unexpected `go mod download` output:\n{output}") from None
    if info.get("Error"):
        raise FilebeatBuildError(f"cannot download Filebeat's source: {info['Error']}")
    if info.get("Sum") != BEATS_MODULE_SUM:
        raise FilebeatBuildError(
            f"{BEATS_MODULE}@v{FILEBEAT_VERSION} has checksum {info.get('Sum')}, "
            f"expected {BEATS_MODULE_SUM}"
        )
    source = work / "src"
    shutil.copytree(info["Dir"], source)
    for folder, _, files in os.walk(source):
        os.chmod(folder, 0o755)  # noqa: S103 - a private scratch tree
        for name in files:
            os.chmod(os.path.join(folder, name), 0o644)
    return source


def run_go(command: Sequence[str], *, cwd: Path, env: Mapping[str, str], what: str) -> str:
    """Runs `command`; its stdout, or FilebeatBuildError with the last lines of its output."""
    result = subprocess.run(
        list(command), cwd=cwd, env=dict(env), capture_output=True, text=True, check=False
    )
    if result.returncode != 0:
        lines = (result.stdout + result.stderr).splitlines()
        tail = "\n".join(line for line in lines if not line.startswith("go: downloading"))
        raise FilebeatBuildError(f"`{what}` failed (exit {result.returncode}):\n{tail[-4000:]}")
    return result.stdout


def go_version(go: str, env: Mapping[str, str]) -> str:
    result = subprocess.run(
        [go, "version"], env=dict(env), capture_output=True, text=True, check=False
    )
    return result.stdout.strip()


def main() -> int:
    try:
        print(filebeat_binary())
    except FilebeatBuildError as error:
        log(f"esbridge: {error}")
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
