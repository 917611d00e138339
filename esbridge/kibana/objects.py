"""Expands the spec into saved objects (NDJSON, as the import API reads it), in two flavours.

Legacy aggregation-based visualizations are used because their saved-object format is stable
from Kibana 7.10 to 9.x, is what OpenSearch Dashboards (forked from Kibana 7.10.2) still has,
and is small enough to generate. Kibana objects carry no migration version, so the importing
Kibana migrates them to its own. OpenSearch Dashboards objects are written in the format of
its newest migrations and say so in `migrationVersion`, so it runs none of them; they leave
out what Kibana added after 7.10 (data view names, field labels), which it would not show.
Output is deterministic: drift tests compare each file under kibana/ with a fresh render.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from typing import Any, Literal

from esbridge.kibana.spec import SPEC, Chart, Dashboard, DataView, Metric, SavedSearch, Spec

INDEX_REF = "kibanaSavedObjectMeta.searchSourceJSON.index"
_PLAIN_KQL_VALUE = re.compile(r"[\w.*-]+")
_PANEL_WIDTH, _PANEL_HEIGHT = 24, 15

Flavour = Literal["kibana", "opensearch-dashboards"]
FLAVOURS: tuple[Flavour, ...] = ("kibana", "opensearch-dashboards")

OSD_MIGRATION_VERSIONS = {
    "index-pattern": "7.6.0",
    "visualization": "7.10.0",
    "search": "7.9.3",
    "dashboard": "7.9.3",
}
"""The newest migration OpenSearch Dashboards 2.x and 3.x register for each type (those of
Kibana 7.10.2, where it forked). An object stamped with it is taken as current and migrated no
further; one stamped higher, as every Kibana 7.11+ export is, is refused as belonging "to a
more recent version"; one with none is run through every migration since 6.x."""


def render_objects(spec: Spec = SPEC, flavour: Flavour = "kibana") -> list[dict[str, Any]]:
    """Data views first, then what refers to them, then the dashboards that hold those."""
    time_fields = {v.id: v.time_field for v in spec.data_views}
    objects = [
        *(_data_view(v, flavour) for v in spec.data_views),
        *(_visualization(c, time_fields[c.data_view], flavour) for c in spec.charts),
        *(_search(s) for s in spec.searches),
        *(_dashboard(d, spec, flavour) for d in spec.dashboards),
    ]
    if flavour == "opensearch-dashboards":
        return [
            o | {"migrationVersion": {o["type"]: OSD_MIGRATION_VERSIONS[o["type"]]}}
            for o in objects
        ]
    return objects


def to_ndjson(objects: list[dict[str, Any]]) -> str:
    """One object per line, keys sorted, so the file diffs cleanly under version control."""
    return "".join(json.dumps(o, sort_keys=True, ensure_ascii=False) + "\n" for o in objects)


def chart_fields(chart: Chart) -> Iterator[tuple[str, bool]]:
    """Every field a chart names, with whether it is aggregated on (needs doc values)."""
    for metric in chart.metrics:
        if metric.field is not None:
            yield metric.field, True
    for name, _ in chart.terms:
        yield name, True
    for name, _ in chart.where:
        yield name, False


def kql(where: tuple[tuple[str, str], ...]) -> str:
    """(field, value) pairs as a KQL conjunction; values that are not plain tokens are quoted."""
    return " and ".join(
        f"{name} : {value if _PLAIN_KQL_VALUE.fullmatch(value) else json.dumps(value)}"
        for name, value in where
    )


def _saved_object(
    kind: str, object_id: str, attributes: dict[str, Any], references: list[dict[str, str]]
) -> dict[str, Any]:
    return {"id": object_id, "type": kind, "attributes": attributes, "references": references}


def _search_source(query: str, with_index: bool) -> dict[str, str]:
    source: dict[str, Any] = {"query": {"query": query, "language": "kuery"}, "filter": []}
    if with_index:
        source["indexRefName"] = INDEX_REF
    return {"searchSourceJSON": json.dumps(source, sort_keys=True)}


def _index_reference(data_view: str) -> list[dict[str, str]]:
    return [{"id": data_view, "name": INDEX_REF, "type": "index-pattern"}]


def _data_view(view: DataView, flavour: Flavour) -> dict[str, Any]:
    """OpenSearch Dashboards has neither a data view's display name nor field custom labels
    (Kibana 7.11+, `fieldAttrs`): its index pattern is titled by the pattern itself."""
    attributes = {"title": view.title, "timeFieldName": view.time_field}
    if flavour == "kibana":
        labels = {name: {"customLabel": label} for name, label in view.labels}
        attributes |= {"name": view.name, "fieldAttrs": json.dumps(labels, sort_keys=True)}
    return _saved_object("index-pattern", view.id, attributes, [])


def _visualization(chart: Chart, time_field: str, flavour: Flavour) -> dict[str, Any]:
    vis_state = {
        "title": chart.title,
        "type": chart.kind,
        "aggs": _aggs(chart, time_field),
        "params": _params(chart, flavour),
    }
    attributes = {
        "title": chart.title,
        "description": "",
        "version": 1,
        "uiStateJSON": "{}",
        "visState": json.dumps(vis_state, sort_keys=True),
        "kibanaSavedObjectMeta": _search_source(kql(chart.where), with_index=True),
    }
    return _saved_object("visualization", chart.id, attributes, _index_reference(chart.data_view))


def _aggs(chart: Chart, time_field: str) -> list[dict[str, Any]]:
    """Metrics first, then the x axis (time or the first terms), then the splits."""
    aggs = [_metric_agg(n, m) for n, m in enumerate(chart.metrics, start=1)]
    if chart.over_time:
        params = {"field": time_field, "interval": "auto", "min_doc_count": 1}
        aggs.append(_agg(len(aggs) + 1, "date_histogram", "segment", params))
    for position, (name, size) in enumerate(chart.terms):
        params = {"field": name, "size": size, "order": "desc", "orderBy": "1"}
        aggs.append(_agg(len(aggs) + 1, "terms", _terms_schema(chart, position), params))
    return aggs


def _terms_schema(chart: Chart, position: int) -> str:
    if chart.kind == "pie":
        return "segment"
    if chart.kind == "table":
        return "bucket"
    return "segment" if position == 0 and not chart.over_time else "group"


def _metric_agg(agg_id: int, metric: Metric) -> dict[str, Any]:
    params: dict[str, Any] = {}
    if metric.field is not None:
        params["field"] = metric.field
    if metric.label is not None:
        params["customLabel"] = metric.label
    return _agg(agg_id, metric.agg, "metric", params)


def _agg(agg_id: int, kind: str, schema: str, params: dict[str, Any]) -> dict[str, Any]:
    return {"id": str(agg_id), "enabled": True, "type": kind, "schema": schema, "params": params}


def _params(chart: Chart, flavour: Flavour) -> dict[str, Any]:
    if chart.kind == "pie":
        labels = {"show": False, "values": True, "last_level": True, "truncate": 100}
        params: dict[str, Any] = {
            "type": "pie",
            "addTooltip": True,
            "legendPosition": "right",
            "isDonut": True,
            "labels": labels,
        }
        if flavour == "opensearch-dashboards":
            params["addLegend"] = True
        return params
    if chart.kind == "table":
        return {
            "perPage": 10,
            "showPartialRows": False,
            "showMetricsAtAllLevels": False,
            "showTotal": False,
            "totalFunc": "sum",
            "percentageCol": "",
        }
    return _xy_params(chart)


def _xy_params(chart: Chart) -> dict[str, Any]:
    """Line or vertical bars: one category axis, one value axis, one series per metric."""
    series = [
        {
            "show": True,
            "type": "line" if chart.kind == "line" else "histogram",
            "mode": "normal" if chart.kind == "line" else "stacked",
            "data": {"id": str(n), "label": m.label or m.agg},
            "valueAxis": "ValueAxis-1",
            "drawLinesBetweenPoints": True,
            "lineWidth": 2,
            "showCircles": True,
            "interpolate": "linear",
        }
        for n, m in enumerate(chart.metrics, start=1)
    ]
    return {
        "type": chart.kind,
        "grid": {"categoryLines": False},
        "categoryAxes": [
            {
                "id": "CategoryAxis-1",
                "type": "category",
                "position": "bottom",
                "show": True,
                "scale": {"type": "linear"},
                "labels": {"show": True, "filter": True, "truncate": 100},
                "title": {},
            }
        ],
        "valueAxes": [
            {
                "id": "ValueAxis-1",
                "name": "LeftAxis-1",
                "type": "value",
                "position": "left",
                "show": True,
                "scale": {"type": "linear", "mode": "normal"},
                "labels": {"show": True, "rotate": 0, "filter": False, "truncate": 100},
                "title": {"text": chart.metrics[0].label or chart.metrics[0].agg},
            }
        ],
        "seriesParams": series,
        "addTooltip": True,
        "addLegend": True,
        "legendPosition": "right",
        "times": [],
        "addTimeMarker": False,
        "labels": {},
    }


def _search(search: SavedSearch) -> dict[str, Any]:
    attributes = {
        "title": search.title,
        "description": "",
        "columns": list(search.columns),
        "sort": [list(search.sort)],
        "kibanaSavedObjectMeta": _search_source("", with_index=True),
    }
    return _saved_object("search", search.id, attributes, _index_reference(search.data_view))


def _dashboard(dashboard: Dashboard, spec: Spec, flavour: Flavour) -> dict[str, Any]:
    """OpenSearch Dashboards' panels say which format they are in (`version`): one without it
    is put through the pre-7.3 panel conversion each time the dashboard app opens it."""
    kinds = {c.id: "visualization" for c in spec.charts} | {s.id: "search" for s in spec.searches}
    panels, references = [], []
    for number, object_id in enumerate(dashboard.panels, start=1):
        ref_name = f"panel_{number}"
        row, column = divmod(number - 1, 2)
        grid = {
            "x": column * _PANEL_WIDTH,
            "y": row * _PANEL_HEIGHT,
            "w": _PANEL_WIDTH,
            "h": _PANEL_HEIGHT,
            "i": str(number),
        }
        panel: dict[str, Any] = {
            "panelIndex": str(number),
            "gridData": grid,
            "embeddableConfig": {},
            "panelRefName": ref_name,
        }
        if flavour == "opensearch-dashboards":
            panel["version"] = OSD_MIGRATION_VERSIONS["dashboard"]
        panels.append(panel)
        references.append({"id": object_id, "name": ref_name, "type": kinds[object_id]})
    attributes = {
        "title": dashboard.title,
        "description": dashboard.description,
        "panelsJSON": json.dumps(panels, sort_keys=True),
        "optionsJSON": json.dumps({"useMargins": True, "hidePanelTitles": False}),
        "timeRestore": False,
        "version": 1,
        "kibanaSavedObjectMeta": _search_source("", with_index=False),
    }
    return _saved_object("dashboard", dashboard.id, attributes, references)
