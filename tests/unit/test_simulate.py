"""The traffic simulator: deterministic, faithful to dCache's shapes, incidents in order."""

from __future__ import annotations

import itertools
import re
from collections import Counter
from datetime import UTC, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import orjson
import pytest

from esbridge.poll.snapshot import flatten
from esbridge.simulate import (
    INCIDENT_KINDS,
    KINDS,
    SiteModel,
    generate,
    generate_incidents,
    mix,
)
from esbridge.simulate.filebeat import kv
from tests.helpers.dcache_frontend import new_server_usage, pool_entry

START = datetime(2026, 10, 14, 7, 0, tzinfo=UTC)
SITE = SiteModel.default()
POOLS = {p.name for p in SITE.pools}

BILLING_DATE = re.compile(
    r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(?P<fraction>\.\d{1,3})?(?P<offset>Z|[+-]\d\d:\d\d)$"
)
DURATION = re.compile(r"^PT\d+(\.\d{1,4})?S$")
LOG_LINE = re.compile(
    r"^(?P<time>\d\d [A-Z][a-z]{2} \d{4} \d\d:\d\d:\d\d) \((?P<cell>[^)]+)\) \[(?P<ndc>[^\]]*)\] "
    r"(?P<text>[^\n]*)(?P<trace>(\n.*)*)$"
)
CONTINUATION = re.compile(r"^(\tat |Caused by: |[a-z]+(\.[a-z]+)+\.[A-Za-z]+(Exception|Error))")
ACCESS_LINE = re.compile(
    r"^level=(?P<level>INFO|WARN|ERROR) ts=\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}[+-]\d{4} "
    r"event=(?P<event>org\.dcache\.[a-z.]+)(?P<pairs>( [A-Za-z0-9_.-]+=(\"(\\[\"\\n]|[^\"\\])*\"|"
    r"[^\" ]+))+)$"
)
PAIR = re.compile(r' ([A-Za-z0-9_.-]+)=("(?:\\["\\n]|[^"\\])*"|[^" ]+)')
ESCAPE = re.compile(r"\\(.)")


def unescape(match: re.Match[str]) -> str:
    return "\n" if match[1] == "n" else match[1]


def decoded(kind: str, count: int, **options: Any) -> list[dict[str, Any]]:
    return [orjson.loads(m) for m in generate(kind, count, start=START, **options)]


def access_fields(line: str) -> dict[str, str]:
    match = ACCESS_LINE.match(line)
    assert match, line
    fields = {}
    for key, raw in PAIR.findall(match["pairs"]):
        fields[key] = ESCAPE.sub(unescape, raw[1:-1]) if raw.startswith('"') else raw
    return fields


@pytest.fixture(scope="module")
def billing() -> list[dict[str, Any]]:
    return decoded("billing", 20_000, seed=11)


@pytest.mark.parametrize("kind", KINDS)
def test_a_seed_gives_the_same_bytes_and_another_seed_others(kind: str) -> None:
    def run(seed: int) -> list[bytes]:
        return list(generate(kind, 400, seed=seed, incidents=True, start=START))

    first = run(3)
    assert len(first) == 400
    assert run(3) == first
    assert run(4) != first


def test_mix_is_deterministic_and_counts_exactly() -> None:
    def run() -> list[tuple[str, bytes]]:
        return list(mix(2000, seed=5, incidents=True, start=START))

    pairs = run()
    assert pairs == run()
    counts = Counter(kind for kind, _ in pairs)
    assert len(pairs) == 2000
    assert counts["poolinfo"] == len(SITE.pools)  # one poll in 20 simulated seconds
    assert counts["billing"] > counts["access"] > counts["logs"] > 0
    assert counts["billing"] > 0.7 * len(pairs)


def test_mix_can_leave_kinds_out_and_rejects_unknown_ones() -> None:
    pairs = list(mix(500, start=START, kinds=("billing", "poolinfo")))
    assert len(pairs) == 500
    assert {kind for kind, _ in pairs} == {"billing", "poolinfo"}
    with pytest.raises(ValueError, match="unknown kinds"):
        list(mix(10, kinds=("billing", "metrics")))


def test_bad_arguments_are_refused() -> None:
    with pytest.raises(ValueError, match="unknown kind"):
        generate("metrics", 1)
    with pytest.raises(ValueError, match="rate"):
        generate("billing", 1, rate=0)
    with pytest.raises(ValueError, match="timezone-aware"):
        generate("billing", 1, start=datetime(2026, 1, 1))


def test_timestamps_advance_from_start_at_the_rate() -> None:
    events = decoded("logs", 500, rate=50.0)
    first = datetime.fromisoformat(events[0]["@timestamp"])
    last = datetime.fromisoformat(events[-1]["@timestamp"])
    assert START <= first < START + timedelta(seconds=1)
    assert START + timedelta(seconds=9) < last <= START + timedelta(seconds=10)


def test_every_billing_message_type_and_both_removes_appear(
    billing: list[dict[str, Any]],
) -> None:
    shapes = Counter((r["msgType"], r["cellType"]) for r in billing)
    assert {t for t, _ in shapes} == {
        "transfer",
        "request",
        "remove",
        "store",
        "restore",
        "hit",
        "warning",
    }
    assert shapes["remove", "door"] and shapes["remove", "pool"]
    assert shapes["transfer", "pool"] + shapes["request", "door"] > 0.7 * len(billing)
    assert any(r.get("isP2p") for r in billing if r["msgType"] == "transfer")
    assert any("moverInfo" in r for r in billing if r["msgType"] == "request")


def test_billing_fields_follow_dcache_spelling(billing: list[dict[str, Any]]) -> None:
    for record in billing:
        assert None not in record.values()
        door = record["cellType"] == "door"
        assert ("VERSION" in record) is door and ("version" in record) is not door
        assert ("filesize" in record) is (record["msgType"] == "hit")
        if record["msgType"] == "transfer":
            assert record["isWrite"] in ("read", "write")
            assert isinstance(record["isP2p"], bool)
            for key in ("readIdle", "readActive", "writeIdle", "writeActive"):
                assert key not in record or DURATION.match(record[key]), record[key]
        if record["msgType"] in ("store", "restore"):
            assert set(record["hsm"]) == {"type", "instance", "provider"}
            assert isinstance(record["locations"], list)
        if record["msgType"] == "remove" and not door:
            assert record["billingPath"] == "Unknown"
        if record["msgType"] == "request" and "moverInfo" in record:
            mover = record["moverInfo"]
            assert mover["msgType"] == "transfer" and "version" in mover
            assert not {"subject", "pnfsid", "fileSize", "billingPath"} & set(mover)
        if "pnfsid" in record:
            assert re.fullmatch(r"[0-9A-F]{36}|[0-9A-F]{24}", record["pnfsid"])


def test_billing_values_cover_the_traps(billing: list[dict[str, Any]]) -> None:
    codes = {r["status"]["code"] for r in billing}
    assert {0, 666, 204, 10001, 10006, 10018, 10025} <= codes
    assert any(r.get("fileSize", 0) > 2**31 for r in billing)
    hosts = [r["protocolInfo"]["host"] for r in billing if "protocolInfo" in r]
    assert any(":" in h and "[" not in h for h in hosts)  # IPv6, unbracketed
    assert any(re.fullmatch(r"\d+\.\d+\.\d+\.\d+", h) for h in hosts)
    endpoints = [r["localEndpoint"] for r in billing if "localEndpoint" in r]
    assert any(re.fullmatch(r"\[[0-9a-f:]+\]:\d+", e) for e in endpoints)
    assert any(re.fullmatch(r"[\d.]+:\d+", e) for e in endpoints)
    transfers = [r for r in billing if r["msgType"] == "transfer" and not r["isP2p"]]
    orders = {tuple(r) for r in transfers if r["isWrite"] == "read" and r["status"]["code"] == 0}
    assert len(orders) > 1  # key order varies between records of the same shape


def test_billing_dates_have_every_fraction_length_and_several_offsets(
    billing: list[dict[str, Any]],
) -> None:
    fractions: Counter[int] = Counter()
    offsets: Counter[str] = Counter()
    for record in billing:
        match = BILLING_DATE.match(record["date"])
        assert match, record["date"]
        fractions[len(match["fraction"] or ".") - 1] += 1
        offsets[match["offset"]] += 1
    assert set(fractions) == {0, 1, 2, 3}
    assert {"Z", "+02:00", "-05:00"} <= set(offsets)


def test_billing_dates_are_the_simulated_instant_in_the_hosts_zone(
    billing: list[dict[str, Any]],
) -> None:
    dates = [datetime.fromisoformat(r["date"]) for r in billing]
    assert min(dates) >= START
    assert max(dates) <= START + timedelta(seconds=200)


def test_log_events_are_journald_or_files_with_the_line_layout() -> None:
    events = decoded("logs", 3000, incidents=True, rate=5.0)
    traces = 0
    for event in events:
        match = LOG_LINE.match(event["message"])
        assert match, event["message"]
        assert "{" not in event["message"], "a template placeholder leaked"
        for line in match["trace"].split("\n")[1:]:
            assert CONTINUATION.match(line), line
        traces += bool(match["trace"])
        if event["input"]["type"] == "journald":
            identifier = event["syslog"]["identifier"]
            assert re.fullmatch(r"dcache@[\w-]+Domain", identifier)
            assert event["systemd"]["unit"] == f"{identifier}.service"
            assert event["host"]["name"] == event["host"]["hostname"]
        else:
            assert re.fullmatch(r"/var/log/dcache/[\w-]+Domain\.log", event["log"]["file"]["path"])
    assert traces > 0
    assert {e["input"]["type"] for e in events} == {"journald", "filestream"}


@pytest.mark.parametrize("zone", ["Europe/Berlin", "America/Chicago", "UTC", "Asia/Kolkata"])
@pytest.mark.parametrize("start", [START, datetime(2026, 3, 28, 20, 0, tzinfo=UTC)])  # DST
def test_log_line_time_is_the_timestamp_in_the_log_zone(zone: str, start: datetime) -> None:
    messages = generate("logs", 300, incidents=True, log_zone=zone, rate=0.01, start=start)
    for event in map(orjson.loads, messages):
        utc = datetime.fromisoformat(event["@timestamp"])
        local = datetime.strptime(event["message"][:20], "%d %b %Y %H:%M:%S")
        assert local.replace(tzinfo=ZoneInfo(zone)) == utc.replace(microsecond=0), event


def test_access_lines_follow_the_key_value_layout() -> None:
    events = decoded("access", 3000)
    fields = [access_fields(e["message"]) for e in events]
    messages = [e["message"] for e in events]
    assert not any("{" in m for m in messages), "a template placeholder leaked"
    names = Counter(ACCESS_LINE.match(m)["event"] for m in messages)  # type: ignore[index]
    assert names.most_common(1)[0][0] == "org.dcache.webdav.request"
    assert {"org.dcache.xrootd.request", "org.dcache.ftp.response"} <= set(names)
    assert any('\\"' in m for m in messages) and any("\\\\" in m for m in messages)
    codes = {f["response.code"] for f in fields if "response.code" in f}
    assert {"200", "201", "404"} <= codes and len(codes) > 5
    sockets = [f["socket.remote"] for f in fields if "socket.remote" in f]
    assert any(re.fullmatch(r"\[[0-9a-f:]+\]:\d+", s) for s in sockets)
    for event in events:
        assert re.fullmatch(r"/var/log/dcache/[\w-]+Domain\.access", event["log"]["file"]["path"])


def test_access_values_are_quoted_with_escapes_only_when_needed() -> None:
    assert kv("rclone/v1.68.1") == "rclone/v1.68.1"
    assert kv("a b") == '"a b"'
    assert kv('say "hi"') == '"say \\"hi\\""'
    assert kv("C:\\x y") == '"C:\\\\x y"'
    assert kv("two\nlines") == '"two\\nlines"'
    assert access_fields(
        'level=INFO ts=2026-10-14T09:00:00.000+0200 event=org.dcache.x k="a \\"b\\" \\\\c"'
    ) == {"k": 'a "b" \\c'}


def test_poolinfo_snapshots_every_pool_every_fifteen_minutes() -> None:
    snapshots = decoded("poolinfo", 3 * len(SITE.pools))
    assert {s["pool"] for s in snapshots} == POOLS
    assert sorted({s["@timestamp"] for s in snapshots}) == [
        "2026-10-14T07:00:00.000Z",
        "2026-10-14T07:15:00.000Z",
        "2026-10-14T07:30:00.000Z",
    ]
    for snapshot in snapshots:
        assert snapshot["space_used"] + snapshot["space_free"] == snapshot["space_total"]
        assert snapshot["space_removable"] + snapshot["space_precious"] <= snapshot["space_used"]
        assert snapshot["mode"] == "enabled" and snapshot["enabled"] is True
        assert snapshot["cached"] is True and "missing" not in snapshot
        pool = SITE.pool(snapshot["pool"])
        assert snapshot["host"] == pool.host
        assert (snapshot["domain"], snapshot["groups"]) == (pool.domain, list(pool.groups))


def test_simulated_snapshots_have_exactly_the_pollers_keys() -> None:
    usage = new_server_usage("p", domain="d", status=(99, "x"), mode="disabled(fetch)")
    polled = set(flatten(pool_entry("p", ["g"], ["l"]), usage, at=START))
    disabled = {"status_code", "status_message"}
    for snapshot in decoded("poolinfo", 3 * len(SITE.pools), incidents=True):
        assert set(snapshot) | disabled == polled, snapshot


def pool_texts(events: list[dict[str, Any]], pool: str) -> list[str]:
    """What the pool itself logged about its mode (not PoolManager's echoes), in stream order."""
    texts = []
    for event in events:
        match = LOG_LINE.match(event["message"])
        assert match
        if match["cell"] == pool and match["text"].startswith("Pool mode changed to "):
            texts.append(match["text"])
    return texts


@pytest.mark.parametrize("seed", [0, 1, 2, 7, 9])
def test_every_simulation_with_incidents_leaves_one_open_and_one_resolved(seed: int) -> None:
    # What the demo's watcher mails: an issue still open when it looks.
    incidents = generate_incidents(20000, start=START, seed=seed)
    assert len(incidents) >= 2
    assert incidents[0].resolved
    assert not incidents[-1].resolved
    assert incidents[-1].resolved_time is None


def test_incidents_disable_then_enable_the_same_pool_in_order() -> None:
    count, rate = 4000, 0.5  # two hours of simulated time
    incidents = generate_incidents(count, start=START, rate=rate, seed=2)
    events = decoded("logs", count, incidents=True, rate=rate, seed=2)
    messages = [e["message"] for e in events]
    assert {i.kind for i in incidents} == set(INCIDENT_KINDS)
    assert any(i.resolved for i in incidents)
    stamps = [e["@timestamp"] for e in events]
    assert stamps == sorted(stamps)
    for pool in {i.pool for i in incidents}:
        assert pool in POOLS
        expected = [
            line.text
            for incident in incidents
            if incident.pool == pool
            for line in incident.lines
            if line.cell == pool and line.text.startswith("Pool mode changed to ")
        ]
        assert pool_texts(events, pool) == expected
    for incident in incidents:
        own = [line.text for line in incident.lines if line.cell == incident.pool]
        modes = [t for t in own if t.startswith("Pool mode changed to ")]
        assert (modes[-1] == "Pool mode changed to enabled") is incident.resolved
        assert all(m.startswith("Pool mode changed to disabled(") for m in modes[:-1])
        if incident.resolved:
            assert incident.resolved_time is not None
            assert incident.resolved_time > incident.time
        if incident.kind in ("fault", "operator"):
            assert modes[0] in (
                "Pool mode changed to disabled(): Operator intervention",
                "Pool mode changed to disabled(fetch,store,stage,p2p-client,p2p-server): "
                + incident.reason,
            )
            assert incident.kind == "operator" or incident.reason.startswith("Pool disabled: ")
        if incident.kind == "restart":
            assert modes[:3] == [
                "Pool mode changed to disabled(fetch,store,stage,p2p-client,p2p-server,dead): "
                "Shutdown",
                "Pool mode changed to disabled(fetch,store,stage,p2p-client,p2p-server): "
                "Awaiting initialization",
                "Pool mode changed to disabled(store,stage,p2p-client,loading): Loading...",
            ]
        if incident.kind == "crash":
            fatal = "Restarting due to fatal JVM error: java.lang.OutOfMemoryError"
            down = f"Pool {incident.pool} declared as DOWN: no ping in 600 seconds."
            assert any(fatal in m for m in messages)
            assert any(m.endswith(down) for m in messages)


def test_restart_lines_are_seconds_apart_when_the_run_is_long_enough() -> None:
    incidents = generate_incidents(4000, start=START, rate=0.5, seed=2)
    restart = next(i for i in incidents if i.kind == "restart")
    times = [m.time for m in restart.modes]
    gaps = [(b - a).total_seconds() for a, b in itertools.pairwise(times)]
    assert 30 <= gaps[0] <= 60 and 0.5 <= gaps[1] <= 2


def test_incidents_fit_short_runs_too() -> None:
    incidents = generate_incidents(1000, start=START)  # ten simulated seconds
    end = START + timedelta(seconds=10)
    assert len(incidents) == 4
    assert all(START <= line.time < end for i in incidents for line in i.lines)
    assert incidents[0].time == START


def test_out_of_service_pools_get_no_billing_and_show_disabled_in_poolinfo() -> None:
    count, rate = 20_000, 5.0
    incidents = generate_incidents(count, start=START, rate=rate)
    outages = [
        (i.pool, i.modes[0].time, i.resolved_time or START + timedelta(days=1)) for i in incidents
    ]
    for record in decoded("billing", count, incidents=True, rate=rate):
        if record["msgType"] in ("transfer", "hit") and record["cellType"] == "pool":
            when = datetime.fromisoformat(record["date"])
            for pool, down, up in outages:
                assert not (record["cellName"] == pool and down <= when < up), (record, pool)
    first = generate_incidents(len(SITE.pools), kind="poolinfo", start=START)[0]
    snapshots = decoded("poolinfo", len(SITE.pools), incidents=True)
    by_pool = {s["pool"]: s for s in snapshots}
    assert by_pool[first.pool]["mode"] == first.modes[0].mode
    assert by_pool[first.pool]["enabled"] is False
    assert by_pool[first.pool]["status_message"] == first.modes[0].reason
    assert all(s["enabled"] for p, s in by_pool.items() if p != first.pool)


def test_generate_incidents_matches_what_the_mix_injects() -> None:
    incidents = generate_incidents(3000, start=START, seed=9)
    logs = [
        orjson.loads(m) for k, m in mix(3000, start=START, seed=9, incidents=True) if k == "logs"
    ]
    injected = {line.text.split("\n")[0] for i in incidents for line in i.lines}
    seen = {LOG_LINE.match(e["message"])["text"] for e in logs}  # type: ignore[index]
    assert injected <= seen


def test_every_message_decodes_as_a_json_object() -> None:
    assert all(isinstance(orjson.loads(m), dict) for _, m in mix(5000, incidents=True))
