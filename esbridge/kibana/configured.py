"""The shipped spec renamed for one config: its index names, its templates, ids of its own.

`spec.SPEC` names the indices of examples/dcache.yml. A site with other index names, or two
configs sharing one Kibana, needs data views over its own indices and object ids that do not
overwrite the other config's dashboards: every id and template takes the config's
`template_prefix` in place of `esbridge`, so the example config renders exactly `SPEC`.
"""

from __future__ import annotations

from dataclasses import replace

from esbridge.config import Config
from esbridge.kibana.spec import SPEC, DataView, Spec

SHIPPED_PREFIX = "esbridge"


def spec_for(config: Config, base: Spec = SPEC) -> Spec:
    """`base` for `config`; views of producers the config lacks are left out, with their panels."""
    prefix = config.template_prefix

    def own(object_id: str) -> str:
        return prefix + object_id.removeprefix(SHIPPED_PREFIX)

    views = [v for v in (_view(view, config) for view in base.data_views) if v is not None]
    kept = {view.id for view in views}
    charts = [c for c in base.charts if c.data_view in kept]
    searches = [s for s in base.searches if s.data_view in kept]
    present = kept | {c.id for c in charts} | {s.id for s in searches}
    return Spec(
        data_views=tuple(replace(v, id=own(v.id)) for v in views),
        charts=tuple(replace(c, id=own(c.id), data_view=own(c.data_view)) for c in charts),
        searches=tuple(replace(s, id=own(s.id), data_view=own(s.data_view)) for s in searches),
        dashboards=tuple(
            replace(d, id=own(d.id), panels=tuple(own(p) for p in d.panels if p in present))
            for d in base.dashboards
        ),
    )


def _view(view: DataView, config: Config) -> DataView | None:
    """`view` over the config's index of the same kind, or None when the config has none."""
    prefix = config.template_prefix
    kind = view.id.removeprefix(f"{SHIPPED_PREFIX}-")
    suffix = "" if prefix == SHIPPED_PREFIX else f" ({prefix})"
    if kind == "deadletter":
        index, template = f"{config.deadletter.index}-*", f"{prefix}-deadletter"
    elif kind == "issues":
        if config.watch is None:
            return None
        index, template = config.watch.issues_index, f"{prefix}-issues"
    else:
        producer = next((p for p in config.producers if p.parser == kind), None)
        if producer is None:
            return None
        index, template = f"{producer.index}-*", f"{prefix}-{producer.name}"
    return replace(view, title=index, template=template, name=view.name + suffix)
