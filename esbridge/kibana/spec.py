"""The Kibana objects esbridge ships, as a compact spec that `objects.py` expands.

Every id is written once here and every field name is checked against the index templates by
tests/unit/test_kibana_objects.py, so a renamed field or a dangling panel fails a test instead
of showing an empty chart. Index names are those of examples/dcache.yml.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

ChartKind = Literal["line", "histogram", "pie", "table"]
MetricAgg = Literal["count", "sum", "avg", "max", "cardinality"]


@dataclass(frozen=True)
class DataView:
    """An index pattern; `template` is the index template whose `index_patterns` it equals, so
    the data view covers every backing index a rollover created and nothing else."""

    id: str
    title: str
    name: str
    time_field: str
    template: str
    labels: tuple[tuple[str, str], ...] = ()
    """(field, custom label): how Discover and the saved search title the columns."""


@dataclass(frozen=True)
class Metric:
    agg: MetricAgg
    field: str | None = None
    label: str | None = None


@dataclass(frozen=True)
class Chart:
    """A legacy aggregation-based visualization: metrics over an x axis and/or split buckets.

    `over_time` puts a date histogram on the x axis; `terms` are terms buckets, in order
    (for a pie the slices, for a table the rows, for a line or bar the series split).
    `where` is (field, KQL value) pairs, joined with `and`.
    """

    id: str
    title: str
    data_view: str
    kind: ChartKind
    metrics: tuple[Metric, ...]
    over_time: bool = False
    terms: tuple[tuple[str, int], ...] = ()
    where: tuple[tuple[str, str], ...] = ()


@dataclass(frozen=True)
class SavedSearch:
    id: str
    title: str
    data_view: str
    columns: tuple[str, ...]
    sort: tuple[str, Literal["asc", "desc"]]


@dataclass(frozen=True)
class Dashboard:
    """Panels are laid out two per row, in order; each names a Chart or a SavedSearch."""

    id: str
    title: str
    description: str
    panels: tuple[str, ...]


@dataclass(frozen=True)
class Spec:
    data_views: tuple[DataView, ...]
    charts: tuple[Chart, ...]
    searches: tuple[SavedSearch, ...]
    dashboards: tuple[Dashboard, ...]


def _view(producer: str, name: str) -> DataView:
    return DataView(
        f"esbridge-{producer}",
        f"dcache-{producer}-*",
        name,
        "@timestamp",
        f"esbridge-{producer}",
    )


ISSUE_COLUMNS = (
    ("subject.domain", "Pool Domain"),
    ("subject.pool_groups", "Pool Group"),
    ("status", "Error Status"),
    ("type", "Error Type"),
    ("latest_message", "Error Message"),
    ("last_seen", "Date of latest occurrence"),
)

TRANSFER = ("event.action", "transfer")
# Per-pool panels are paged tables over every pool (a site has 5,500), reached from a table of
# pool groups whose rows filter the dashboard when clicked; charts split by pool would show a
# top N and hide the rest.
MAX_POOLS = 10_000
MAX_POOL_GROUPS = 500
BYTES = Metric("sum", "billing.transfer_size", "Bytes")

SPEC = Spec(
    data_views=(
        _view("billing", "dCache billing"),
        _view("logs", "dCache domain logs"),
        _view("access", "dCache access logs"),
        _view("poolinfo", "dCache pool snapshots"),
        DataView(
            "esbridge-deadletter",
            "esbridge-deadletter-*",
            "esbridge dead letters",
            "@timestamp",
            "esbridge-deadletter",
        ),
        DataView(
            "esbridge-issues",
            "esbridge-issues",
            "esbridge issues",
            "last_seen",
            "esbridge-issues",
            labels=ISSUE_COLUMNS,
        ),
    ),
    charts=(
        Chart(
            "esbridge-transfers-bytes-over-time",
            "Bytes read and written",
            "esbridge-billing",
            "line",
            (BYTES,),
            over_time=True,
            terms=(("billing.direction", 2),),
            where=(TRANSFER,),
        ),
        # Billing records name the pool (cellName), not its pool group: grouped by pool here,
        # pool groups are on the 'Pool health' dashboard (from poolinfo).
        Chart(
            "esbridge-transfers-bytes-by-pool",
            "Bytes by pool",
            "esbridge-billing",
            "histogram",
            (BYTES,),
            terms=(("dcache.cell", 20), ("billing.direction", 2)),
            where=(TRANSFER, ("dcache.cell_type", "pool")),
        ),
        Chart(
            "esbridge-transfers-rate",
            "Mean transfer rate (bytes/s)",
            "esbridge-billing",
            "line",
            (
                Metric("avg", "billing.mean_read_bandwidth", "Read"),
                Metric("avg", "billing.mean_write_bandwidth", "Write"),
            ),
            over_time=True,
            where=(TRANSFER,),
        ),
        Chart(
            "esbridge-transfers-failures",
            "Failures by status code",
            "esbridge-billing",
            "histogram",
            (Metric("count"),),
            over_time=True,
            terms=(("billing.status.code", 10),),
            where=(("event.outcome", "failure"),),
        ),
        Chart(
            "esbridge-transfers-failure-messages",
            "Failure messages",
            "esbridge-billing",
            "table",
            (Metric("count"),),
            terms=(("billing.status.code", 20), ("billing.status.msg.keyword", 5)),
            where=(("event.outcome", "failure"),),
        ),
        Chart(
            "esbridge-transfers-top-clients",
            "Top clients",
            "esbridge-billing",
            "table",
            (BYTES, Metric("count", label="Transfers")),
            terms=(("client.ip", 20),),
            where=(TRANSFER,),
        ),
        Chart(
            "esbridge-transfers-top-paths",
            "Top paths",
            "esbridge-billing",
            "table",
            (BYTES, Metric("count", label="Transfers")),
            terms=(("billing.path", 20),),
            where=(TRANSFER,),
        ),
        Chart(
            "esbridge-transfers-protocols",
            "Protocol mix",
            "esbridge-billing",
            "pie",
            (Metric("count"),),
            terms=(("billing.protocol.name", 10),),
            where=(TRANSFER,),
        ),
        Chart(
            "esbridge-pools-disabled",
            "Disabled pools",
            "esbridge-poolinfo",
            "line",
            (Metric("cardinality", "dcache.pool.name", "Disabled pools"),),
            over_time=True,
            where=(("dcache.pool.enabled", "false"),),
        ),
        Chart(
            "esbridge-pools-mode-changes",
            "Pool mode changes (logs)",
            "esbridge-logs",
            "histogram",
            (Metric("count"),),
            over_time=True,
            terms=(("dcache.pool.mode", 10),),
            where=(("dcache.pool.mode", "*"),),
        ),
        Chart(
            "esbridge-issues-by-status",
            "Issues by status",
            "esbridge-issues",
            "pie",
            (Metric("count"),),
            terms=(("status", 10),),
        ),
        Chart(
            "esbridge-pools-space-used",
            "Pool space used: the fullest pool of each pool group",
            "esbridge-poolinfo",
            "line",
            (Metric("max", "dcache.pool.space.used", "Used bytes"),),
            over_time=True,
            terms=(("dcache.pool.groups", 20),),
        ),
        Chart(
            "esbridge-pools-space-by-group",
            "Pool groups (click one to list its pools)",
            "esbridge-poolinfo",
            "table",
            (
                Metric("cardinality", "dcache.pool.name", "Pools"),
                Metric("max", "dcache.pool.space.used", "Fullest pool, used"),
                Metric("max", "dcache.pool.space.total", "Largest pool, total"),
            ),
            terms=(("dcache.pool.groups", MAX_POOL_GROUPS),),
        ),
        Chart(
            "esbridge-pools-space-by-pool",
            "Pools (filtered by the pool group clicked)",
            "esbridge-poolinfo",
            "table",
            (
                Metric("max", "dcache.pool.space.used", "Used"),
                Metric("max", "dcache.pool.space.free", "Free"),
                Metric("max", "dcache.pool.space.total", "Total"),
            ),
            terms=(("dcache.pool.name", MAX_POOLS),),
        ),
        Chart(
            "esbridge-pools-modes",
            "Pool modes (snapshots)",
            "esbridge-poolinfo",
            "histogram",
            (Metric("cardinality", "dcache.pool.name", "Pools"),),
            over_time=True,
            terms=(("dcache.pool.mode", 10),),
        ),
        Chart(
            "esbridge-pools-uncached",
            "Pools without usage data",
            "esbridge-poolinfo",
            "histogram",
            (Metric("cardinality", "dcache.pool.name", "Pools"),),
            over_time=True,
            terms=(("dcache.pool.usage_error", 10),),
            where=(("dcache.pool.cached", "false"),),
        ),
        Chart(
            "esbridge-deadletters-by-producer",
            "Dead letters by producer",
            "esbridge-deadletter",
            "histogram",
            (Metric("count"),),
            over_time=True,
            terms=(("producer", 10),),
        ),
        Chart(
            "esbridge-deadletters-by-reason",
            "Dead letters by reason",
            "esbridge-deadletter",
            "pie",
            (Metric("count"),),
            terms=(("error.type", 10),),
        ),
        Chart(
            "esbridge-deadletters-messages",
            "Dead-letter reasons",
            "esbridge-deadletter",
            "table",
            (Metric("count"),),
            terms=(("producer", 10), ("error.type", 10), ("error.message.keyword", 10)),
        ),
    ),
    searches=(
        SavedSearch(
            "esbridge-issues-search",
            "esbridge issues",
            "esbridge-issues",
            tuple(name for name, _ in ISSUE_COLUMNS),
            ("last_seen", "desc"),
        ),
    ),
    dashboards=(
        Dashboard(
            "esbridge-dashboard-transfers",
            "dCache transfers",
            "Bytes, rates, failures, clients, paths and protocols from dCache billing.",
            (
                "esbridge-transfers-bytes-over-time",
                "esbridge-transfers-rate",
                "esbridge-transfers-bytes-by-pool",
                "esbridge-transfers-protocols",
                "esbridge-transfers-failures",
                "esbridge-transfers-failure-messages",
                "esbridge-transfers-top-clients",
                "esbridge-transfers-top-paths",
            ),
        ),
        Dashboard(
            "esbridge-dashboard-pools",
            "Pool health",
            "Disabled pools, pool-state log lines, issues, pool space and snapshot modes.",
            (
                "esbridge-pools-disabled",
                "esbridge-pools-mode-changes",
                "esbridge-issues-by-status",
                "esbridge-pools-space-used",
                "esbridge-pools-space-by-group",
                "esbridge-pools-space-by-pool",
                "esbridge-issues-search",
                "esbridge-pools-modes",
                "esbridge-pools-uncached",
            ),
        ),
        Dashboard(
            "esbridge-dashboard-deadletters",
            "Dead letters",
            "Messages esbridge could not index, by producer and reason.",
            (
                "esbridge-deadletters-by-producer",
                "esbridge-deadletters-by-reason",
                "esbridge-deadletters-messages",
            ),
        ),
    ),
)
