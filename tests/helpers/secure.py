"""A secured Elasticsearch node (TLS, the `elastic` user) for the tests of refusals and errors."""

from __future__ import annotations

from esbridge.stack.elasticsearch import EsNode

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
