"""A single-node OpenSearch from its integ-test-zip distribution.

OpenSearch is a fork of Elasticsearch 7.10 and starts the same way, so the node is
`EsNode` with OpenSearch's names: `bin/opensearch`, `opensearch.yml`, `OPENSEARCH_JAVA_HOME`,
`OPENSEARCH_PATH_CONF`, `OPENSEARCH_TMPDIR`. Its integ-test-zip has no security plugin (only
`transport-netty4`, plus `transport-grpc` in 3.x), so it runs plain HTTP and has no
`plugins.security.*` or `xpack.*` settings at all: an unknown setting stops the node.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from esbridge.stack.elasticsearch import EsNode
from esbridge.stack.engines import Engine, EngineError, engines
from esbridge.stack.jdk import Jdk

_RELATIVE = re.compile(r"(?<=[=:])((?:logs|data)(?=/|$))", re.MULTILINE)
"""`logs/...` or `data` right after `=` or `:` in a JVM option: paths relative to the home."""


@dataclass(frozen=True)
class OpenSearchNode(EsNode):
    engine: Engine = field(default_factory=lambda: engines()["opensearch-3"])

    @property
    def config_file(self) -> Path:
        return self.config / "opensearch.yml"

    @property
    def log_file(self) -> Path:
        return self.root / "opensearch.out"

    @property
    def pid_file(self) -> Path:
        return self.root / "opensearch.pid"

    def start(self) -> int:
        if self.secure:
            raise EngineError(no_security(self.engine))
        return super().start()

    def write_config(self) -> None:
        """As Elasticsearch's, plus absolute paths in `jvm.options`: OpenSearch's launcher runs
        in its home folder, where `logs/gc.log` and `data` would be the distribution's own
        (not writable by the node's user, and shared by every node of the stack folder)."""
        super().write_config()
        options = self.config / "jvm.options"
        text = options.read_text(encoding="utf-8")
        options.write_text(_RELATIVE.sub(rf"{self.root}/\1", text), encoding="utf-8")

    def environment(self, jdk: Jdk) -> dict[str, str]:
        return {
            "PATH": "/usr/local/bin:/usr/bin:/bin",
            "OPENSEARCH_JAVA_HOME": str(jdk.home),
            "OPENSEARCH_PATH_CONF": str(self.config),
            "OPENSEARCH_TMPDIR": str(self.root / "tmp"),
            "HOME": str(self.root / "tmp"),
            "LANG": "C.UTF-8",
        }

    def settings(self) -> dict[str, Any]:
        return self.base_settings()


def no_security(engine: Engine) -> str:
    return (
        f"{engine.label} (integ-test-zip) has no security plugin: --secure is not available "
        f"for {engine.name}; run it without --secure"
    )
