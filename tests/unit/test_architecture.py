"""The package graph docs/architecture.md describes: who may import whom, no cycles.

Imports are read statically from the source (as the before-stop hook's cycle check does), so a
new dependency between packages fails here until it is allowed below and described in
docs/architecture.md.
"""

from __future__ import annotations

import ast
import re
from collections import defaultdict
from pathlib import Path

from tests.helpers.paths import REPO

PACKAGE = REPO / "esbridge"
LEAVES = {"errors", "utc", "argv", "resources"}
"""Modules at the very bottom: they import nothing from esbridge."""

ALLOWED: dict[str, set[str]] = {
    "config": {"errors", "argv", "resources"},
    "transforms": {"config", "utc"},
    "ingest": {"config", "transforms", "cluster", "errors", "utc", "metrics"},
    "cluster": {"config", "errors"},
    "setup": {"config", "cluster", "errors", "resources", "utc", "metrics"},
    "notify": {"config", "errors", "utc"},
    "watch": {"config", "cluster", "notify", "errors", "utc", "argv", "metrics"},
    "kibana": {"config", "errors", "resources"},
    "logstash": {"config", "transforms", "errors", "resources"},
    "stack": {"errors", "resources"},
    "check": {"config", "cluster", "ingest", "notify", "setup", "errors"},
    "simulate": {"config", "errors", "utc", "ingest", "poll"},
    "poll": {"config", "ingest", "errors", "utc"},
    "analyze": {"errors", "utc"},
    "metrics": {"config", "errors", "utc", "argv", "resources"},
    "archive": {"config", "transforms", "ingest", "setup", "errors", "utc"},
    "cli": {"*"},
    "__main__": {"cli"},
    "react": {"config", "cluster", "ingest", "notify", "watch", "errors", "utc", "argv"},
}


def module_name(path: Path) -> str:
    rel = path.relative_to(REPO).with_suffix("")
    return ".".join(rel.parts).removesuffix(".__init__")


def top(module: str) -> str:
    """`esbridge.ingest.kafka.base` -> `ingest`; `esbridge.utc` -> `utc`."""
    parts = module.split(".")
    return parts[1] if len(parts) > 1 else "esbridge"


def imports(path: Path) -> set[str]:
    """esbridge modules imported by `path` at module level or in functions (not TYPE_CHECKING)."""
    found: set[str] = set()
    tree = ast.parse(path.read_text(encoding="utf-8"))
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names = [node.module]
        elif isinstance(node, ast.Import):
            names = [alias.name for alias in node.names]
        else:
            continue
        found |= {name for name in names if name == "esbridge" or name.startswith("esbridge.")}
    return found


def package_graph() -> dict[str, set[str]]:
    graph: dict[str, set[str]] = defaultdict(set)
    for path in PACKAGE.rglob("*.py"):
        source = top(module_name(path))
        for target in imports(path):
            if top(target) not in (source, "esbridge"):
                graph[source].add(top(target))
    return graph


def test_every_package_imports_only_what_it_may() -> None:
    graph = package_graph()
    wrong = {
        source: sorted(targets - ALLOWED.get(source, set()))
        for source, targets in graph.items()
        if "*" not in ALLOWED.get(source, set()) and targets - ALLOWED.get(source, set())
    }
    assert wrong == {}, (
        "new dependencies between packages; if intended, allow them here and say so in "
        "docs/architecture.md"
    )


def test_leaves_import_nothing_from_esbridge() -> None:
    for leaf in LEAVES:
        assert imports(PACKAGE / f"{leaf}.py") == set(), leaf


def test_the_package_graph_has_no_cycle() -> None:
    graph = package_graph()
    seen: dict[str, int] = {}

    def visit(node: str, path: tuple[str, ...]) -> None:
        if seen.get(node) == 1:
            raise AssertionError(f"cycle: {' -> '.join((*path, node))}")
        if seen.get(node) == 2:
            return
        seen[node] = 1
        for nxt in sorted(graph.get(node, ())):
            visit(nxt, (*path, node))
        seen[node] = 2

    for node in sorted(graph):
        visit(node, ())


def test_docs_describe_every_package_and_leaf() -> None:
    text = (REPO / "docs" / "architecture.md").read_text(encoding="utf-8")
    headings = [line for line in text.splitlines() if line.startswith("### ")]
    described = {name for line in headings for name in re.findall(r"`esbridge/([a-z_]+)", line)}
    packages = {p.name for p in PACKAGE.iterdir() if (p / "__init__.py").is_file()}
    leaves = {name.removesuffix(".py") for name in LEAVES}
    assert described == packages | leaves
    assert set(ALLOWED) - {"__main__"} == packages


def test_nothing_in_esbridge_imports_elasticsearch_py() -> None:
    """Every command talks to the cluster through `esbridge.cluster.search` (plain JSON over
    elastic-transport): elasticsearch-py 9 fails on Elasticsearch 8 and on OpenSearch, and it
    is no longer a dependency of the package, only of the tests."""
    users = []
    for path in PACKAGE.rglob("*.py"):
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
                names = [node.module]
            elif isinstance(node, ast.Import):
                names = [alias.name for alias in node.names]
            else:
                continue
            if any(name.split(".")[0] == "elasticsearch" for name in names):
                users.append(str(path.relative_to(REPO)))
    assert users == []
