"""What the simulator makes, the bridge's parsers take: no dead letters from synthetic traffic."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any
from zoneinfo import ZoneInfo

import orjson
import pytest

from esbridge.simulate import generate_incidents, mix
from esbridge.transforms import PARSERS, ParseContext

START = datetime(2026, 10, 14, 7, 0, tzinfo=UTC)


@pytest.mark.parametrize("zone", ["Europe/Berlin", "America/Chicago"])
def test_every_simulated_message_parses_and_the_incidents_are_recognised(zone: str) -> None:
    count, rate = 6000, 2.0
    incidents = generate_incidents(count, start=START, rate=rate)
    docs: dict[str, list[dict[str, Any]]] = {}
    for kind, message in mix(count, start=START, rate=rate, incidents=True, log_zone=zone):
        record = orjson.loads(message)
        context = ParseContext(kind, log_timezone=ZoneInfo(zone))
        docs.setdefault(kind, []).append(PARSERS[kind](record, context))

    for doc in docs["logs"]:
        assert doc["log"].get("parsed") is not False, doc
    pools_seen = {
        (doc["dcache"]["pool"]["name"], doc["dcache"]["pool"].get("mode"))
        for doc in docs["logs"]
        if "pool" in doc.get("dcache", {})
    }
    for incident in incidents:
        for change in incident.modes:
            if incident.kind != "crash" or change is not incident.modes[0]:
                assert (incident.pool, change.mode) in pools_seen
