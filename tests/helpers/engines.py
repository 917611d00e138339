"""A node of each search engine for module-scoped fixtures, and removing what a test installed."""

from __future__ import annotations

import contextlib
import shutil
from collections.abc import Iterable, Iterator

import pytest

from esbridge.cluster.errors import NotFoundError
from esbridge.cluster.search import SearchCluster
from esbridge.setup.templates import Resource
from esbridge.stack.nodes import start_node, stop_node

ENGINES = ["elasticsearch-9", "elasticsearch-8", "opensearch-2", "opensearch-3"]


@contextlib.contextmanager
def engine_url(
    name: str, request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[str]:
    """The URL of a running `name`: the session's Elasticsearch 9, or a node started here and
    stopped (its folders removed) afterwards. Use it from a module-scoped fixture, so that one
    engine is stopped before the next starts."""
    if name == "elasticsearch-9":
        yield request.getfixturevalue("es_url")
        return
    directory = tmp_path_factory.mktemp(name)
    node = start_node(name, directory)
    try:
        yield node.url
    finally:
        stop_node(node)
        # under root the node's folders may live under /var/lib/esbridge: leave nothing there
        shutil.rmtree(node.root if node.root.parent == directory else node.root.parent)


def remove_installed(cluster: SearchCluster, resources: Iterable[Resource]) -> None:
    """Delete the indices behind every write alias of `resources`, then the templates, by
    name: Elasticsearch refuses wildcard deletes (`action.destructive_requires_name`)."""
    installed = list(resources)
    for resource in installed:
        if resource.kind == "write_alias":
            found = cluster.get_index(f"{resource.name}*")
            if found:
                cluster.delete_index(",".join(found))
    for kind, delete in (
        ("index_template", cluster.delete_index_template),
        ("component_template", cluster.delete_component_template),
    ):
        for resource in installed:
            if resource.kind == kind:
                with contextlib.suppress(NotFoundError):
                    delete(resource.name)
