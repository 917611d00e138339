"""Installs rendered resources into the search cluster, idempotently: what is already there with
the same content hash is left alone, so `esbridge setup` can be re-run at every deploy.

Nothing here deletes: an index in the way of a write alias is reported, never removed.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any, Literal

from esbridge.cluster.errors import ClusterError
from esbridge.cluster.search import SearchCluster
from esbridge.errors import EsbridgeError
from esbridge.setup.templates import (
    INSTALL_ORDER,
    POLICY_MODULE,
    Kind,
    PolicyKind,
    Resource,
    bootstrap_index_name,
    esbridge_hash,
)

Action = Literal["created", "updated", "unchanged", "skipped"]

_MODULE_NAME = {"ilm_policy": "ILM", "ism_policy": "ISM"}


class SetupError(EsbridgeError):
    """The cluster refused a resource, or something in the cluster is in the way."""


@dataclass(frozen=True)
class Change:
    """What installing one resource did (or, in a dry run, would do)."""

    kind: Kind
    name: str
    action: Action
    detail: str


@dataclass(frozen=True)
class _Api:
    """How to read and write one kind of stored, hash-stamped resource."""

    get: Callable[[SearchCluster, str], dict[str, Any] | None]
    put: Callable[[SearchCluster, Resource], object]


def no_lifecycle(cluster: SearchCluster, kind: PolicyKind) -> str:
    """Why a policy is skipped, and what enforces retention instead."""
    return (
        f"{cluster.flavour.label} has no {_MODULE_NAME[kind]}: policy not installed; "
        "`esbridge maintain` rolls over and deletes instead"
    )


def install(
    cluster: SearchCluster, resources: Iterable[Resource], *, dry_run: bool
) -> list[Change]:
    """Create or update each resource whose stored hash differs, in `INSTALL_ORDER`.

    With `dry_run`, nothing is written and each change says what would have happened. Lifecycle
    policies are skipped (and said so) on a cluster without ILM or ISM. Raises SetupError,
    naming the resource and the cluster's reason, at the first resource that cannot be
    installed (a policy of the other engine's kind included).
    """
    ordered = sorted(resources, key=lambda r: INSTALL_ORDER.index(r.kind))
    for resource in ordered:
        if resource.kind == "index_template":
            _refuse_another_configs(cluster, resource)
    return [_install_one(cluster, resource, dry_run=dry_run) for resource in ordered]


def _refuse_another_configs(cluster: SearchCluster, resource: Resource) -> None:
    """Stop before writing anything when an index template of this name shapes other indices.

    Two configs with the same `template_prefix` and producer name would otherwise take turns
    re-pointing one template (and its lifecycle policy, which is named alike) at their own
    indices, and the indices of the one that ran first would roll over without their mappings.
    """
    try:
        stored = cluster.get_index_template(resource.name)
    except ClusterError as err:
        raise SetupError(f"{resource.kind} {resource.name}: {_reason(err)}") from err
    if stored is None:
        return
    theirs, ours = stored.get("index_patterns"), resource.body.get("index_patterns")
    if theirs != ours:
        raise SetupError(
            f"index template {resource.name} is another config's: it shapes {theirs}, this "
            f"config's are {ours}; give this config a template_prefix of its own (or delete "
            f"that template if no index uses it), then run setup again"
        )


def _install_one(cluster: SearchCluster, resource: Resource, *, dry_run: bool) -> Change:
    try:
        if resource.kind == "write_alias":
            return _install_write_alias(cluster, resource, dry_run=dry_run)
        if resource.kind in ("ilm_policy", "ism_policy"):
            kind: PolicyKind = "ilm_policy" if resource.kind == "ilm_policy" else "ism_policy"
            module = cluster.lifecycle()
            if module is None:
                return Change(resource.kind, resource.name, "skipped", no_lifecycle(cluster, kind))
            if module != POLICY_MODULE[kind]:
                raise SetupError(
                    f"{resource.kind} {resource.name}: {cluster.flavour.label} takes "
                    f"{module.upper()} policies, not {_MODULE_NAME[kind]}"
                )
        return _install_stamped(cluster, resource, dry_run=dry_run)
    except ClusterError as err:
        raise SetupError(f"{resource.kind} {resource.name}: {_reason(err)}") from err


def _install_stamped(cluster: SearchCluster, resource: Resource, *, dry_run: bool) -> Change:
    api = _APIS[resource.kind]
    wanted = esbridge_hash(resource.kind, resource.body)
    stored = api.get(cluster, resource.name)
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
        api.put(cluster, resource)
    return Change(resource.kind, resource.name, action, detail)


def _install_write_alias(cluster: SearchCluster, resource: Resource, *, dry_run: bool) -> Change:
    """Bootstrap `<alias>-000001` behind the alias, unless the alias already exists."""
    alias = resource.name
    existing = cluster.get_alias(alias)
    if existing:
        indices = ", ".join(sorted(existing))
        return Change(resource.kind, alias, "unchanged", f"alias exists on {indices}")
    bootstrap = bootstrap_index_name(alias)
    if cluster.index_exists(alias):
        raise SetupError(
            f"write_alias {alias}: an index named {alias} exists where esbridge needs an alias; "
            f"esbridge does not delete data: move its documents to {bootstrap} (reindex), "
            "delete it yourself, then run setup again"
        )
    detail = f"{bootstrap} is the write index"
    if dry_run:
        detail += " (dry run: not created)"
    else:
        cluster.create_index(bootstrap, resource.body)
    return Change(resource.kind, alias, "created", detail)


def _get_policy(cluster: SearchCluster, name: str) -> dict[str, Any] | None:
    """The stored policy as a body like the rendered one (`{"policy": ...}`)."""
    stored = cluster.get_lifecycle_policy(name)
    return None if stored is None else {"policy": stored}


def _put_policy(cluster: SearchCluster, resource: Resource) -> None:
    cluster.put_lifecycle_policy(resource.name, resource.body["policy"])


_APIS: dict[Kind, _Api] = {
    "component_template": _Api(
        lambda cluster, name: cluster.get_component_template(name),
        lambda cluster, r: cluster.put_component_template(r.name, r.body),
    ),
    "index_template": _Api(
        lambda cluster, name: cluster.get_index_template(name),
        lambda cluster, r: cluster.put_index_template(r.name, r.body),
    ),
    "ilm_policy": _Api(_get_policy, _put_policy),
    "ism_policy": _Api(_get_policy, _put_policy),
}


def _reason(err: ClusterError) -> str:
    """The cluster's own words (`type: reason`), else the whole one-line error."""
    if err.reason:
        return f"{err.error_type}: {err.reason}" if err.error_type else err.reason
    return str(err)
