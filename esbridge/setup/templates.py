"""Renders the resources `esbridge setup` installs, from the JSON bodies in `index-templates/`.

The bodies are Jinja2 templates so that an operator can read (and diff) exactly what esbridge
puts into the cluster; this module only supplies their parameters, stamps each body with a
content hash (how the installer knows whether a resource is already up to date) and returns
them in the order they must be installed. Templates and mappings are the same on Elasticsearch
8/9 and OpenSearch 2/3 (core field types only, one JSON type per dynamic template); what
differs is the lifecycle: an ILM policy on Elasticsearch, an ISM policy on OpenSearch, and the
index settings that name them (`Target`).
"""

from __future__ import annotations

import hashlib
import json
import re
from collections import Counter
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Literal, Protocol

import jinja2

from esbridge.cluster.flavour import Distribution
from esbridge.cluster.search import Lifecycle, SearchCluster
from esbridge.resources import INDEX_TEMPLATES, jinja_environment

Kind = Literal["component_template", "ilm_policy", "ism_policy", "index_template", "write_alias"]
PolicyKind = Literal["ilm_policy", "ism_policy"]

INSTALL_ORDER: tuple[Kind, ...] = (
    "component_template",
    "ilm_policy",
    "ism_policy",
    "index_template",
    "write_alias",
)
"""Each kind refers only to kinds before it: templates compose components and name policies,
and a bootstrap index must be created after the template that gives it its mappings (and,
with ISM, after the policy whose `ism_template` attaches it)."""

POLICY_MODULE: dict[PolicyKind, Lifecycle] = {"ilm_policy": "ilm", "ism_policy": "ism"}
_MODULE_OF: dict[Distribution, Lifecycle] = {"elasticsearch": "ilm", "opensearch": "ism"}
MANAGED_BY = "esbridge"
_ISM_STAMP = re.compile(r" \[managed_by esbridge, esbridge_hash ([0-9a-f]+)\]$")
DEADLETTER_ROLLOVER_MAX_PRIMARY_SHARD_SIZE = "10gb"
DEADLETTER_ROLLOVER_MAX_AGE = "7d"
"""Dead letters are few: weekly indices keep the shard count down, at the price of keeping a
dead letter up to a week beyond `retention_days` (ILM deletes whole indices)."""


class ProducerSpec(Protocol):
    """What the templates need of a producer (`esbridge.config.ProducerConfig` fits)."""

    @property
    def name(self) -> str: ...
    @property
    def parser(self) -> str: ...
    @property
    def index(self) -> str: ...
    @property
    def shards(self) -> int: ...
    @property
    def replicas(self) -> int: ...
    @property
    def total_fields_limit(self) -> int: ...
    @property
    def retention_days(self) -> int: ...
    @property
    def rollover_max_primary_shard_size(self) -> int:
        """Bytes."""
        ...

    @property
    def rollover_max_age(self) -> float:
        """Seconds."""
        ...


class DeadletterSpec(Protocol):
    """What the templates need of the dead-letter settings (`DeadletterConfig` fits)."""

    @property
    def index(self) -> str: ...
    @property
    def retention_days(self) -> int: ...


@dataclass(frozen=True)
class Target:
    """The engine the resources are rendered for: which policy kind it takes, and whether
    the index templates may name a lifecycle (a cluster without the module rejects those
    settings as unknown)."""

    distribution: Distribution = "elasticsearch"
    lifecycle: Lifecycle | None = None

    def __post_init__(self) -> None:
        if self.lifecycle is not None and self.lifecycle != _MODULE_OF[self.distribution]:
            raise ValueError(f"{self.distribution} has no {self.lifecycle}")

    @classmethod
    def of(cls, cluster: SearchCluster) -> Target:
        """What `cluster` is and has (asks it for its lifecycle module once)."""
        return cls(cluster.flavour.distribution, cluster.lifecycle())

    @property
    def policy_kind(self) -> PolicyKind:
        return "ilm_policy" if self.distribution == "elasticsearch" else "ism_policy"


@dataclass(frozen=True)
class Resource:
    """One thing to put into the cluster; `body` is the request body of its PUT (for a
    write alias: the create-index body of its bootstrap index)."""

    kind: Kind
    name: str
    body: dict[str, Any]


@dataclass(frozen=True)
class _Declaration:
    kind: Kind
    name: str
    template: str
    context: Mapping[str, Any]


def render_resources(
    producers: Sequence[ProducerSpec],
    deadletter: DeadletterSpec,
    *,
    target: Target = Target(),
    prefix: str = "esbridge",
    issues_index: str | None = None,
) -> list[Resource]:
    """Every resource for these producers and dead letters, in `INSTALL_ORDER`.

    `target` picks the policy kind (ILM for Elasticsearch, ISM for OpenSearch) and whether the
    index templates name the policy (`index.lifecycle.*`, or ISM's rollover alias): only when
    the cluster has the module, since one without it rejects the settings as unknown. Policies
    are rendered either way; the installer skips them where they cannot be installed. `prefix`
    starts every template and policy name, so that separate installs can share a cluster.
    `issues_index` (the config's `watch.issues_index`, None without a `watch:` section) adds the
    issues index's mappings; the index itself is created by the watcher's first write.

    Raises ValueError for a parser without mappings or two resources with the same name.
    """
    declarations = [
        *_envelope_declarations(prefix),
        *(d for p in producers for d in _producer_declarations(p, prefix, target)),
        *_deadletter_declarations(deadletter, prefix, target),
        *(_issues_declarations(issues_index, prefix) if issues_index is not None else ()),
    ]
    environment = _environment()
    resources = [_render(environment, d) for d in declarations]
    resources += [write_alias(p.index) for p in producers]
    resources.append(write_alias(deadletter.index))
    _check_unique(resources)
    return sorted(resources, key=lambda r: INSTALL_ORDER.index(r.kind))


def bootstrap_index_name(alias: str) -> str:
    """The first backing index of a rollover alias (rollover needs the `-000001` suffix)."""
    return f"{alias}-000001"


def write_alias(alias: str) -> Resource:
    """The rollover alias `alias`, writing to its bootstrap index (marked as esbridge's)."""
    body = {"aliases": {alias: {"is_write_index": True}}, "mappings": provenance(alias)}
    return Resource("write_alias", alias, body)


def provenance(alias: str) -> dict[str, Any]:
    """The mappings `_meta` of every index esbridge creates behind `alias` (setup's bootstrap,
    maintain's rollovers): what `esbridge maintain` requires before it deletes an index.

    Given at creation, not by the index template: a template shapes every index whose name
    matches its pattern, whoever creates it, so its `_meta` would prove nothing.
    """
    return {"_meta": {"managed_by": MANAGED_BY, "write_alias": alias}}


def esbridge_hash(kind: Kind, body: dict[str, Any]) -> str | None:
    """The content hash stamped into a template or policy body (rendered or as stored), if any.

    In `_meta`, except for an ISM policy: ISM refuses unknown fields (it has no `_meta`), so
    its hash ends the policy's `description`.
    """
    if kind == "ism_policy":
        description = body.get("policy", {}).get("description")
        found = _ISM_STAMP.search(description) if isinstance(description, str) else None
        return found.group(1) if found else None
    meta = _meta_holder(kind, body).get("_meta")
    value = meta.get("esbridge_hash") if isinstance(meta, dict) else None
    return value if isinstance(value, str) else None


def content_hash(body: Mapping[str, Any]) -> str:
    """A stable digest of a body: the same content gives the same hash, whatever the key order."""
    canonical = json.dumps(body, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    return hashlib.sha256(canonical.encode()).hexdigest()[:16]


def es_byte_size(size: int) -> str:
    """Bytes in Elasticsearch's notation, in the largest exact unit (`53687091200` -> `50gb`)."""
    for unit, factor in (("tb", 1024**4), ("gb", 1024**3), ("mb", 1024**2), ("kb", 1024)):
        if size % factor == 0:
            return f"{size // factor}{unit}"
    return f"{size}b"


def es_time(seconds: float) -> str:
    """Seconds in Elasticsearch's time notation, largest exact unit (`86400.0` -> `1d`)."""
    millis = round(seconds * 1000)
    for unit, factor in (("d", 86_400_000), ("h", 3_600_000), ("m", 60_000), ("s", 1000)):
        if millis % factor == 0:
            return f"{millis // factor}{unit}"
    return f"{millis}ms"


def _envelope_declarations(prefix: str) -> Iterator[_Declaration]:
    yield _Declaration("component_template", f"{prefix}-envelope", "envelope.component", {})


def _policy(
    target: Target,
    name: str,
    index: str,
    *,
    max_primary_shard_size: str,
    max_age: str,
    retention_days: int,
) -> _Declaration:
    """The lifecycle policy of one write alias, ILM or ISM by `target`: roll over at either
    threshold, delete an index `retention_days` after its rollover."""
    return _Declaration(
        target.policy_kind,
        name,
        "ilm-policy" if target.policy_kind == "ilm_policy" else "ism-policy",
        {
            "index": index,
            "rollover_max_primary_shard_size": max_primary_shard_size,
            "rollover_max_age": max_age,
            "retention_days": retention_days,
        },
    )


def _producer_declarations(
    producer: ProducerSpec, prefix: str, target: Target
) -> Iterator[_Declaration]:
    name = f"{prefix}-{producer.name}"
    mappings = f"{name}-mappings"
    yield _Declaration(
        "component_template",
        mappings,
        f"{producer.parser}.component",
        {"total_fields_limit": producer.total_fields_limit},
    )
    yield _policy(
        target,
        name,
        producer.index,
        max_primary_shard_size=es_byte_size(producer.rollover_max_primary_shard_size),
        max_age=es_time(producer.rollover_max_age),
        retention_days=producer.retention_days,
    )
    yield _Declaration(
        "index_template",
        name,
        "producer.index-template",
        {
            "index": producer.index,
            "composed_of": [f"{prefix}-envelope", mappings],
            "shards": producer.shards,
            "replicas": producer.replicas,
            "lifecycle": target.lifecycle,
            "policy": name,
        },
    )


def _deadletter_declarations(
    deadletter: DeadletterSpec, prefix: str, target: Target
) -> Iterator[_Declaration]:
    name = f"{prefix}-deadletter"
    mappings = f"{name}-mappings"
    yield _Declaration("component_template", mappings, "deadletter.component", {})
    yield _policy(
        target,
        name,
        deadletter.index,
        max_primary_shard_size=DEADLETTER_ROLLOVER_MAX_PRIMARY_SHARD_SIZE,
        max_age=DEADLETTER_ROLLOVER_MAX_AGE,
        retention_days=deadletter.retention_days,
    )
    yield _Declaration(
        "index_template",
        name,
        "deadletter.index-template",
        {
            "index": deadletter.index,
            "composed_of": [mappings],
            "lifecycle": target.lifecycle,
            "policy": name,
        },
    )


def _issues_declarations(index: str, prefix: str) -> Iterator[_Declaration]:
    """A plain index, not an alias: issues are updated in place under stable ids, and an
    optimistic-concurrency write (`if_seq_no`) must address the one index holding the issue."""
    name = f"{prefix}-issues"
    mappings = f"{name}-mappings"
    yield _Declaration("component_template", mappings, "issues.component", {})
    yield _Declaration(
        "index_template",
        name,
        "issues.index-template",
        {"index": index, "composed_of": [mappings]},
    )


def _environment() -> jinja2.Environment:
    environment = jinja_environment(INDEX_TEMPLATES)
    # Jinja's own tojson escapes <, > and & for HTML; plain JSON is what Elasticsearch reads.
    environment.filters["tojson"] = json.dumps
    return environment


def _render(environment: jinja2.Environment, declaration: _Declaration) -> Resource:
    file_name = f"{declaration.template}.json.j2"
    try:
        template = environment.get_template(file_name)
    except jinja2.TemplateNotFound:
        raise ValueError(
            f"{declaration.kind} {declaration.name}: no template {INDEX_TEMPLATES}/{file_name}"
        ) from None
    body = json.loads(template.render(declaration.context))
    return Resource(declaration.kind, declaration.name, _stamped(declaration.kind, body))


def _stamped(kind: Kind, body: dict[str, Any]) -> dict[str, Any]:
    """`body` with `_meta` {managed_by, esbridge_hash}, the hash taken over everything else
    (for an ISM policy, the same two at the end of its description)."""
    digest = content_hash(body)
    if kind == "ism_policy":
        policy = body["policy"]
        policy["description"] += f" [managed_by {MANAGED_BY}, esbridge_hash {digest}]"
        return body
    _meta_holder(kind, body)["_meta"] = {"managed_by": MANAGED_BY, "esbridge_hash": digest}
    return body


def _meta_holder(kind: Kind, body: dict[str, Any]) -> dict[str, Any]:
    """Where `_meta` lives: inside `policy` for an ILM policy, at the top for templates."""
    holder: dict[str, Any] = body["policy"] if kind == "ilm_policy" else body
    return holder


def _check_unique(resources: Iterable[Resource]) -> None:
    counts = Counter((r.kind, r.name) for r in resources)
    duplicates = sorted(f"{kind} {name}" for (kind, name), n in counts.items() if n > 1)
    if duplicates:
        raise ValueError(f"two resources would have the same name: {', '.join(duplicates)}")
