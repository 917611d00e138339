"""Kibana objects rendered for a config: its index names and templates, ids of its own."""

from __future__ import annotations

import json
from pathlib import Path

from click.testing import CliRunner

from esbridge.cli import main
from esbridge.config import load_config
from esbridge.kibana.configured import spec_for
from esbridge.kibana.objects import render_objects
from esbridge.kibana.spec import SPEC
from tests.helpers.configs import MINIMAL
from tests.helpers.paths import EXAMPLE_CONFIG

OTHER = MINIMAL.replace("index: dcache-billing", "index: site2-billing") + (
    "template_prefix: site2\ndeadletter:\n  index: site2-deadletter\n"
)


def other_config(tmp_path: Path) -> Path:
    path = tmp_path / "site2.yml"
    path.write_text(OTHER)
    return path


def referenced_ids(objects: list[dict[str, object]]) -> set[str]:
    return {
        str(ref["id"])  # type: ignore[index]
        for obj in objects
        for ref in obj.get("references", [])  # type: ignore[attr-defined]
    }


def test_the_example_config_renders_exactly_the_shipped_objects() -> None:
    assert spec_for(load_config(EXAMPLE_CONFIG, environ={})) == SPEC


def test_another_config_gets_views_over_its_own_indices_and_ids_of_its_own(tmp_path: Path) -> None:
    spec = spec_for(load_config(other_config(tmp_path), environ={}))

    views = {view.id: (view.title, view.template) for view in spec.data_views}
    assert views == {
        "site2-billing": ("site2-billing-*", "site2-billing"),
        "site2-deadletter": ("site2-deadletter-*", "site2-deadletter"),
    }, "no logs, access, poolinfo or issues views: the config has none of them"
    objects = render_objects(spec)
    ids = {str(obj["id"]) for obj in objects}
    assert all(i.startswith("site2-") for i in ids)
    assert referenced_ids(objects) <= ids, "every panel and view a dashboard names is rendered"
    shipped = {str(obj["id"]) for obj in render_objects()}
    assert ids.isdisjoint(shipped), "loading it cannot overwrite the shipped objects"


def test_kibana_render_with_a_config_writes_its_objects(tmp_path: Path) -> None:
    result = CliRunner().invoke(main, ["kibana", "render", "-c", str(other_config(tmp_path))])

    assert result.exit_code == 0, result.output
    objects = [json.loads(line) for line in result.stdout.splitlines()]
    views = [o for o in objects if o["type"] == "index-pattern"]
    assert sorted(v["attributes"]["title"] for v in views) == [
        "site2-billing-*",
        "site2-deadletter-*",
    ]


def test_per_pool_panels_cover_thousands_of_pools_after_a_pool_group_level() -> None:
    def splits_by(chart_id: str, field: str) -> bool:
        chart = next((c for c in SPEC.charts if c.id == chart_id), None)
        return chart is not None and any(name == field for name, _ in chart.terms)

    per_pool = [c for c in SPEC.charts if any(n == "dcache.pool.name" for n, _ in c.terms)]
    assert per_pool
    for chart in per_pool:
        size = dict(chart.terms)["dcache.pool.name"]
        assert chart.kind == "table" and size >= 5_500, chart.id
    for dashboard in SPEC.dashboards:
        first_pool = next(
            (i for i, p in enumerate(dashboard.panels) if splits_by(p, "dcache.pool.name")), None
        )
        if first_pool is not None:
            groups = [
                p for p in dashboard.panels[:first_pool] if splits_by(p, "dcache.pool.groups")
            ]
            assert groups, f"{dashboard.id}: no pool-group panel before the per-pool one"
