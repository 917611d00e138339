"""The OpenSearch Dashboards bundle against the Kibana bundle, the index templates and what
OpenSearch Dashboards 2.x/3.x accept, and how `load` tells the two products apart.

What OpenSearch Dashboards accepts is written here from its source, not taken from the code
under test: each type's newest migration (`*_migrations.ts`), the attribute mappings of the
types its saved-objects index maps strictly (`dashboard.ts`, `search.ts`, `visualization.ts`)
and the aggregation-based visualization types it registers (`vis_type_vislib`,
`vis_type_table`).
"""

from __future__ import annotations

import json
from typing import Any

import pytest

from esbridge.kibana.client import KibanaError, Product, check_supported, detect_product
from esbridge.kibana.objects import render_objects, to_ndjson
from esbridge.kibana.spec import SPEC
from esbridge.setup.templates import render_resources
from tests.helpers.mappings import PRODUCERS, Deadletter
from tests.helpers.paths import REPO

OSD_FILE = REPO / "kibana" / "objects-opensearch-dashboards.ndjson"
OSD = render_objects(flavour="opensearch-dashboards")
KIBANA = render_objects(flavour="kibana")

NEWEST_MIGRATION = {
    "index-pattern": "7.6.0",
    "visualization": "7.10.0",
    "search": "7.9.3",
    "dashboard": "7.9.3",
}
STRICT_ATTRIBUTES = {
    "dashboard": {
        "description",
        "hits",
        "kibanaSavedObjectMeta",
        "optionsJSON",
        "panelsJSON",
        "refreshInterval",
        "timeFrom",
        "timeRestore",
        "timeTo",
        "title",
        "version",
    },
    "search": {
        "columns",
        "description",
        "hits",
        "kibanaSavedObjectMeta",
        "sort",
        "columnWidths",
        "title",
        "version",
    },
    "visualization": {
        "description",
        "kibanaSavedObjectMeta",
        "savedSearchRefName",
        "title",
        "uiStateJSON",
        "version",
        "visState",
    },
}
OSD_AGGREGATION_VIS_TYPES = {
    "area",
    "line",
    "histogram",
    "horizontal_bar",
    "pie",
    "table",
    "metric",
    "gauge",
    "goal",
    "heatmap",
}


def by_key(objects: list[dict[str, Any]]) -> dict[tuple[str, str], dict[str, Any]]:
    return {(o["type"], o["id"]): o for o in objects}


def panels(dashboard: dict[str, Any]) -> list[tuple[str, str, dict[str, int]]]:
    """(type, id, grid) of each panel, through its reference."""
    references = {r["name"]: r for r in dashboard["references"]}
    return [
        (references[p["panelRefName"]]["type"], references[p["panelRefName"]]["id"], p["gridData"])
        for p in json.loads(dashboard["attributes"]["panelsJSON"])
    ]


def test_osd_file_on_disk_equals_a_fresh_render() -> None:
    assert OSD_FILE.read_text(encoding="utf-8") == to_ndjson(OSD), (
        "kibana/objects-opensearch-dashboards.ndjson is stale: run `esbridge kibana render "
        "--flavour opensearch-dashboards -o kibana/objects-opensearch-dashboards.ndjson`"
    )


def test_both_bundles_hold_the_same_objects_under_the_same_ids_in_the_same_order() -> None:
    assert [(o["type"], o["id"]) for o in OSD] == [(o["type"], o["id"]) for o in KIBANA]
    parts = (SPEC.data_views, SPEC.charts, SPEC.searches, SPEC.dashboards)
    assert len(OSD) == sum(len(p) for p in parts)


def test_dashboards_hold_the_same_panels_in_the_same_places() -> None:
    kibana = by_key(KIBANA)
    for dashboard in (o for o in OSD if o["type"] == "dashboard"):
        same = kibana["dashboard", dashboard["id"]]
        assert panels(dashboard) == panels(same), dashboard["id"]
        assert dashboard["attributes"]["title"] == same["attributes"]["title"]


def test_visualizations_aggregate_and_filter_as_in_the_kibana_bundle() -> None:
    kibana = by_key(KIBANA)
    for chart in (o for o in OSD if o["type"] == "visualization"):
        same = kibana["visualization", chart["id"]]
        state, same_state = (json.loads(c["attributes"]["visState"]) for c in (chart, same))
        assert (state["type"], state["aggs"]) == (same_state["type"], same_state["aggs"])
        meta = chart["attributes"]["kibanaSavedObjectMeta"]
        assert meta == same["attributes"]["kibanaSavedObjectMeta"]
        assert chart["references"] == same["references"]


def test_every_reference_resolves_to_an_object_of_its_type_in_the_bundle() -> None:
    present = set(by_key(OSD))
    for obj in OSD:
        for reference in obj["references"]:
            assert (reference["type"], reference["id"]) in present, (obj["id"], reference)


def test_every_ref_name_in_an_object_has_its_reference() -> None:
    for obj in OSD:
        names = {r["name"] for r in obj["references"]}
        meta = obj["attributes"].get("kibanaSavedObjectMeta")
        if meta and "indexRefName" in json.loads(meta["searchSourceJSON"]):
            assert json.loads(meta["searchSourceJSON"])["indexRefName"] in names, obj["id"]
        for panel in json.loads(obj["attributes"].get("panelsJSON", "[]")):
            assert panel["panelRefName"] in names, obj["id"]


def test_every_index_pattern_is_its_index_templates_pattern_with_its_time_field() -> None:
    resources = render_resources(PRODUCERS, Deadletter(), issues_index="esbridge-issues")
    templates = {r.name: r.body for r in resources if r.kind == "index_template"}
    views = {v.id: v for v in SPEC.data_views}
    patterns = [o for o in OSD if o["type"] == "index-pattern"]

    assert {o["id"] for o in patterns} == set(views)
    for pattern in patterns:
        view = views[pattern["id"]]
        assert templates[view.template]["index_patterns"] == [pattern["attributes"]["title"]]
        assert pattern["attributes"] == {"title": view.title, "timeFieldName": view.time_field}


def test_each_object_is_stamped_with_the_newest_migration_osd_knows_for_its_type() -> None:
    for obj in OSD:
        assert obj["migrationVersion"] == {obj["type"]: NEWEST_MIGRATION[obj["type"]]}, obj["id"]


def test_no_object_has_an_attribute_outside_osds_strict_mappings() -> None:
    for obj in OSD:
        allowed = STRICT_ATTRIBUTES.get(obj["type"])
        if allowed is not None:
            assert set(obj["attributes"]) <= allowed, (obj["id"], set(obj["attributes"]) - allowed)


def test_every_visualization_type_has_an_osd_counterpart() -> None:
    charts = [o for o in OSD if o["type"] == "visualization"]
    kinds = {json.loads(o["attributes"]["visState"])["type"] for o in charts}

    assert kinds <= OSD_AGGREGATION_VIS_TYPES


def test_pies_show_their_legend_and_panels_say_their_format() -> None:
    """OSD's pie hides the legend unless `addLegend`; a panel without `version` is converted
    from the pre-7.3 format when the dashboard opens."""
    for obj in OSD:
        if obj["type"] == "visualization":
            state = json.loads(obj["attributes"]["visState"])
            if state["type"] == "pie":
                assert state["params"]["addLegend"] is True, obj["id"]
        for panel in json.loads(obj["attributes"].get("panelsJSON", "[]")):
            assert panel["version"] == "7.9.3", obj["id"]


def test_the_issues_search_has_the_six_columns_without_kibanas_labels() -> None:
    (search,) = (o for o in OSD if o["type"] == "search")

    assert search["attributes"]["columns"] == [
        "subject.domain",
        "subject.pool_groups",
        "status",
        "type",
        "latest_message",
        "last_seen",
    ]
    assert search["attributes"]["sort"] == [["last_seen", "desc"]]
    assert all("fieldAttrs" not in o["attributes"] for o in OSD)


GREEN = {"state": "green", "message": "ok"}
OSD_STATUS = {
    "name": "dashboards-0",
    "version": {"number": "2.19.1", "build_hash": "c0ffee", "build_snapshot": False},
    "status": {
        "overall": {"state": "green", "title": "Green"},
        "statuses": [
            {"id": "core:opensearch@2.19.1"} | GREEN,
            {"id": "core:savedObjects@2.19.1"} | GREEN,
            {"id": "plugin:dashboard@2.19.1"} | GREEN,
        ],
    },
}
KIBANA_STATUS = {
    "name": "kibana-0",
    "version": {"number": "9.1.0", "build_flavor": "traditional"},
    "status": {
        "overall": {"level": "available"},
        "core": {"elasticsearch": {"level": "available"}, "savedObjects": {"level": "available"}},
        "plugins": {},
    },
}


@pytest.mark.parametrize(
    ("status", "expected"),
    [
        (OSD_STATUS, Product("opensearch-dashboards", "2.19.1")),
        (
            OSD_STATUS | {"status": {"core": {"opensearch": {}, "savedObjects": {}}}},
            Product("opensearch-dashboards", "2.19.1"),
        ),
        (KIBANA_STATUS, Product("kibana", "9.1.0")),
        (
            KIBANA_STATUS
            | {"version": {"number": "7.17.9"}}
            | {"status": {"statuses": [{"id": "core:elasticsearch@7.17.9"} | GREEN]}},
            Product("kibana", "7.17.9"),
        ),
    ],
    ids=["osd-legacy-format", "osd-v8format", "kibana-v8-format", "kibana-7-legacy"],
)
def test_the_core_service_in_the_status_names_the_product(
    status: dict[str, Any], expected: Product
) -> None:
    assert detect_product(status) == expected


@pytest.mark.parametrize(
    "status",
    [
        {"status": {"overall": {"level": "available"}}},
        {"name": "x", "version": {"number": "8.15.3"}},
        {"status": "green"},
    ],
    ids=["kibana-redacted", "version-only", "not-an-object"],
)
def test_a_status_that_names_no_core_service_is_refused(status: dict[str, Any]) -> None:
    with pytest.raises(KibanaError, match="named neither Kibana's nor OpenSearch Dashboards'"):
        detect_product(status)


@pytest.mark.parametrize(
    ("product", "supported"),
    [
        (Product("opensearch-dashboards", "2.0.0"), True),
        (Product("opensearch-dashboards", "3.3.0"), True),
        (Product("opensearch-dashboards", "1.3.19"), False),
        (Product("opensearch-dashboards", "4.0.0"), False),
        (Product("opensearch-dashboards", "8.15.3"), False),
        (Product("kibana", "8.0.0"), True),
        (Product("kibana", "9.2.0-SNAPSHOT"), True),
        (Product("kibana", "2.19.1"), False),
        (Product("kibana", ""), False),
    ],
)
def test_each_product_has_its_own_supported_range(product: Product, supported: bool) -> None:
    if supported:
        check_supported(product)
    else:
        with pytest.raises(KibanaError, match=f"{product.name} .* is not supported"):
            check_supported(product)
