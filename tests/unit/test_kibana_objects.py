"""The shipped Kibana objects against the index templates' mappings and against each other."""

from __future__ import annotations

import json
from typing import Any

import pytest

from esbridge.kibana.objects import (
    chart_fields,
    kql,
    render_objects,
    to_ndjson,
)
from esbridge.kibana.spec import ISSUE_COLUMNS, SPEC, Chart
from esbridge.setup.templates import render_resources
from tests.helpers.mappings import PRODUCERS, Deadletter, effective_mappings, lookup
from tests.helpers.paths import KIBANA_OBJECTS

AGGREGATABLE = {"keyword", "long", "integer", "short", "double", "float", "date", "ip", "boolean"}
RESOURCES = render_resources(PRODUCERS, Deadletter(), issues_index="esbridge-issues")
VIEWS = {v.id: v for v in SPEC.data_views}
OBJECTS = render_objects()


def mapping_of(data_view: str, path: str) -> dict[str, Any] | None:
    """The mapping of `path` in the data view's index, a multi-field (`x.keyword`) included."""
    properties = effective_mappings(RESOURCES, VIEWS[data_view].template)["properties"]
    found = lookup(properties, path)
    if found is None and "." in path:
        parent, sub = path.rsplit(".", 1)
        found = (lookup(properties, parent) or {}).get("fields", {}).get(sub)
    return found


@pytest.mark.parametrize("chart", SPEC.charts, ids=lambda c: c.id)
def test_every_chart_field_is_mapped_and_aggregatable_where_aggregated(chart: Chart) -> None:
    for path, aggregated in chart_fields(chart):
        mapping = mapping_of(chart.data_view, path)
        assert mapping is not None, f"{chart.id}: {path} is not mapped"
        assert mapping.get("index", True), f"{chart.id}: {path} is not searchable"
        if aggregated:
            assert mapping.get("type") in AGGREGATABLE, f"{chart.id}: {path} {mapping}"
            assert mapping.get("doc_values", True), f"{chart.id}: {path} has no doc values"


def test_every_data_view_time_field_is_a_mapped_date() -> None:
    for view in SPEC.data_views:
        assert mapping_of(view.id, view.time_field) == {"type": "date"}, view.id


def test_every_data_view_title_is_its_index_templates_pattern() -> None:
    templates = {r.name: r.body for r in RESOURCES if r.kind == "index_template"}
    for view in SPEC.data_views:
        assert templates[view.template]["index_patterns"] == [view.title], view.id


def test_saved_search_shows_the_six_issue_columns_under_their_labels() -> None:
    (search,) = (o for o in OBJECTS if o["type"] == "search")
    (view,) = (o for o in OBJECTS if o["id"] == "esbridge-issues")
    labels = json.loads(view["attributes"]["fieldAttrs"])

    columns = search["attributes"]["columns"]

    assert columns == [
        "subject.domain",
        "subject.pool_groups",
        "status",
        "type",
        "latest_message",
        "last_seen",
    ]
    assert [labels[c]["customLabel"] for c in columns] == [
        "Pool Domain",
        "Pool Group",
        "Error Status",
        "Error Type",
        "Error Message",
        "Date of latest occurrence",
    ]
    assert all(mapping_of("esbridge-issues", c) for c, _ in ISSUE_COLUMNS)
    assert search["attributes"]["sort"] == [["last_seen", "desc"]]


def test_every_reference_resolves_to_an_object_of_its_type_in_the_file() -> None:
    present = {(o["type"], o["id"]) for o in OBJECTS}
    for obj in OBJECTS:
        for reference in obj["references"]:
            assert (reference["type"], reference["id"]) in present, (obj["id"], reference)


def test_every_ref_name_in_an_object_has_its_reference() -> None:
    for obj in OBJECTS:
        attributes = obj["attributes"]
        names = {r["name"] for r in obj["references"]}
        meta = attributes.get("kibanaSavedObjectMeta")
        if meta and "indexRefName" in json.loads(meta["searchSourceJSON"]):
            assert json.loads(meta["searchSourceJSON"])["indexRefName"] in names, obj["id"]
        for panel in json.loads(attributes.get("panelsJSON", "[]")):
            assert panel["panelRefName"] in names, obj["id"]


def test_ids_are_unique_and_dashboards_have_the_titles_the_issue_names() -> None:
    ids = [(o["type"], o["id"]) for o in OBJECTS]
    titles = {o["attributes"]["title"] for o in OBJECTS if o["type"] == "dashboard"}

    assert len(ids) == len(set(ids))
    assert titles == {"dCache transfers", "Pool health", "Dead letters"}


def test_data_views_cover_every_producer_index_dead_letters_and_issues() -> None:
    titles = {o["attributes"]["title"] for o in OBJECTS if o["type"] == "index-pattern"}

    assert titles == {
        "dcache-billing-*",
        "dcache-logs-*",
        "dcache-access-*",
        "dcache-poolinfo-*",
        "esbridge-deadletter-*",
        "esbridge-issues",
    }


def test_visualization_aggs_name_the_spec_fields() -> None:
    (chart,) = (o for o in OBJECTS if o["id"] == "esbridge-transfers-bytes-over-time")
    state = json.loads(chart["attributes"]["visState"])

    assert [(a["type"], a["schema"], a["params"].get("field")) for a in state["aggs"]] == [
        ("sum", "metric", "billing.transfer_size"),
        ("date_histogram", "segment", "@timestamp"),
        ("terms", "group", "billing.direction"),
    ]
    source = json.loads(chart["attributes"]["kibanaSavedObjectMeta"]["searchSourceJSON"])
    assert source["query"] == {"query": "event.action : transfer", "language": "kuery"}


def test_kql_quotes_values_that_are_not_plain_tokens() -> None:
    assert kql((("a.b", "x*"), ("c", 'two words "q"'))) == 'a.b : x* and c : "two words \\"q\\""'


def test_objects_file_on_disk_equals_a_fresh_render() -> None:
    assert KIBANA_OBJECTS.read_text(encoding="utf-8") == to_ndjson(OBJECTS), (
        "kibana/objects.ndjson is stale: run `esbridge kibana render -o kibana/objects.ndjson`"
    )
