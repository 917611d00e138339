"""A secured Elasticsearch node (TLS, the `elastic` user) for the tests of refusals and errors."""

from __future__ import annotations

from pathlib import Path

from esbridge.stack.elasticsearch import EsNode
from esbridge.stack.process import free_port

MAX_CONTENT_LENGTH = 64 * 1024
PASSWORD = "right-password-4-esbridge"


class SmallRequestsNode(EsNode):
    """A secured node (TLS, the `elastic` user) that refuses HTTP bodies above 64 KiB.

    `http.max_content_length` is a static node setting, so it cannot be lowered on the shared
    node at run time; this node of its own is started with it.
    """

    def write_config(self) -> None:
        super().write_config()
        with (self.config / "elasticsearch.yml").open("a", encoding="utf-8") as settings:
            settings.write(f"http.max_content_length: {MAX_CONTENT_LENGTH}b\n")


OTHER_CA = "/etc/ssl/certs/ca-certificates.crt"
"""Public CAs: none of them signed a test node's certificate."""

ES_FAILURES = ("closed port", "wrong password", "wrong CA")


def broken_es_config(config: Path, node: EsNode, failure: str, directory: Path) -> tuple[Path, str]:
    """`config` (whose elasticsearch section logs in to the secured `node` as `elastic`) broken
    in one way of `ES_FAILURES`, and the endpoint (host:port) the error must name."""
    text = config.read_text()
    endpoint = node.url
    if failure == "closed port":
        endpoint = f"https://127.0.0.1:{free_port()}"
        text = text.replace(node.url, endpoint)
    elif failure == "wrong password":
        text = text.replace(f'password: "{PASSWORD}"', 'password: "not-the-password"')
    else:
        text = text.replace(f"ca_certs: {node.ca}", f"ca_certs: {OTHER_CA}")
    path = directory / f"es-{failure.replace(' ', '-')}.yml"
    path.write_text(text)
    return path, endpoint.removeprefix("https://")
