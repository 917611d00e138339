"""Engine nodes beyond the session's: Elasticsearch 8 with its security module for real."""

from __future__ import annotations

import re
import secrets
import shutil

import pytest

from esbridge.cluster.errors import AuthError
from esbridge.cluster.flavour import Flavour
from esbridge.cluster.search import SearchCluster
from esbridge.stack.nodes import start_node, stop_node


def test_elasticsearch_8_runs_with_tls_and_the_elastic_user(
    tmp_path_factory: pytest.TempPathFactory,
) -> None:
    directory = tmp_path_factory.mktemp("es8-secure")
    password = secrets.token_urlsafe(18)
    node = start_node("elasticsearch-8", directory, password=password)
    try:
        assert node.url.startswith("https://")
        refused = (
            rf"^{re.escape(node.url)} refused esbridge's credentials: GET /: HTTP 401 security"
        )
        with pytest.raises(AuthError, match=refused):
            SearchCluster.connect([node.url], ca_certs=str(node.ca))
        with SearchCluster.connect(
            [node.url], username="elastic", password=password, ca_certs=str(node.ca)
        ) as cluster:
            written = cluster.create("secure-check", "1", {"n": 1}, refresh=True)
            stored = cluster.get("secure-check", "1")

            assert cluster.flavour == Flavour("elasticsearch", "8.19.7")
            assert stored is not None and stored.seq_no == written.seq_no
    finally:
        stop_node(node)
        shutil.rmtree(node.root if node.root.parent == directory else node.root.parent)
