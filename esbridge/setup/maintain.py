"""`esbridge maintain`: rollover and retention where the cluster has neither ILM nor ISM.

The policies `esbridge setup` renders are what should roll the write aliases over and delete
old indices; the test distributions and a minimal OpenSearch have no module to run them, and
there nothing else would. Each pass applies the same thresholds to every write alias of the
config (the producers' and the dead letters'): roll over when the write index reaches
`rollover_max_age` (from its creation) or `rollover_max_primary_shard_size`, and delete a
backing index once its newest document is older than `retention_days`.

Age is ingest time, not event time: a producer's documents by `event.ingested`, dead letters by
`@timestamp` (when they were dead-lettered). That is esbridge's own clock, and what ILM and ISM
count from too (their delete age starts at the rollover, i.e. after the last write); a
record's `@timestamp` comes from the producer, and one skewed record dated next year would keep
its index forever, while a replayed month-old backlog would be deleted before anyone saw it.

Only indices proven esbridge's are deleted: the alias's index template `<prefix>-<name>` is
there with `_meta.managed_by: esbridge` and the alias's pattern (setup installed it), the index
is behind the write alias, and its mappings carry the `_meta` `{managed_by: esbridge,
write_alias: <alias>}` that esbridge gives each index it creates (setup's bootstrap index,
maintain's rollovers: `templates.provenance`). A name matching `<alias>-*` is not enough, nor
is the template having shaped the index (it shapes whatever matches its pattern). The write
index is never deleted. Where ILM or ISM manages the write index, maintain only reports what
the module is doing with the alias's indices.

`survey` reads, `plan` decides (pure), `maintain` runs both and carries the plan out.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any, Literal

from esbridge.cluster.errors import ClusterError, NotFoundError, RequestRejectedError
from esbridge.cluster.search import SearchCluster, index_path
from esbridge.config import Config
from esbridge.config.units import parse_duration, parse_size
from esbridge.errors import EsbridgeError
from esbridge.setup.templates import (
    DEADLETTER_ROLLOVER_MAX_AGE,
    DEADLETTER_ROLLOVER_MAX_PRIMARY_SHARD_SIZE,
    MANAGED_BY,
    es_byte_size,
    es_time,
    provenance,
)
from esbridge.utc import format_utc

Verb = Literal["rollover", "delete", "keep", "managed", "skip"]
_NUMBERED = re.compile(r"(.*-)(\d+)")


class MaintainError(EsbridgeError):
    """The cluster could not be read or refused a rollover or a delete."""


@dataclass(frozen=True)
class Series:
    """One write alias esbridge writes to, and what the config asks of its indices."""

    alias: str
    template: str
    time_field: str
    """The field holding each document's ingest time."""
    retention_days: int
    rollover_max_age: float
    """Seconds."""
    rollover_max_primary_shard_size: int
    """Bytes."""


@dataclass(frozen=True)
class BackingIndex:
    """One index behind a write alias, as `survey` found it."""

    name: str
    is_write: bool
    created: datetime
    documents: int
    largest_primary_shard: int
    newest: datetime | None
    """The newest ingest time among its documents (None: empty, or none carries it)."""
    foreign: str | None
    """Why it is not esbridge's; None when its mappings say it is."""
    managed: str | None
    """What ILM or ISM is doing with it; None when no module manages it."""


@dataclass(frozen=True)
class Survey:
    series: Series
    indices: tuple[BackingIndex, ...]
    problem: str | None = None
    """Why nothing of the alias can be maintained (not set up, no write index)."""


@dataclass(frozen=True)
class Step:
    """One thing to do, or to say: `keep` and `managed` only report."""

    verb: Verb
    alias: str
    index: str
    reason: str
    new_index: str | None = None


@dataclass(frozen=True)
class Outcome:
    step: Step
    done: bool
    """Carried out now (False in a dry run, for a report, or when it had happened already)."""
    note: str = ""


@dataclass
class Tally:
    """What one pass did, for its summary line."""

    label: str
    dry_run: bool
    aliases: int = 0
    indices: int = 0
    rolled_over: int = 0
    deleted: int = 0
    managed: int = 0
    skipped: int = 0

    def count(self, outcome: Outcome) -> None:
        verb = outcome.step.verb
        acted = outcome.done or self.dry_run
        if verb == "rollover" and acted:
            self.rolled_over += 1
        elif verb == "delete" and acted:
            self.deleted += 1
        elif verb == "managed":
            self.managed += 1
        elif verb == "skip":
            self.skipped += 1

    def summary(self) -> str:
        roll, delete = ("rolled over", "deleted")
        if self.dry_run:
            roll, delete = ("would roll over", "would delete")
        text = (
            f"{self.label}: {roll} {self.rolled_over} of {self.aliases} write aliases, "
            f"{delete} {self.deleted} of {self.indices} backing indices"
        )
        if self.managed:
            text += f", {self.managed} managed by ILM/ISM (reported only)"
        if self.skipped:
            text += f", {self.skipped} aliases skipped"
        return text


def series_of(config: Config) -> list[Series]:
    """The config's write aliases: one per producer, and the dead letters'."""
    prefix = config.template_prefix
    found = [
        Series(
            alias=producer.index,
            template=f"{prefix}-{producer.name}",
            time_field="event.ingested",
            retention_days=producer.retention_days,
            rollover_max_age=producer.rollover_max_age,
            rollover_max_primary_shard_size=producer.rollover_max_primary_shard_size,
        )
        for producer in config.producers
    ]
    found.append(
        Series(
            alias=config.deadletter.index,
            template=f"{prefix}-deadletter",
            time_field="@timestamp",
            retention_days=config.deadletter.retention_days,
            rollover_max_age=parse_duration(DEADLETTER_ROLLOVER_MAX_AGE),
            rollover_max_primary_shard_size=parse_size(DEADLETTER_ROLLOVER_MAX_PRIMARY_SHARD_SIZE),
        )
    )
    return found


def maintain(
    cluster: SearchCluster,
    series: Iterable[Series],
    *,
    now: datetime,
    dry_run: bool,
    emit: Callable[[Outcome], None],
) -> Tally:
    """One pass over `series`: survey, plan and (unless `dry_run`) act, alias by alias.

    Each outcome goes to `emit` as it happens, so the lines of what was done come out even if
    a later alias fails. Raises MaintainError, naming the alias and the cluster's reason, when
    the cluster cannot be read or refuses a rollover or delete.
    """
    tally = Tally(cluster.flavour.label, dry_run)
    for one in series:
        try:
            found = survey(cluster, one)
        except ClusterError as err:
            raise MaintainError(f"{one.alias}: cannot read its indices: {err}") from err
        tally.aliases += 1
        tally.indices += len(found.indices)
        for step in plan(found, now):
            outcome = _carry_out(cluster, step, dry_run=dry_run)
            tally.count(outcome)
            emit(outcome)
    return tally


def line(outcome: Outcome, *, dry_run: bool) -> str:
    """One line per outcome: what was (or would be) done, to which index, and why."""
    step = outcome.step
    verbs = {
        "rollover": "would roll over" if dry_run else "rolled over",
        "delete": "would delete" if dry_run else "deleted",
        "keep": "kept",
        "managed": "managed",
        "skip": "skipped",
    }
    verb = verbs[step.verb]
    if step.verb in ("rollover", "delete") and not dry_run and not outcome.done:
        verb = "not needed"
    note = f"; {outcome.note}" if outcome.note else ""
    if step.verb == "skip":
        return f"{verb:<15} {step.alias}  ({step.reason}{note})"
    target = f"{step.index} -> {step.new_index}" if step.new_index else step.index
    return f"{verb:<15} {step.alias}: {target}  ({step.reason}{note})"


# --- deciding -----------------------------------------------------------------------------


def plan(found: Survey, now: datetime) -> list[Step]:
    """What to do with one alias's indices at `now`; pure, so every rule is unit-testable."""
    series = found.series
    if found.problem is not None:
        return [Step("skip", series.alias, series.template, found.problem)]
    write = next(index for index in found.indices if index.is_write)
    if write.managed is not None:
        return [
            Step("managed", series.alias, index.name, index.managed)
            for index in found.indices
            if index.managed is not None
        ]
    steps = [step for step in [_rollover(series, write, now)] if step is not None]
    for index in found.indices:
        if not index.is_write:
            steps += _retention(series, index, now)
    return steps


def _rollover(series: Series, write: BackingIndex, now: datetime) -> Step | None:
    """Roll over at either threshold, like the policies; never an empty write index (as ILM's
    implicit `min_docs: 1`), which would only add empty indices pass after pass."""
    if write.documents == 0:
        return None
    age = now - write.created
    reasons = []
    if age.total_seconds() >= series.rollover_max_age:
        limit = es_time(series.rollover_max_age)
        reasons.append(f"created {_age(age)} ago, rollover_max_age {limit}")
    if write.largest_primary_shard >= series.rollover_max_primary_shard_size:
        size = es_byte_size(write.largest_primary_shard)
        limit = es_byte_size(series.rollover_max_primary_shard_size)
        reasons.append(f"primary shard of {size}, rollover_max_primary_shard_size {limit}")
    if not reasons:
        return None
    return Step("rollover", series.alias, write.name, "; ".join(reasons), next_index(write.name))


def _retention(series: Series, index: BackingIndex, now: datetime) -> list[Step]:
    limit = timedelta(days=series.retention_days)
    if index.documents == 0:
        basis, what = index.created, "empty, created"
    elif index.newest is not None:
        basis, what = index.newest, "newest document ingested"
    elif now - index.created > limit:
        return [
            Step(
                "keep",
                series.alias,
                index.name,
                f"none of its documents has {series.time_field}: its age is unknown",
            )
        ]
    else:
        return []
    age = now - basis
    if age <= limit:
        return []
    reason = f"{what} {format_utc(basis)}, {_age(age)} ago, retention_days {series.retention_days}"
    if index.foreign is not None:
        return [Step("keep", series.alias, index.name, f"not esbridge's: {index.foreign}")]
    return [Step("delete", series.alias, index.name, reason)]


def next_index(name: str) -> str:
    """The name the engines give the next index of a rollover (`x-000001` -> `x-000002`)."""
    numbered = _NUMBERED.fullmatch(name)
    if numbered is None:
        raise ValueError(f"{name} does not end in -<number>: it cannot be rolled over")
    return f"{numbered.group(1)}{int(numbered.group(2)) + 1:06d}"


def _age(age: timedelta) -> str:
    seconds = age.total_seconds()
    for unit, size in (("days", 86400), ("hours", 3600), ("minutes", 60)):
        if seconds >= size:
            return f"{seconds / size:.1f} {unit}"
    return f"{seconds:.0f} seconds"


# --- doing --------------------------------------------------------------------------------


def _carry_out(cluster: SearchCluster, step: Step, *, dry_run: bool) -> Outcome:
    if dry_run or step.verb not in ("rollover", "delete"):
        return Outcome(step, done=False)
    try:
        if step.new_index is not None:
            return _roll_over(cluster, step, step.new_index)
        return _delete(cluster, step)
    except ClusterError as err:
        raise MaintainError(f"{step.alias}: {step.verb} {step.index}: {err}") from err


def _roll_over(cluster: SearchCluster, step: Step, new_index: str) -> Outcome:
    """Roll over to the next index by name, marked as esbridge's: if another maintain got
    there first, the name is taken and nothing happens twice. No conditions are sent: the
    thresholds were checked here (OpenSearch's `_rollover` has no `max_primary_shard_size`)."""
    path = f"/{index_path(step.alias)}/_rollover/{index_path(new_index)}"
    try:
        cluster.request("POST", path, body={"mappings": provenance(step.alias)})
    except RequestRejectedError as err:
        if err.error_type == "resource_already_exists_exception":
            return Outcome(step, done=False, note=f"{new_index} exists already")
        raise
    return Outcome(step, done=True)


def _delete(cluster: SearchCluster, step: Step) -> Outcome:
    try:
        cluster.delete_index(step.index)
    except NotFoundError:
        return Outcome(step, done=False, note="deleted already")
    return Outcome(step, done=True)


# --- reading ------------------------------------------------------------------------------


def survey(cluster: SearchCluster, series: Series) -> Survey:
    """The alias's backing indices and everything `plan` needs to know of them."""
    problem = template_problem(cluster.get_index_template(series.template), series)
    if problem is not None:
        return Survey(series, (), problem)
    behind = cluster.get_alias(series.alias)
    if not behind:
        return Survey(series, (), f"no alias {series.alias}: run esbridge setup")
    writes = _write_flags(behind, series.alias)
    if not any(writes.values()):
        return Survey(series, (), f"alias {series.alias} has no write index")
    names = sorted(behind)
    joined = index_path(",".join(names))
    details = cluster.get_index(",".join(names))
    stats = cluster.request("GET", f"/{joined}/_stats/store", params={"level": "shards"})
    managed = _lifecycle_states(cluster, names)
    indices = []
    for name in names:
        documents, newest = _newest(cluster, name, series.time_field)
        indices.append(
            BackingIndex(
                name=name,
                is_write=writes[name],
                created=_created(details[name]),
                documents=documents,
                largest_primary_shard=_largest_primary_shard(stats, name),
                newest=newest,
                foreign=_foreign(details[name], series.alias),
                managed=managed.get(name),
            )
        )
    write = next(index for index in indices if index.is_write)
    if write.managed is None and _NUMBERED.fullmatch(write.name) is None:
        return Survey(series, tuple(indices), f"write index {write.name} is not -<number>")
    return Survey(series, tuple(indices))


def template_problem(template: Mapping[str, Any] | None, series: Series) -> str | None:
    """Why `template` is not the one setup installs for `series`, or None when it is."""
    if template is None:
        return f"no index template {series.template}: run esbridge setup"
    meta = template.get("_meta")
    if not isinstance(meta, dict) or meta.get("managed_by") != MANAGED_BY:
        return f"index template {series.template} is not esbridge's (no _meta.managed_by)"
    if template.get("index_patterns") != [f"{series.alias}-*"]:
        return (
            f"index template {series.template} is for {template.get('index_patterns')}, "
            f"not {series.alias}-*: run esbridge setup"
        )
    return None


def _write_flags(behind: Mapping[str, Any], alias: str) -> dict[str, bool]:
    """Which index takes the writes: the flagged one, or the only one (an alias on a single
    index without `is_write_index` writes there)."""
    flags = {
        name: bool(entry.get("aliases", {}).get(alias, {}).get("is_write_index"))
        for name, entry in behind.items()
    }
    if len(flags) == 1 and "is_write_index" not in next(iter(behind.values()))["aliases"][alias]:
        return dict.fromkeys(flags, True)
    return flags


def _created(details: Mapping[str, Any]) -> datetime:
    millis = int(details["settings"]["index"]["creation_date"])
    return datetime.fromtimestamp(millis / 1000, UTC)


def _foreign(details: Mapping[str, Any], alias: str) -> str | None:
    meta = details.get("mappings", {}).get("_meta")
    if not isinstance(meta, dict) or meta.get("managed_by") != MANAGED_BY:
        return "its mappings carry no _meta.managed_by esbridge: not created by esbridge"
    if meta.get("write_alias") != alias:
        return f"its mappings' _meta names write alias {meta.get('write_alias')}"
    return None


def _largest_primary_shard(stats: Mapping[str, Any], name: str) -> int:
    shards = stats.get("indices", {}).get(name, {}).get("shards", {})
    sizes = [
        int(copy["store"]["size_in_bytes"])
        for copies in shards.values()
        for copy in copies
        if copy.get("routing", {}).get("primary")
    ]
    return max(sizes, default=0)


def _newest(cluster: SearchCluster, index: str, field: str) -> tuple[int, datetime | None]:
    """How many documents, and the newest `field` among them, by a search (index statistics
    count only refreshed documents, and a search-idle shard may not have refreshed)."""
    found = cluster.search(
        index,
        {"size": 0, "track_total_hits": True, "aggs": {"newest": {"max": {"field": field}}}},
    )
    documents = int(found["hits"]["total"]["value"])
    value = found.get("aggregations", {}).get("newest", {}).get("value")
    newest = None if value is None else datetime.fromtimestamp(float(value) / 1000, UTC)
    return documents, newest


def _lifecycle_states(cluster: SearchCluster, names: Sequence[str]) -> dict[str, str]:
    """What ILM or ISM does with each index it manages, by index name."""
    module = cluster.lifecycle()
    joined = index_path(",".join(names))
    if module == "ilm":
        explained = cluster.request("GET", f"/{joined}/_ilm/explain")
        return {
            name: _ilm_state(entry)
            for name, entry in explained.get("indices", {}).items()
            if entry.get("managed")
        }
    if module == "ism":
        explained = cluster.request("GET", f"/_plugins/_ism/explain/{joined}")
        return {
            name: _ism_state(entry)
            for name, entry in explained.items()
            if isinstance(entry, dict) and entry.get("policy_id")
        }
    return {}


def _ilm_state(entry: Mapping[str, Any]) -> str:
    text = (
        f"ILM policy {entry.get('policy')}: phase {entry.get('phase')}, "
        f"action {entry.get('action')}, step {entry.get('step')}"
    )
    if entry.get("age"):
        text += f", index age {entry['age']}"
    reason = entry.get("step_info", {}).get("reason")
    return f"{text}: {reason}" if reason else text


def _ism_state(entry: Mapping[str, Any]) -> str:
    state = entry.get("state", {}).get("name")
    action = entry.get("action", {})
    text = f"ISM policy {entry.get('policy_id')}: state {state}, action {action.get('name')}"
    if action.get("failed"):
        text += " (failed)"
    message = entry.get("info", {}).get("message")
    return f"{text}: {message}" if message else text
