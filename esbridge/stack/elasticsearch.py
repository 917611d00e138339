"""A single-node Elasticsearch from the integ-test-zip distribution.

Elasticsearch refuses to run as root, so under root the node runs as the unprivileged system
user `esbridge`, which owns the node's config, data, logs and temp folders. The node runs the
engine it is given (`esbridge/stack/engines.py`; Elasticsearch 9 unless told otherwise);
OpenSearch's node (`esbridge/stack/opensearch.py`) reuses all of it but its launcher's names.
"""

from __future__ import annotations

import base64
import json
import os
import pwd
import shutil
import ssl
import stat
import subprocess
import time
import urllib.error
import urllib.request
import zipfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from esbridge.stack import process
from esbridge.stack.engines import DEFAULT_ENGINE, Engine, engine_zip, engines, find_jdk_for
from esbridge.stack.jdk import Jdk
from esbridge.stack.kafka import ServerStartError

RUN_AS_USER = "esbridge"


@dataclass(frozen=True)
class EsNode:
    root: Path
    port: int
    transport_port: int
    password: str | None = None
    engine: Engine = field(default_factory=lambda: engines()[DEFAULT_ENGINE])

    @property
    def secure(self) -> bool:
        return self.password is not None

    @property
    def home(self) -> Path:
        return self.root / "home" / self.engine.home_name

    @property
    def config(self) -> Path:
        return self.root / "config"

    @property
    def ca(self) -> Path:
        return self.config / "certs" / "ca" / "ca.crt"

    @property
    def config_file(self) -> Path:
        return self.config / "elasticsearch.yml"

    @property
    def launcher(self) -> Path:
        return self.home / "bin" / self.engine.coordinate.artifact

    @property
    def url(self) -> str:
        return f"{'https' if self.secure else 'http'}://127.0.0.1:{self.port}"

    @property
    def log_file(self) -> Path:
        return self.root / "elasticsearch.out"

    @property
    def pid_file(self) -> Path:
        return self.root / "elasticsearch.pid"

    @property
    def marker(self) -> str:
        return str(self.home)

    def pid(self) -> int | None:
        return process.read_pid(self.pid_file, self.marker)

    def start(self) -> int:
        jdk = find_jdk_for(self.engine)
        self.install_home()
        self.write_config()
        if self.secure:
            self.make_security_material(jdk)
        user = run_as_user()
        if user:
            for folder in ("config", "data", "logs", "tmp"):
                chown_tree(self.root / folder, user)
        env = self.environment(jdk)
        command = [str(self.launcher)]
        if user:
            command = ["setpriv", f"--reuid={user.pw_uid}", f"--regid={user.pw_gid}",
                       "--clear-groups", *command]  # fmt: skip
        return process.start_detached(
            command, log_file=self.log_file, pid_file=self.pid_file, env=env, cwd=self.root
        )

    def environment(self, jdk: Jdk) -> dict[str, str]:
        """The launcher's variables: the JDK, the config folder and the temp folder."""
        return {
            "PATH": "/usr/local/bin:/usr/bin:/bin",
            "ES_JAVA_HOME": str(jdk.home),
            "ES_PATH_CONF": str(self.config),
            "ES_TMPDIR": str(self.root / "tmp"),
            "HOME": str(self.root / "tmp"),
            "LANG": "C.UTF-8",
        }

    def install_home(self) -> None:
        """Unpacks the distribution once per stack folder, keeping the executable bits."""
        if self.launcher.exists():
            return
        archive = engine_zip(self.engine)
        target = self.root / "home"
        target.mkdir(parents=True, exist_ok=True)
        with zipfile.ZipFile(archive) as zf:
            for info in zf.infolist():
                path = Path(zf.extract(info, target))
                mode = (info.external_attr >> 16) & 0o777
                if mode:
                    path.chmod(mode | 0o444 | (0o111 if info.is_dir() else 0))
        for folder in ("data", "logs", "tmp"):
            (self.root / folder).mkdir(parents=True, exist_ok=True)

    def write_config(self) -> None:
        if not (self.config / "jvm.options").exists():
            shutil.copytree(self.home / "config", self.config, dirs_exist_ok=True)
        heap = os.environ.get("ESBRIDGE_ES_HEAP", "1g")
        options = self.config / "jvm.options.d" / "esbridge.options"
        options.parent.mkdir(parents=True, exist_ok=True)
        options.write_text(f"-Xms{heap}\n-Xmx{heap}\n")
        lines = [f"{key}: {json.dumps(value)}" for key, value in self.settings().items()]
        self.config_file.write_text("\n".join(lines) + "\n")

    def base_settings(self) -> dict[str, Any]:
        """Loopback, single node, the given ports, and no disk watermarks (small test disks)."""
        return {
            "cluster.name": "esbridge",
            "node.name": "esbridge-node",
            "network.host": "127.0.0.1",
            "http.port": self.port,
            "transport.port": self.transport_port,
            "discovery.type": "single-node",
            "path.data": str(self.root / "data"),
            "path.logs": str(self.root / "logs"),
            "action.destructive_requires_name": False,
            "cluster.routing.allocation.disk.threshold_enabled": False,
        }

    def settings(self) -> dict[str, Any]:
        settings = self.base_settings() | {"xpack.security.enabled": self.secure}
        if self.secure:
            settings |= {
                "xpack.security.http.ssl.enabled": True,
                "xpack.security.http.ssl.key": "certs/node/node.key",
                "xpack.security.http.ssl.certificate": "certs/node/node.crt",
                "xpack.security.http.ssl.certificate_authorities": "certs/ca/ca.crt",
                "xpack.security.transport.ssl.enabled": True,
                "xpack.security.transport.ssl.key": "certs/node/node.key",
                "xpack.security.transport.ssl.certificate": "certs/node/node.crt",
                "xpack.security.transport.ssl.certificate_authorities": "certs/ca/ca.crt",
                "xpack.security.authc.api_key.enabled": True,
            }
        return settings

    def make_security_material(self, jdk: Jdk) -> None:
        """A private CA, a node certificate for 127.0.0.1, and the `elastic` user's password."""
        env = {**os.environ, "ES_JAVA_HOME": str(jdk.home), "ES_PATH_CONF": str(self.config)}
        certs = self.config / "certs"
        if not self.ca.exists():
            certs.mkdir(parents=True, exist_ok=True)
            certutil = str(self.home / "bin" / "elasticsearch-certutil")
            self.run_tool(
                [certutil, "ca", "--pem", "--silent", "--out", str(certs / "ca.zip")], env
            )
            self.run_tool(
                [certutil, "cert", "--pem", "--silent", "--name", "node", "--ip", "127.0.0.1",
                 "--dns", "localhost", "--ca-cert", str(self.ca),
                 "--ca-key", str(certs / "ca" / "ca.key"), "--out", str(certs / "node.zip")],
                env,
            )  # fmt: skip
        keystore = str(self.home / "bin" / "elasticsearch-keystore")
        if not (self.config / "elasticsearch.keystore").exists():
            self.run_tool([keystore, "create"], env)
        self.run_tool([keystore, "add", "-x", "-f", "bootstrap.password"], env, self.password)

    def run_tool(self, command: list[str], env: dict[str, str], stdin: str | None = None) -> None:
        result = subprocess.run(
            command, env=env, input=stdin, capture_output=True, text=True, check=False
        )
        if result.returncode != 0:
            raise ServerStartError(
                f"{Path(command[0]).name} failed: {result.stdout}{result.stderr}"
            )
        for archive in self.config.glob("certs/*.zip"):
            with zipfile.ZipFile(archive) as zf:
                zf.extractall(archive.parent)
            archive.unlink()

    def request(self, path: str, timeout: float = 5.0) -> tuple[int, dict[str, Any]]:
        """A GET against the node as a plain HTTP client: usable before any client library."""
        req = urllib.request.Request(self.url + path)  # noqa: S310 - loopback URL we built
        if self.password:
            token = base64.b64encode(f"elastic:{self.password}".encode()).decode()
            req.add_header("Authorization", f"Basic {token}")
        context = ssl.create_default_context(cafile=str(self.ca)) if self.secure else None
        try:
            with urllib.request.urlopen(req, timeout=timeout, context=context) as response:  # noqa: S310
                return response.status, json.loads(response.read() or b"{}")
        except urllib.error.HTTPError as exc:
            return exc.code, json.loads(exc.read() or b"{}")

    def health(self) -> str | None:
        """`green`/`yellow`/`red`, or None when the node does not answer."""
        try:
            status, body = self.request("/_cluster/health", timeout=3)
        except (OSError, ValueError):
            return None
        return str(body.get("status")) if status == 200 else None

    def version(self) -> str | None:
        try:
            status, body = self.request("/_nodes/_local?filter_path=nodes.*.version")
        except (OSError, ValueError):
            return None
        nodes = body.get("nodes", {}) if status == 200 else {}
        return next((str(n["version"]) for n in nodes.values()), None)

    def wait_healthy(self, pid: int, deadline: float) -> None:
        while time.monotonic() < deadline:
            if not process.alive(pid):
                raise ServerStartError(
                    f"{self.engine.product} exited during start-up; "
                    f"last lines of {self.log_file}:\n" + process.tail(self.log_file)
                )
            if self.health() in ("green", "yellow"):
                return
            time.sleep(0.5)
        raise ServerStartError(
            f"{self.engine.product} was not green or yellow in time; "
            f"last lines of {self.log_file}:\n" + process.tail(self.log_file)
        )


def run_as_user() -> pwd.struct_passwd | None:
    """The unprivileged account Elasticsearch runs as (created if needed); None unless root."""
    if os.geteuid() != 0:
        return None
    try:
        return pwd.getpwnam(RUN_AS_USER)
    except KeyError:
        subprocess.run(
            ["useradd", "--system", "--user-group", "--no-create-home",
             "--shell", "/usr/sbin/nologin", RUN_AS_USER],
            check=True, capture_output=True,
        )  # fmt: skip
        return pwd.getpwnam(RUN_AS_USER)


def chown_tree(path: Path, user: pwd.struct_passwd) -> None:
    for entry in [path, *path.rglob("*")]:
        os.lchown(entry, user.pw_uid, user.pw_gid)


def traversable_by_others(path: Path) -> bool:
    """Whether an unprivileged user can reach `path` (every ancestor has o+x)."""
    current = path.resolve()
    for folder in [current, *current.parents]:
        if folder.exists() and not folder.stat().st_mode & stat.S_IXOTH:
            return False
    return True
