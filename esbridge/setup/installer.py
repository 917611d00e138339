"""Installs rendered resources into Elasticsearch, idempotently: what is already there with the
same content hash is left alone, so `esbridge setup` can be re-run at every deploy.

Nothing here deletes: an index in the way of a write alias is reported, never removed.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any, Literal

from elastic_transport import TransportError
from elasticsearch import ApiError, Elasticsearch

from esbridge.errors import EsbridgeError
from esbridge.setup.templates import (
    INSTALL_ORDER,
    Kind,
    Resource,
    bootstrap_index_name,
    esbridge_hash,
)

Action = Literal["created", "updated", "unchanged", "skipped"]

NO_ILM = "this Elasticsearch has no ILM (the test distribution); retention is not enforced"


class SetupError(EsbridgeError):
    """Elasticsearch refused a resource, or something in the cluster is in the way."""


@dataclass(frozen=True)
class Change:
    """What installing one resource did (or, in a dry run, would do)."""

    kind: Kind
    name: str
    action: Action
    detail: str


@dataclass(frozen=True)
class Capabilities:
    """What the cluster supports that changes how esbridge sets it up."""

    ilm: bool
    version: str


@dataclass(frozen=True)
class _Api:
    """How to read and write one kind of stored, hash-stamped resource."""

    get: Callable[[Elasticsearch, str], dict[str, Any] | None]
    put: Callable[[Elasticsearch, Resource], object]


def detect_capabilities(es: Elasticsearch) -> Capabilities:
    """What this cluster supports; raises SetupError when it cannot be asked."""
    return Capabilities(ilm=_has_ilm(es), version=_version(es))


def install(es: Elasticsearch, resources: Iterable[Resource], *, dry_run: bool) -> list[Change]:
    """Create or update each resource whose stored hash differs, in `INSTALL_ORDER`.

    With `dry_run`, nothing is written and each change says what would have happened. ILM
    policies are skipped (and said so) on a cluster without ILM. Raises SetupError, naming the
    resource and Elasticsearch's reason, at the first resource that cannot be installed.
    """
    ordered = sorted(resources, key=lambda r: INSTALL_ORDER.index(r.kind))
    ilm = any(r.kind == "ilm_policy" for r in ordered) and _has_ilm(es)
    return [_install_one(es, resource, ilm=ilm, dry_run=dry_run) for resource in ordered]


def _install_one(es: Elasticsearch, resource: Resource, *, ilm: bool, dry_run: bool) -> Change:
    try:
        if resource.kind == "write_alias":
            return _install_write_alias(es, resource, dry_run=dry_run)
        if resource.kind == "ilm_policy" and not ilm:
            return Change(resource.kind, resource.name, "skipped", NO_ILM)
        return _install_stamped(es, resource, dry_run=dry_run)
    except (ApiError, TransportError) as err:
        raise SetupError(f"{resource.kind} {resource.name}: {_reason(err)}") from err


def _install_stamped(es: Elasticsearch, resource: Resource, *, dry_run: bool) -> Change:
    api = _APIS[resource.kind]
    wanted = esbridge_hash(resource.kind, resource.body)
    stored = api.get(es, resource.name)
    if stored is None:
        action: Action = "created"
        detail = f"esbridge_hash {wanted}"
    else:
        found = esbridge_hash(resource.kind, stored)
        if found == wanted:
            return Change(resource.kind, resource.name, "unchanged", f"esbridge_hash {wanted}")
        action = "updated"
        detail = f"esbridge_hash {found or 'absent'} -> {wanted}"
    if dry_run:
        detail += " (dry run: not written)"
    else:
        api.put(es, resource)
    return Change(resource.kind, resource.name, action, detail)


def _install_write_alias(es: Elasticsearch, resource: Resource, *, dry_run: bool) -> Change:
    """Bootstrap `<alias>-000001` behind the alias, unless the alias already exists."""
    alias = resource.name
    existing = es.options(ignore_status=404).indices.get_alias(name=alias)
    if existing.meta.status != 404:
        indices = ", ".join(sorted(existing.body))
        return Change(resource.kind, alias, "unchanged", f"alias exists on {indices}")
    bootstrap = bootstrap_index_name(alias)
    if es.indices.exists(index=alias):
        raise SetupError(
            f"write_alias {alias}: an index named {alias} exists where esbridge needs an alias; "
            f"esbridge does not delete data: move its documents to {bootstrap} (reindex), "
            "delete it yourself, then run setup again"
        )
    detail = f"{bootstrap} is the write index"
    if dry_run:
        detail += " (dry run: not created)"
    else:
        es.indices.create(index=bootstrap, aliases=resource.body["aliases"])
    return Change(resource.kind, alias, "created", detail)


def _version(es: Elasticsearch) -> str:
    """From the local node: `GET /` is not served by every distribution (405 on integ-test-zip)."""
    try:
        nodes = es.nodes.info(node_id="_local", filter_path="nodes.*.version")
    except (ApiError, TransportError) as err:
        raise SetupError(f"cannot read the Elasticsearch version: {_reason(err)}") from err
    return str(next(iter(nodes["nodes"].values()))["version"])


def _has_ilm(es: Elasticsearch) -> bool:
    """ILM is a module: without it, Elasticsearch has no handler for `/_ilm/*` at all."""
    try:
        es.ilm.get_status()
    except ApiError as err:
        if err.status_code in (400, 404) and "no handler found" in str(err.body):
            return False
        raise SetupError(f"cannot tell whether Elasticsearch has ILM: {_reason(err)}") from err
    except TransportError as err:
        raise SetupError(f"cannot tell whether Elasticsearch has ILM: {_reason(err)}") from err
    return True


def _get_component_template(es: Elasticsearch, name: str) -> dict[str, Any] | None:
    found = es.options(ignore_status=404).cluster.get_component_template(name=name)
    if found.meta.status == 404:
        return None
    stored: dict[str, Any] = found["component_templates"][0]["component_template"]
    return stored


def _get_index_template(es: Elasticsearch, name: str) -> dict[str, Any] | None:
    found = es.options(ignore_status=404).indices.get_index_template(name=name)
    if found.meta.status == 404:
        return None
    stored: dict[str, Any] = found["index_templates"][0]["index_template"]
    return stored


def _get_ilm_policy(es: Elasticsearch, name: str) -> dict[str, Any] | None:
    found = es.options(ignore_status=404).ilm.get_lifecycle(name=name)
    if found.meta.status == 404:
        return None
    stored: dict[str, Any] = found[name]
    return stored


_APIS: dict[Kind, _Api] = {
    "component_template": _Api(
        _get_component_template,
        lambda es, r: es.cluster.put_component_template(name=r.name, body=r.body),
    ),
    "index_template": _Api(
        _get_index_template,
        lambda es, r: es.indices.put_index_template(name=r.name, body=r.body),
    ),
    "ilm_policy": _Api(
        _get_ilm_policy,
        lambda es, r: es.ilm.put_lifecycle(name=r.name, body=r.body),
    ),
}


def _reason(err: ApiError | TransportError) -> str:
    """Elasticsearch's own words: `type: reason` of the error, else the whole error text."""
    if isinstance(err, ApiError) and isinstance(err.body, dict):
        error = err.body.get("error")
        if isinstance(error, dict):
            return f"{error.get('type')}: {error.get('reason')}"
        if isinstance(error, str):
            return error
    return str(err)
