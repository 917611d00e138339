"""`esbridge watch` and `esbridge issues` as an operator runs them, on the real clock."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta

import pytest
from click.testing import CliRunner

from esbridge.cli import main
from tests.helpers.sites import Site
from tests.helpers.watching import Mailbox, issues, log_line

pytestmark = pytest.mark.integration

POOL = "dcache-xfel497-01"
ISSUE = f"pool-disabled:{POOL}"


def run(site: Site, *args: str) -> str:
    result = CliRunner().invoke(main, [*args, "-c", str(site.config_path)], catch_exceptions=False)
    assert result.exit_code == 0, result.output
    return result.output


def test_watch_once_mails_the_issue_and_issues_commands_review_and_prune_it(
    watched: Site, mailbox: tuple[Mailbox, int]
) -> None:
    five_minutes_ago = datetime.now(UTC).replace(microsecond=0) - timedelta(minutes=5)
    line = log_line(
        five_minutes_ago, POOL, "Pool mode changed to disabled(): Operator intervention"
    )
    watched.produce("logs", [line])
    assert watched.ingest()[0] == 0
    watched.count(watched.index("logs"))

    preview = run(watched, "watch", "--dry-run")
    assert "1 new, 0 resolved, 1 open" in preview
    assert issues(watched) == {}, "a dry run writes nothing"
    assert mailbox[0].messages == []

    run(watched, "watch", "--once", "--since", "1h")
    assert len(mailbox[0].messages) == 1

    listed = json.loads(run(watched, "issues", "list", "--json"))
    assert [(i["id"], i["status"]) for i in listed] == [(ISSUE, "unresolved")]
    table = run(watched, "issues", "list", "--status", "unresolved")
    assert "Pool Domain" in table
    assert f"{ISSUE}  {POOL}Domain" in table
    assert json.loads(run(watched, "issues", "list", "--status", "stale", "--json")) == []

    run(watched, "issues", "set-status", ISSUE, "stale", "--by", "alice")
    shown = json.loads(run(watched, "issues", "show", ISSUE, "--json"))
    assert shown["status"] == "stale"
    assert shown["history"][-1]["by"] == "alice"

    kept = run(watched, "issues", "prune", "--older-than", "1h", "--yes")
    assert "deleted 0 issues" in kept
    pruned = run(watched, "issues", "prune", "--older-than", "1m", "--yes")
    assert "deleted 1 issues" in pruned
    assert json.loads(run(watched, "issues", "list", "--json")) == []
