"""benchmarks/alternatives.py weighs other routes to a faster hot path; its figures only count
if each route makes the reference's bulk lines, dead letters included."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime

from esbridge.ingest.message import Message
from esbridge.simulate import mix
from tests.helpers.bench_scripts import benchmark_module

alternatives = benchmark_module("alternatives")
hotpath = benchmark_module("hotpath")


def billing_batch() -> list[Message]:
    start = datetime(2026, 10, 14, 7, 0, tzinfo=UTC)
    values = [v for _, v in mix(300, seed=5, start=start, kinds=("billing",))]
    bad = [b"{not json", b'{"msgType":"transfer"}', b"[1,2]", None]
    return [Message("dcache-billing", 0, i, v) for i, v in enumerate([*values, *bad])]


def test_the_tuned_python_route_makes_the_reference_lines_and_dead_letters() -> None:
    route = replace(hotpath.producer_route("billing"), event_original=False)
    batch = billing_batch()
    steps = alternatives.steps(None)

    reference = steps["python"](batch, route)
    tuned = steps["tuned-python"](batch, route)

    assert [alternatives.outcome(i) for i in tuned] == [alternatives.outcome(i) for i in reference]
    assert [i.reason for i in tuned if i.dead] == ["json_decode", "missing_field"] + [
        "not_an_object"
    ] * 2
