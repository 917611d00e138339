"""`esbridge analyze` on Apache Spark in local mode, over an archive of a known synthetic month.

The archive is written per the archive contract (tests/helpers/archive_files.py); the answers
are computed again here in plain Python from the raw messages and must match. One
SparkSession serves the job-function tests (a session costs seconds of JVM start); the two
CLI runs each start their own JVM, as a person's would. No Kafka or Elasticsearch is needed.
"""

from __future__ import annotations

import json
import os
import random
import signal
import subprocess
import sys
import time
from collections import defaultdict
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import pytest
from pyspark.sql import SparkSession

from esbridge.analyze.billing import billing_volume, counted
from esbridge.analyze.month import Month
from esbridge.analyze.pools import pool_history
from esbridge.analyze.results import BillingQuery, Dimension, billing_json
from esbridge.analyze.session import open_session
from esbridge.errors import EsbridgeError
from esbridge.stack.jdk import find_jdk
from tests.helpers.archive_files import write_archive
from tests.helpers.metrics import wait_until
from tests.helpers.sites import make_site, remove_site
from tests.helpers.spark_cluster import standalone_cluster

pytestmark = pytest.mark.spark

JUNE = Month(2019, 6)
SMALL = {"spark.ui.enabled": "false", "spark.sql.shuffle.partitions": "4"}
"""Local-mode settings for a few thousand rows: no web UI, few shuffle partitions."""
ZONES = [UTC, timezone(timedelta(hours=2)), timezone(timedelta(hours=-5))]
STORAGE = ["cms:raw@osm", "cms:user@osm", "atlas:data@enstore", "dteam@osm", None]
PROTOCOLS = ["Http", "Xrootd", "GFtp"]


def _date(moment: datetime, zone: timezone) -> str:
    """As dCache writes it: the server's local offset, milliseconds."""
    return moment.astimezone(zone).isoformat(timespec="milliseconds")


def _transfer(moment: datetime, zone: timezone, rng: random.Random, **fields: Any) -> dict:
    record: dict[str, Any] = {
        "version": "1.0",
        "msgType": "transfer",
        "date": _date(moment, zone),
        "queuingTime": 0,
        "cellName": f"pool{rng.randint(1, 9)}",
        "cellType": "pool",
        "cellDomain": "poolDomain",
        "status": {"code": 0, "msg": ""},
        "session": f"pool:s{rng.randint(0, 10**9)}",
        "transferSize": rng.randint(0, 10 * 2**30),
        "fileSize": 2**31,
        "transferTime": rng.randint(1, 10**5),
        "storageInfo": rng.choice(STORAGE),
        "isWrite": rng.choice(["read", "write"]),
        "isP2p": rng.random() < 0.15,
        "protocolInfo": {
            "protocol": rng.choice(PROTOCOLS),
            "versionMajor": 1,
            "versionMinor": 1,
            "port": 1094,
            "host": "131.169.12.44",
        },
        "pnfsid": "0000D1C2B3A4958677685A4B3C2D1E0F9A8B",
        "billingPath": "/pnfs/desy.de/cms/f",
    }
    if rng.random() < 0.1:
        record["status"] = {"code": 10011, "msg": "Transfer failed"}
    if record["storageInfo"] is None:
        del record["storageInfo"]
    record.update(fields)
    return record


def _request(transfer: dict) -> dict:
    """The door's record of the same transfer: its bytes again, inside moverInfo."""
    return {
        "VERSION": "1.0",
        "msgType": "request",
        "date": transfer["date"],
        "queuingTime": 0,
        "cellName": "WebDAV-door",
        "cellType": "door",
        "cellDomain": "webdavDomain",
        "status": transfer["status"],
        "session": "door:x",
        "storageInfo": transfer.get("storageInfo", "cms:raw@osm"),
        "moverInfo": {"transferSize": transfer["transferSize"], "isWrite": transfer["isWrite"]},
    }


def billing_messages() -> tuple[list[dict], list[dict]]:
    """(new-style records, records of an older producer without isP2p and protocolInfo),
    from 2019-05-25 to 2019-07-05 with the month's edges in several offsets."""
    rng = random.Random(1306)
    records: list[dict] = []
    edges = [
        ("2019-05-31T23:59:59.999+00:00", UTC),
        ("2019-06-01T01:30:00.000+02:00", ZONES[1]),  # May 31, 23:30 UTC
        ("2019-06-01T00:00:00.000+00:00", UTC),
        ("2019-06-30T21:00:00.000-05:00", ZONES[2]),  # July 1, 02:00 UTC
        ("2019-07-01T01:30:00.000+02:00", ZONES[1]),  # June 30, 23:30 UTC
        ("2019-07-01T00:00:00.000+00:00", UTC),
    ]
    for text, zone in edges:
        records.append(
            _transfer(datetime.fromisoformat(text), zone, rng, storageInfo="cms:raw@osm")
        )
    start = datetime(2019, 5, 25, tzinfo=UTC)
    for _ in range(500):
        moment = start + timedelta(seconds=rng.randint(0, 41 * 86400))
        transfer = _transfer(moment, rng.choice(ZONES), rng)
        records.append(transfer)
        if rng.random() < 0.5:
            records.append(_request(transfer))
        if rng.random() < 0.05:
            records.append({**transfer, "msgType": "store", "transferSize": 5})
    older: list[dict] = []
    for _ in range(60):
        moment = datetime(2019, 6, 1, tzinfo=UTC) + timedelta(seconds=rng.randint(0, 29 * 86400))
        transfer = _transfer(moment, UTC, rng)
        del transfer["isP2p"], transfer["protocolInfo"]
        older.append(transfer)
    return records, older


def expected_billing(
    records: list[dict],
    vo: str | None,
    by: Dimension | None,
    include_p2p: bool = False,
    include_failed: bool = False,
) -> dict[str, Any]:
    """The answer from the raw messages, by the definitions of docs/analyze.md."""
    total = [0, 0]
    per_key: dict[str, list[int]] = defaultdict(lambda: [0, 0])
    for record in records:
        moment = datetime.fromisoformat(record["date"]).astimezone(UTC)
        if record["msgType"] != "transfer" or (moment.year, moment.month) != (2019, 6):
            continue
        info = record.get("storageInfo")
        group = info.split("@")[0] if info else None
        if vo is not None and (group is None or group.split(":")[0] != vo):
            continue
        if record.get("isP2p") and not include_p2p:
            continue
        if record["status"]["code"] != 0 and not include_failed:
            continue
        key = {
            None: "",
            "storage-group": group,
            "protocol": record.get("protocolInfo", {}).get("protocol"),
            "direction": record["isWrite"],
        }[by] or "(none)"
        for tally in (total, per_key[key]):
            tally[0] += record["transferSize"]
            tally[1] += 1
    return {
        "bytes": total[0],
        "transfers": total[1],
        "by": {k: {"bytes": b, "transfers": n} for k, (b, n) in per_key.items()} if by else {},
    }


def _encoded(records: list[dict]) -> list[bytes]:
    return [json.dumps(record).encode() for record in records]


@pytest.fixture(scope="module")
def billing_archive(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, list[dict]]:
    root = tmp_path_factory.mktemp("archive")
    records, older = billing_messages()
    broken = [b'{"msgType": "transfer", "date": ', b'{"msgType": "transfer"}']
    write_archive(root, "billing", [*_encoded(records), *broken], partition=0)
    write_archive(root, "billing", _encoded(older), partition=1)
    return root, records + older


def pool_snapshots() -> list[dict]:
    """pool-a every 6 h over two months' edge: in cms-disk, out of it, back (listed in
    another order and once with a repeat); pool-b and pool-a2 beside it."""
    start = datetime(2019, 5, 28, tzinfo=UTC)
    snapshots = []
    for step in range(60):
        moment = start + timedelta(hours=6 * step)
        if moment < datetime(2019, 6, 2, tzinfo=UTC):
            groups = ["cms-disk", "all"]
        elif moment < datetime(2019, 6, 5, 12, tzinfo=UTC):
            groups = ["all"]
        else:
            groups = ["all", "cms-disk"] if step % 2 else ["all", "cms-disk", "all"]
        stamp = moment.isoformat().replace("+00:00", "Z")
        snapshots.append({"@timestamp": stamp, "pool": "pool-a", "groups": groups})
        snapshots.append({"@timestamp": stamp, "pool": "pool-b", "groups": ["atlas"]})
        snapshots.append({"@timestamp": stamp, "pool": "pool-a2", "groups": ["other"]})
    return snapshots


def expected_history(snapshots: list[dict], pool: str) -> list[dict[str, Any]]:
    runs: list[dict[str, Any]] = []
    mine = sorted(
        (s["@timestamp"], sorted(set(s["groups"]))) for s in snapshots if s["pool"] == pool
    )
    for stamp, groups in mine:
        if runs and runs[-1]["groups"] == groups:
            runs[-1]["last_seen"] = stamp
            runs[-1]["snapshots"] += 1
        else:
            runs.append({"first_seen": stamp, "last_seen": stamp, "groups": groups, "snapshots": 1})
    return runs


@pytest.fixture(scope="module")
def pool_archive(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, list[dict]]:
    root = tmp_path_factory.mktemp("archive")
    snapshots = pool_snapshots()
    write_archive(root, "poolinfo", _encoded(snapshots), topic="dcache-poolinfo")
    return root, snapshots


def _java_env() -> dict[str, str]:
    env = dict(os.environ)
    env.setdefault("JAVA_HOME", str(find_jdk(17, "Apache Spark").home))
    env.setdefault("SPARK_LOCAL_IP", "127.0.0.1")  # driver, master and worker on loopback
    return env


@pytest.fixture(scope="module")
def spark() -> Iterator[SparkSession]:
    os.environ.update(_java_env())
    session = open_session("local[2]", SMALL, "esbridge-tests")
    yield session
    session.stop()


def _as_expected(result: Any) -> dict[str, Any]:
    found = billing_json(result)
    return {key: found[key] for key in ("bytes", "transfers", "by")}


@pytest.mark.parametrize(
    ("vo", "by", "include_p2p", "include_failed"),
    [
        ("cms", "storage-group", False, False),
        (None, "protocol", False, False),
        ("atlas", "direction", True, True),
        (None, None, True, False),
    ],
)
def test_billing_volume_matches_the_sums_over_the_raw_messages(
    spark: SparkSession,
    billing_archive: tuple[Path, list[dict]],
    vo: str | None,
    by: Dimension | None,
    include_p2p: bool,
    include_failed: bool,
) -> None:
    root, records = billing_archive
    query = BillingQuery(JUNE, vo, by, include_p2p, include_failed)
    expected = expected_billing(records, vo, by, include_p2p, include_failed)
    assert expected["transfers"] > 10
    assert _as_expected(billing_volume(spark, str(root), query)) == expected


def test_requests_p2p_and_failures_are_what_the_defaults_leave_out(
    spark: SparkSession, billing_archive: tuple[Path, list[dict]]
) -> None:
    root, records = billing_archive
    counted_by_default = billing_volume(spark, str(root), BillingQuery(JUNE)).total
    everything = billing_volume(spark, str(root), BillingQuery(JUNE, None, None, True, True)).total
    assert counted_by_default.transfers < everything.transfers
    june_messages = [
        r for r in records if datetime.fromisoformat(r["date"]).astimezone(UTC).month == 6
    ]
    assert everything.transfers < len(june_messages)  # the doors' requests never count


def test_only_the_months_own_folders_are_read(
    spark: SparkSession, billing_archive: tuple[Path, list[dict]]
) -> None:
    root, _ = billing_archive
    assert (root / "billing" / "year=2019" / "month=07").is_dir()
    assert (root / "billing" / "year=2019" / "month=05").is_dir()
    files = counted(spark, str(root), BillingQuery(JUNE, "cms")).inputFiles()
    assert files
    assert all("/billing/year=2019/month=06/day=" in name for name in files)


def test_a_column_no_file_has_yet_reads_as_null(spark: SparkSession, tmp_path: Path) -> None:
    rng = random.Random(7)
    records = [
        _transfer(datetime(2019, 6, 3, tzinfo=UTC), UTC, rng, storageInfo="cms:raw@osm")
        for _ in range(5)
    ]
    for record in records:
        del record["isP2p"]
    write_archive(tmp_path, "billing", _encoded(records))
    result = billing_volume(spark, str(tmp_path), BillingQuery(JUNE, "cms", None, False, True))
    assert (result.total.bytes, result.total.transfers) == (
        sum(r["transferSize"] for r in records),
        5,
    )


def test_a_month_without_archive_is_an_error_naming_the_folder(
    spark: SparkSession, billing_archive: tuple[Path, list[dict]]
) -> None:
    root, _ = billing_archive
    with pytest.raises(EsbridgeError, match=r"billing/year=2018/month=01"):
        billing_volume(spark, str(root), BillingQuery(Month(2018, 1)))


def test_pool_history_lists_the_periods_of_constant_groups(
    spark: SparkSession, pool_archive: tuple[Path, list[dict]]
) -> None:
    root, snapshots = pool_archive
    found = [
        {
            "first_seen": i.first_seen.isoformat().replace("+00:00", "Z"),
            "last_seen": i.last_seen.isoformat().replace("+00:00", "Z"),
            "groups": list(i.groups),
            "snapshots": i.snapshots,
        }
        for i in pool_history(spark, str(root), "pool-a")
    ]
    expected = expected_history(snapshots, "pool-a")
    assert [run["groups"] for run in expected] == [
        ["all", "cms-disk"],
        ["all"],
        ["all", "cms-disk"],
    ]
    assert found == expected


def test_pool_history_of_an_unknown_pool_is_empty(
    spark: SparkSession, pool_archive: tuple[Path, list[dict]]
) -> None:
    root, _ = pool_archive
    assert pool_history(spark, str(root), "pool") == []


def _cli(*args: str, master: str = "local[2]") -> dict[str, Any]:
    conf = [f"--conf={key}={value}" for key, value in SMALL.items()]
    done = subprocess.run(
        [
            sys.executable,
            "-m",
            "esbridge",
            "analyze",
            *args,
            "--master",
            master,
            *conf,
            "--json",
        ],
        capture_output=True,
        text=True,
        env=_java_env(),
        timeout=300,
        check=False,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    return json.loads(done.stdout)


def test_cli_billing_volume_prints_the_months_total_as_one_json_object(
    billing_archive: tuple[Path, list[dict]],
) -> None:
    root, records = billing_archive
    found = _cli(
        "billing-volume",
        "--archive",
        str(root),
        "--month",
        "2019-06",
        "--vo",
        "cms",
        "--by",
        "storage-group",
    )
    expected = expected_billing(records, "cms", "storage-group")
    assert found["month"] == "2019-06"
    assert found["vo"] == "cms"
    assert {key: found[key] for key in ("bytes", "transfers", "by")} == expected


def test_cli_pool_history_prints_the_periods_as_json(pool_archive: tuple[Path, list[dict]]) -> None:
    root, snapshots = pool_archive
    found = _cli("pool-history", "--archive", str(root), "--pool", "pool-a")
    expected = expected_history(snapshots, "pool-a")
    for run in expected:
        for key in ("first_seen", "last_seen"):
            run[key] = run[key].replace("Z", ".000Z")
    assert found == {"pool": "pool-a", "intervals": expected}


def test_the_same_job_runs_unchanged_on_a_standalone_cluster_master(
    tmp_path: Path, billing_archive: tuple[Path, list[dict]]
) -> None:
    root, records = billing_archive
    with standalone_cluster(tmp_path, _java_env()) as cluster:
        found = _cli(
            *("billing-volume", "--archive", str(root), "--month", "2019-06", "--by", "direction"),
            master=cluster.master,
        )
        assert "Asked to launch executor" in cluster.worker_log.read_text()
    expected = expected_billing(records, None, "direction")
    assert {key: found[key] for key in ("bytes", "transfers", "by")} == expected


def _children(pid: int) -> list[int]:
    found = []
    for task in Path(f"/proc/{pid}/task").iterdir():
        found += [int(child) for child in (task / "children").read_text().split()]
    return found


def test_sigterm_stops_spark_and_exits_with_one_line(
    billing_archive: tuple[Path, list[dict]],
) -> None:
    root, _ = billing_archive
    command = [sys.executable, "-m", "esbridge", "analyze", "billing-volume"]
    command += [
        "--archive",
        str(root),
        "--month",
        "2019-06",
        "--json",
        "--conf=spark.ui.enabled=false",
    ]
    running = subprocess.Popen(
        command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=_java_env()
    )
    try:
        jvms = wait_until(
            lambda: _children(running.pid), lambda found: bool(found) or running.poll() is not None
        )
        assert jvms and running.poll() is None, "the command ended before Spark's JVM started"
        time.sleep(1)  # the JVM is starting: seconds before any answer could exist
        running.send_signal(signal.SIGTERM)
        out, err = running.communicate(timeout=120)
    finally:
        running.kill()
    assert running.returncode == 1
    assert out == ""
    assert (
        "Error: analyze billing-volume: stopped by SIGTERM before it finished" in err.splitlines()
    )
    assert "Traceback" not in err
    alive = wait_until(
        lambda: [jvm for jvm in jvms if Path(f"/proc/{jvm}").exists()], lambda left: not left, 60
    )
    assert alive == [], "Spark's JVM outlived the command"


@pytest.fixture(scope="module")
def archived_by_esbridge(
    tmp_path_factory: pytest.TempPathFactory, kafka_bootstrap: str, es_url: str
) -> Iterator[tuple[Path, list[dict]]]:
    """The same month, produced to Kafka and archived by `esbridge archive` itself."""
    directory = tmp_path_factory.mktemp("real-archive")
    root = directory / "archive"
    extra = f"archive:\n  root: {root}\n  roll_interval: 1s\n  group_id: {{site}}-archive\n"
    site = make_site(directory, kafka_bootstrap, es_url, extra)
    records, older = billing_messages()
    site.produce("billing", _encoded([*records, *older]))
    done = subprocess.run(
        [sys.executable, "-m", "esbridge", "archive", "-c", str(site.config_path),
         "--idle-exit", "3"],
        capture_output=True, timeout=300, check=False,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr.decode()[-2000:]
    yield root, records + older
    remove_site(site)


@pytest.mark.parametrize(("vo", "by"), [("cms", "storage-group"), (None, "protocol")])
def test_billing_volume_over_an_archive_esbridge_archive_wrote(
    spark: SparkSession,
    archived_by_esbridge: tuple[Path, list[dict]],
    vo: str | None,
    by: Dimension | None,
) -> None:
    root, records = archived_by_esbridge
    expected = expected_billing(records, vo, by, False, False)
    assert expected["transfers"] > 10
    query = BillingQuery(JUNE, vo, by, False, False)
    assert _as_expected(billing_volume(spark, str(root), query)) == expected
