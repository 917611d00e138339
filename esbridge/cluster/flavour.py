"""Which engine and version answer at a URL, told from the cluster's own answers.

`GET /` names the engine: OpenSearch says `version.distribution: opensearch`, Elasticsearch
(7.14+) sends `X-Elastic-Product: Elasticsearch`. Neither answer is enough alone: the
Elasticsearch integ-test-zip answers `GET /` with 405 (the local node info comes from
`GET /_nodes/_local` instead, which every engine serves), and OpenSearch can be told to
report 7.10.2 as its `version.number` (`compatibility.override_main_response_version`), so
for OpenSearch saying 7.x the real version is read from the node too. Pure functions: the
caller does the requests.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any, Literal

from esbridge.cluster.errors import UnsupportedClusterError, from_answer

Distribution = Literal["elasticsearch", "opensearch"]
MINIMUM_MAJOR: dict[Distribution, int] = {"elasticsearch": 8, "opensearch": 2}
SUPPORTED = "Elasticsearch 8 and 9, OpenSearch 2 and 3"
NODES_PATH = "/_nodes/_local?filter_path=nodes.*.version"
_PRODUCT = {"elasticsearch": "Elasticsearch", "opensearch": "OpenSearch"}
_VERSION = re.compile(r"^(\d+)\.(\d+)")


@dataclass(frozen=True)
class Answer:
    """One HTTP answer: status, parsed body, headers with lower-case names."""

    status: int
    body: Any
    headers: Mapping[str, str]


@dataclass(frozen=True)
class Flavour:
    distribution: Distribution
    version: str

    @property
    def major(self) -> int:
        return _numbers(self.version)[0]

    @property
    def minor(self) -> int:
        return _numbers(self.version)[1]

    @property
    def product(self) -> str:
        return _PRODUCT[self.distribution]

    @property
    def label(self) -> str:
        return f"{self.product} {self.version}"

    @property
    def has_shard_doc(self) -> bool:
        """Whether `_shard_doc`, the tiebreaker of a point-in-time search, can be sorted on:
        Elasticsearch 7.12+ and OpenSearch 3; OpenSearch 2 answers "No mapping found for
        [_shard_doc]", so a paged search there needs a unique field as its last sort key."""
        return self.distribution == "elasticsearch" or self.major >= 3


def identify(root: Answer, nodes: Callable[[], Answer], where: str) -> Flavour:
    """The engine and version behind `root` (the answer to `GET /`); `nodes` fetches
    `GET /_nodes/_local` when `root` is not enough. Raises UnsupportedClusterError for an
    engine older than esbridge supports, or one that is neither engine."""
    if root.status in (401, 403):
        raise from_answer("GET /", root.status, root.body)
    distribution = _distribution(root)
    version = _root_version(root) if root.status == 200 else None
    if version is None or (distribution == "opensearch" and version.startswith("7.")):
        answer = nodes()
        distribution = distribution or _distribution(answer)
        if answer.status != 200 and distribution is not None:
            raise from_answer(f"GET {NODES_PATH}", answer.status, answer.body)
        version = _nodes_version(answer)
    if distribution is None or version is None or not _VERSION.match(version):
        raise UnsupportedClusterError(
            f"{where} answers neither as Elasticsearch nor as OpenSearch "
            f"(GET / said HTTP {root.status}); esbridge supports {SUPPORTED}"
        )
    flavour = Flavour(distribution, version)
    if flavour.major < MINIMUM_MAJOR[distribution]:
        raise UnsupportedClusterError(
            f"{flavour.label} at {where} is older than esbridge supports: {SUPPORTED}"
        )
    return flavour


def _distribution(answer: Answer) -> Distribution | None:
    version = answer.body.get("version") if isinstance(answer.body, dict) else None
    if isinstance(version, dict) and version.get("distribution") == "opensearch":
        return "opensearch"
    if answer.headers.get("x-elastic-product") == "Elasticsearch":
        return "elasticsearch"
    if isinstance(version, dict) and "number" in version and "distribution" not in version:
        return "elasticsearch"  # before 7.14 Elasticsearch sent no product header
    return None


def _root_version(answer: Answer) -> str | None:
    version = answer.body.get("version") if isinstance(answer.body, dict) else None
    number = version.get("number") if isinstance(version, dict) else None
    return str(number) if number else None


def _nodes_version(answer: Answer) -> str | None:
    nodes = answer.body.get("nodes") if isinstance(answer.body, dict) else None
    if not isinstance(nodes, dict):
        return None
    versions = [str(node["version"]) for node in nodes.values() if "version" in node]
    return versions[0] if versions else None


def _numbers(version: str) -> tuple[int, int]:
    match = _VERSION.match(version)
    if match is None:
        raise ValueError(f"not a version: {version}")
    return int(match.group(1)), int(match.group(2))
