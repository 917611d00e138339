"""`esbridge issues`: review, correct and prune what the watcher keeps in the issues index."""

from __future__ import annotations

import getpass
import json
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import click

from esbridge.cli.durations import DURATION
from esbridge.cli.options import config_option, read_config
from esbridge.cluster import connect
from esbridge.errors import UsageError
from esbridge.notify.digest import COLUMNS
from esbridge.watch.engine import issue_row
from esbridge.watch.lifecycle import STATUSES, Issue, Status, set_status
from esbridge.watch.store import REMOVE, IssueStore, Record, Remove

STATUS_CHOICE = click.Choice(STATUSES)


def _store(config_path: Path) -> IssueStore:
    config = read_config(config_path)
    if config.watch is None:
        raise UsageError(f"{config_path} has no watch: section")
    return IssueStore(connect(config.elasticsearch), config.watch.issues_index)


def _cutoff(older_than: float | None) -> datetime | None:
    return None if older_than is None else datetime.now(UTC) - timedelta(seconds=older_than)


def _doc(issue: Issue) -> dict[str, Any]:
    return {"id": issue.id, **issue.to_doc()}


def _table(issues: list[Issue]) -> str:
    """The digest's columns plus the id, one line per issue, most recent first."""
    lines: list[tuple[str, ...]] = [("ID", *COLUMNS)]
    lines += [(i.id, *issue_row(i).cells()) for i in issues]
    widths = [max(len(line[n]) for line in lines) for n in range(len(lines[0]))]
    text = [
        "  ".join(cell.ljust(w) for cell, w in zip(line, widths, strict=True)).rstrip()
        for line in lines
    ]
    text.insert(1, "  ".join("-" * w for w in widths))
    return "\n".join(text)


@click.group()
def issues() -> None:
    """List, show, set the status of, and prune the watcher's issues."""


@issues.command("list")
@config_option
@click.option("--status", "statuses", type=STATUS_CHOICE, multiple=True, help="Repeatable.")
@click.option("--type", "types", multiple=True, help="Error type, e.g. PoolDisabled; repeatable.")
@click.option("--group", "groups", multiple=True, help="Pool group; repeatable.")
@click.option("--older-than", type=DURATION, help="Not seen for this long, e.g. 30d.")
@click.option("--json", "as_json", is_flag=True, help="Print a JSON array of issue objects.")
def list_issues(
    config_path: Path,
    statuses: tuple[str, ...],
    types: tuple[str, ...],
    groups: tuple[str, ...],
    older_than: float | None,
    as_json: bool,
) -> None:
    """Issues matching every filter given, as a table like the digest's."""
    found = _store(config_path).search(
        statuses=statuses, types=types, groups=groups, last_seen_before=_cutoff(older_than)
    )
    chosen = sorted((r.issue for r in found), key=lambda i: i.last_seen, reverse=True)
    if as_json:
        click.echo(json.dumps([_doc(i) for i in chosen], indent=2))
        return
    click.echo(_table(chosen))
    click.echo(f"{len(chosen)} issues")


@issues.command()
@config_option
@click.argument("issue_id")
@click.option("--json", "as_json", is_flag=True, help="Print the issue object as JSON.")
def show(config_path: Path, issue_id: str, as_json: bool) -> None:
    """One issue with its whole history."""
    found = _store(config_path).get(issue_id)
    if found is None:
        raise click.ClickException(f"no issue {issue_id}")
    issue = found.record.issue
    if as_json:
        click.echo(json.dumps(_doc(issue), indent=2))
        return
    for key, value in _doc(issue).items():
        if key not in ("history", "recent", "subject"):
            click.echo(f"{key:<16} {value}")
    for key, value in issue.to_doc()["subject"].items():
        click.echo(f"subject.{key:<8} {value}")
    click.echo("history:")
    for step in issue.history:
        who = f" by {step.by}" if step.by else ""
        click.echo(
            f"  {step.at:%Y-%m-%d %H:%M:%S} {step.from_status} -> {step.to}{who}: {step.reason}"
        )


@issues.command("set-status")
@config_option
@click.argument("issue_id")
@click.argument("status", type=STATUS_CHOICE)
@click.option("--by", default=getpass.getuser, help="Who decided [default: your user name].")
def set_status_command(config_path: Path, issue_id: str, status: Status, by: str) -> None:
    """Set an issue's status by hand (recorded in its history as yours)."""
    now = datetime.now(UTC)

    def change(current: Record | None) -> Record | None:
        if current is None:
            return None
        return replace(current, issue=set_status(current.issue, status, by, now))

    if _store(config_path).update(issue_id, change) is None:
        raise click.ClickException(f"no issue {issue_id}")
    click.echo(f"{issue_id}: {status}")


@issues.command()
@config_option
@click.option(
    "--status", "statuses", type=STATUS_CHOICE, multiple=True, default=("stale",), show_default=True
)
@click.option(
    "--older-than", type=DURATION, default="30d", show_default=True, help="Not seen for this long."
)
@click.option("--dry-run", is_flag=True, help="List what would be deleted.")
@click.option("--yes", is_flag=True, help="Do not ask for confirmation.")
def prune(
    config_path: Path, statuses: tuple[str, ...], older_than: float, dry_run: bool, yes: bool
) -> None:
    """Delete issues in these statuses not seen for this long (stale ones for 30 days)."""
    store = _store(config_path)
    cutoff = datetime.now(UTC) - timedelta(seconds=older_than)
    found = [r.issue for r in store.search(statuses=statuses, last_seen_before=cutoff)]
    click.echo(_table(found))
    if dry_run:
        click.echo(f"would delete {len(found)} issues")
        return
    if not found:
        click.echo("deleted 0 issues")
        return
    if not yes:
        click.confirm(f"Delete these {len(found)} issues?", abort=True)

    def still_matches(current: Record | None) -> Remove | None:
        # Re-checked on the latest version: an issue seen again meanwhile is kept.
        if (
            current is None
            or current.issue.status not in statuses
            or current.issue.last_seen >= cutoff
        ):
            return None
        return REMOVE

    deleted = sum(store.update(issue.id, still_matches) is None for issue in found)
    click.echo(f"deleted {deleted} issues")
