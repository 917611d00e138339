"""More of `esbridge watch` against the real Elasticsearch, Kafka, SMTP (aiosmtpd) and HTTP.

Simulated incidents, staleness, permanent issues, the webhook channel, rule actions, the
long-running watcher's SIGTERM and the `issues list` filters.
"""

from __future__ import annotations

import json
import signal
import subprocess
import sys
import threading
from collections import Counter
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner

from esbridge.cli import main
from esbridge.simulate import generate, generate_incidents
from tests.helpers.sites import Site
from tests.helpers.watching import (
    T0,
    Mailbox,
    feed,
    issues,
    log_line,
    rules,
    seconds,
    snapshot,
    watch_section,
    watcher,
)

pytestmark = pytest.mark.integration

POOL = "dcache-xfel497-01"
DISABLED = "Pool mode changed to disabled(): Operator intervention"


def cli(site: Site, *args: str) -> str:
    result = CliRunner().invoke(main, [*args, "-c", str(site.config_path)], catch_exceptions=False)
    assert result.exit_code == 0, result.output
    return result.output


# 1. The simulator's incidents ------------------------------------------------------------


def test_simulated_incidents_give_one_pool_disabled_issue_per_pool_and_one_row_each(
    sites: Any, mailbox: tuple[Mailbox, int]
) -> None:
    count, seed = 1500, 2
    site = sites(watch_section(mailbox[1], since="30d", stale_after="30d", finalize_after="1h"))
    planned = generate_incidents(count, kind="logs", seed=seed, start=T0)
    expected: dict[str, bool] = {}
    for incident in sorted(planned, key=lambda i: i.time):
        expected[incident.pool] = incident.resolved  # the last incident on a pool decides
    assert set(expected.values()) == {True, False}, "the seed gives both outcomes"
    feed(site, list(generate("logs", count, seed=seed, incidents=True, start=T0)))

    end = max(line.time for incident in planned for line in incident.lines)
    run = watcher(site)
    reports = [run.run_cycle(end + seconds(1)), run.run_cycle(end + seconds(120))]

    found = {
        doc["subject"]["name"]: doc["status"]
        for doc in issues(site).values()
        if doc["type"] == "PoolDisabled"
    }
    assert found == {
        pool: "resolved" if resolved else "unresolved" for pool, resolved in expected.items()
    }
    rows = [
        row
        for report in reports
        if report.digest is not None and not report.error
        for row in report.digest.rows
        if row.type == "PoolDisabled"
    ]
    assert Counter(row.subject for row in rows) == Counter(
        pool for pool, resolved in expected.items() if not resolved
    ), "each pool still disabled is mailed once; a resolved one never was a problem mailed"
    assert all(row.status == "unresolved" for row in rows)
    mailed = sum(report.digest is not None and not report.error for report in reports)
    assert len(mailbox[0].messages) == mailed >= 1
    text = "\n".join(mailbox[0].texts())
    assert sum("PoolDisabled" in line for line in text.splitlines()) == len(rows)


# 2. Stale and permanent issues -----------------------------------------------------------

PERMANENT = rules(
    """
- name: repository-corrupt
  type: RepositoryCorrupt
  producer: logs
  status_class: permanent
  match:
    phrase: Repository is corrupt
  subject:
    field: dcache.cell
"""
)


def test_an_old_issue_goes_stale_once_and_a_permanent_one_waits_for_a_person(
    sites: Any, mailbox: tuple[Mailbox, int]
) -> None:
    box = mailbox[0]
    site = sites(watch_section(mailbox[1]) + PERMANENT)
    other = "dcache-xfel498-01"
    feed(site, [log_line(T0, POOL, DISABLED), log_line(T0, other, "Repository is corrupt: meta")])
    run = watcher(site)
    stale_id, permanent_id = f"pool-disabled:{POOL}", f"repository-corrupt:{other}"

    run.run_cycle(T0 + seconds(10))
    assert issues(site)[permanent_id]["status"] == "permanent"
    first = run.run_cycle(T0 + seconds(70))
    assert sorted(first.notified) == sorted([permanent_id, stale_id])
    assert len(box.messages) == 1

    day = run.run_cycle(T0 + timedelta(days=1, seconds=1))
    assert day.notified == [stale_id]
    assert issues(site)[stale_id]["status"] == "stale"
    assert issues(site)[stale_id]["stale_at"] is not None
    assert len(box.messages) == 2
    row = next(line for line in box.texts()[1].splitlines() if "PoolDisabled" in line)
    assert "stale" in row
    assert "RepositoryCorrupt" not in box.texts()[1]

    for later in (2, 30, 400):
        report = run.run_cycle(T0 + timedelta(days=later))
        assert report.deleted == [] and report.notified == []
    assert len(box.messages) == 2, "stale is mailed once"
    assert issues(site)[permanent_id]["status"] == "permanent"
    assert issues(site)[stale_id]["status"] == "stale", "only a person or a resolution moves it"

    kept = cli(site, "issues", "prune", "--older-than", "1d", "--yes")
    assert "deleted 1 issues" in kept, "the default prune takes stale issues only"
    assert set(issues(site)) == {permanent_id}
    cli(site, "issues", "set-status", permanent_id, "resolved", "--by", "alice")
    assert issues(site)[permanent_id]["history"][-1]["by"] == "alice"
    pruned = cli(site, "issues", "prune", "--status", "resolved", "--older-than", "1d", "--yes")
    assert "deleted 1 issues" in pruned
    assert issues(site) == {}


# 3. Webhook and SMTP together ------------------------------------------------------------


class Hook:
    def __init__(self) -> None:
        self.status = 204
        self.bodies: list[dict[str, Any]] = []


@pytest.fixture
def hook() -> Iterator[tuple[Hook, str]]:
    recorded = Hook()

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            body = self.rfile.read(int(self.headers["Content-Length"]))
            recorded.bodies.append(json.loads(body))
            self.send_response(recorded.status)
            self.send_header("Content-Length", "0")
            self.end_headers()

        def log_message(self, format: str, *args: object) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield recorded, f"http://127.0.0.1:{server.server_address[1]}/digest"
    finally:
        server.shutdown()
        server.server_close()
        thread.join()


def with_webhook(section: str, url: str) -> str:
    return section.replace("\nwatch:\n", f"\n  webhook:\n    url: {url}\n    timeout: 5s\nwatch:\n")


def test_smtp_and_webhook_get_the_same_issues_and_a_failing_webhook_retries_both(
    sites: Any, mailbox: tuple[Mailbox, int], hook: tuple[Hook, str]
) -> None:
    box, (server, url) = mailbox[0], hook
    site = sites(with_webhook(watch_section(mailbox[1]), url))
    assert site.config.notifications is not None and site.config.notifications.webhook
    pools = [POOL, "dcache-xfel498-01"]
    feed(site, [log_line(T0, pool, DISABLED) for pool in pools])
    run = watcher(site)
    both = run.run_cycle(T0 + seconds(70))
    assert sorted(both.notified) == sorted(f"pool-disabled:{p}" for p in pools)
    assert len(box.messages) == 1 and len(server.bodies) == 1
    posted = server.bodies[0]
    assert sorted(row["subject"] for row in posted["issues"]) == sorted(pools)
    assert posted["subject"] == str(box.messages[0]["Subject"])
    assert all(f"{pool}Domain" in box.texts()[0] for pool in pools)

    server.status = 500
    feed(site, [log_line(T0 + seconds(100), "dcache-xfel499-01", DISABLED)])
    failed = run.run_cycle(T0 + seconds(170))
    assert failed.error is not None and "500" in failed.error
    assert failed.notified == []
    assert issues(site)["pool-disabled:dcache-xfel499-01"]["notified_at"] is None
    assert len(box.messages) == 2, "the working channel got it"
    assert len(server.bodies) == 2

    server.status = 204
    retried = run.run_cycle(T0 + seconds(180))
    assert retried.notified == ["pool-disabled:dcache-xfel499-01"]
    # By design (esbridge.notify.dispatch): the whole digest is retried, so SMTP gets it twice.
    assert len(box.messages) == 3
    rows = [[line for line in text.splitlines() if "PoolDisabled" in line] for text in box.texts()]
    assert rows[1] == rows[2] and len(rows[2]) == 1 and "dcache-xfel499-01Domain" in rows[2][0]
    assert [row["subject"] for row in server.bodies[2]["issues"]] == ["dcache-xfel499-01"]
    assert issues(site)["pool-disabled:dcache-xfel499-01"]["notified_at"] is not None
    assert run.run_cycle(T0 + seconds(190)).notified == []
    assert len(box.messages) == 3 and len(server.bodies) == 3


# 4. A rule action ------------------------------------------------------------------------


def test_a_rule_action_runs_once_is_recorded_and_is_rate_limited(
    sites: Any, mailbox: tuple[Mailbox, int], tmp_path: Path
) -> None:
    out = tmp_path / "acted.txt"
    script = "import sys, pathlib; pathlib.Path(sys.argv[1]).write_text(sys.argv[2])"
    command = json.dumps([sys.executable, "-c", script, str(out), "{pool}"])
    site = sites(
        watch_section(mailbox[1])
        + rules(
            f"""
- name: repository-corrupt
  type: RepositoryCorrupt
  producer: logs
  match:
    phrase: Repository corrupt
  resolve:
    regex: enabled
    field: dcache.pool.mode
  action:
    command: {command}
    rate_limit: 1h
"""
        )
    )
    key = f"repository-corrupt:{POOL}"
    corrupt = "Pool mode changed to disabled(): Repository corrupt"
    feed(site, [log_line(T0, POOL, corrupt)])
    run = watcher(site)
    assert run.run_cycle(T0 + seconds(10)).actions == []
    first = run.run_cycle(T0 + seconds(70))
    assert key in first.notified
    assert [(k, r.ran, r.exit_code) for k, r in first.actions] == [(key, True, 0)]
    assert out.read_text() == POOL
    entries = [h for h in issues(site)[key]["history"] if h["action"]]
    assert [e["action"] for e in entries] == ["started", "ended"]
    assert "exit 0" in entries[1]["reason"]

    out.unlink()
    feed(site, [log_line(T0 + seconds(80), POOL, "Pool mode changed to enabled")])
    run.run_cycle(T0 + seconds(90))
    feed(site, [log_line(T0 + seconds(200), POOL, corrupt)])
    again = run.run_cycle(T0 + seconds(300))
    assert key in again.notified, "re-opened and mailed again"
    assert [(k, r.ran) for k, r in again.actions] == [(key, False)]
    assert not out.exists(), "within rate_limit the action does not run again"
    entries = [h for h in issues(site)[key]["history"] if h["action"]]
    assert len(entries) == 2


# 5. The long-running watcher -------------------------------------------------------------


def test_watch_loop_stops_cleanly_on_sigterm(sites: Any, mailbox: tuple[Mailbox, int]) -> None:
    site = sites(watch_section(mailbox[1]))
    command = [sys.executable, "-m", "esbridge", "watch", "-c", str(site.config_path)]
    process = subprocess.Popen(command, stderr=subprocess.PIPE, text=True)
    guard = threading.Timer(120, process.kill)
    guard.start()
    try:
        assert process.stderr is not None
        seen = []
        for line in process.stderr:
            seen.append(line)
            if "watch cycle:" in line:
                break
        assert any("watch cycle:" in line for line in seen), "".join(seen)
        process.send_signal(signal.SIGTERM)
        rest = process.stderr.read()
        assert process.wait() == 0, rest
    finally:
        guard.cancel()
        if process.poll() is None:
            process.kill()
            process.wait()
    assert "stopping after this cycle" in rest
    assert "Traceback" not in rest


# 6. `issues list` filters ----------------------------------------------------------------


def test_issues_list_filters_by_group_and_age(sites: Any, mailbox: tuple[Mailbox, int]) -> None:
    site = sites(watch_section(mailbox[1], since="800d", stale_after="900d"))
    now = datetime.now(UTC).replace(microsecond=0)
    recent = now - timedelta(minutes=5)
    cms = "cms-pool017"
    feed(
        site,
        [log_line(T0, POOL, DISABLED), log_line(recent, cms, DISABLED)],
        (
            snapshot(T0 - seconds(30), POOL, ["xfel", "xfel-raw"], "xfel497"),
            snapshot(recent - seconds(30), cms, ["cms"], "cms-host"),
        ),
    )
    site.count(site.index("poolinfo"))
    watcher(site).run_cycle(now)
    old_id, new_id = f"pool-disabled:{POOL}", f"pool-disabled:{cms}"
    assert {old_id, new_id} <= set(issues(site))

    def ids(*args: str) -> list[str]:
        return [i["id"] for i in json.loads(cli(site, "issues", "list", "--json", *args))]

    assert ids("--group", "xfel-raw") == [old_id]
    assert ids("--group", "cms") == [new_id]
    assert sorted(ids("--group", "cms", "--group", "xfel")) == sorted([old_id, new_id])
    assert ids("--group", "nosuch") == []
    assert ids("--older-than", "1h") == [old_id]
    assert sorted(ids("--older-than", "1m")) == sorted([old_id, new_id])
    assert ids("--older-than", "1000d") == []
    assert ids("--group", "cms", "--older-than", "1h") == []
    table = cli(site, "issues", "list", "--group", "xfel")
    assert old_id in table and new_id not in table
    assert "1 issues" in table
