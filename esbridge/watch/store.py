"""The issues index: one document per issue, written only with optimistic concurrency.

Every write names the `_seq_no`/`_primary_term` it read (or is a `create`), so two watchers, or
a watcher restarted mid-cycle, cannot both apply a transition: the loser gets a 409, re-reads and
re-applies its (idempotent) change to what the winner wrote. `update` is that loop.

Beside the issue, each document holds the watcher's bookkeeping (`watcher`): the claim on its
pending notification and when its action last ran. The per-rule checkpoints live in the same
index as `checkpoint:<rule>` documents; issue searches skip them (they have no `status`).

With `dry_run`, writes go to an in-memory overlay instead: a cycle then sees its own changes,
and the index is left as it was.

Gets, `op_type=create`, `if_seq_no`/`if_primary_term` and their 409s are the same on
Elasticsearch 8/9 and OpenSearch 2/3; `SearchCluster` sends them as plain JSON to each.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, replace
from datetime import datetime
from typing import Any, Final

from esbridge.cluster.errors import ConflictError, NotFoundError
from esbridge.cluster.search import SearchCluster
from esbridge.utc import format_utc, parse_utc
from esbridge.watch.lifecycle import Issue

MAX_ATTEMPTS = 20
"""Conflicts in a row before `update` gives up: only a pathological fight gets there."""

PAGE = 1000


class IssueConflictError(Exception):
    """The document changed since it was read (HTTP 409), or was created meanwhile."""


class Remove:
    """The marker an `update` function returns to delete the issue."""


REMOVE: Final = Remove()


@dataclass(frozen=True)
class Record:
    """An issue with the watcher's bookkeeping: who claimed its notification, until when, and
    when its rule's action last ran for it."""

    issue: Issue
    claim_token: str | None = None
    claim_until: datetime | None = None
    action_at: datetime | None = None

    def claimed_by_other(self, token: str, now: datetime) -> bool:
        """Whether another watcher holds an unexpired claim on this issue's notification."""
        until = self.claim_until
        return self.claim_token not in (None, token) and until is not None and until > now

    def released(self) -> Record:
        """This record without a claim."""
        return replace(self, claim_token=None, claim_until=None)


@dataclass(frozen=True)
class Versioned:
    """A record as read, with the version a conditional write must name."""

    record: Record
    seq_no: int
    primary_term: int


Change = Callable[[Record | None], "Record | Remove | None"]
"""What `update` applies: the new record, `REMOVE`, or None to leave the issue as it is."""


class IssueStore:
    """Reads and conditional writes of issues and checkpoints in one plain index."""

    def __init__(self, cluster: SearchCluster, index: str, *, dry_run: bool = False) -> None:
        self.cluster = cluster
        self.index = index
        self.dry_run = dry_run
        self._overlay: dict[str, Versioned | None] = {}
        self._checkpoints: dict[str, datetime] = {}

    def get(self, issue_id: str) -> Versioned | None:
        """The issue and its version; real-time, so a write just made is seen at once."""
        if issue_id in self._overlay:
            return self._overlay[issue_id]
        found = self.cluster.get(self.index, issue_id)
        if found is None:
            return None
        return Versioned(_record(found.source), found.seq_no, found.primary_term)

    def create(self, record: Record) -> None:
        """Store a new issue; IssueConflictError if it exists (another watcher created it first)."""
        issue_id = record.issue.id
        if self.dry_run:
            if self.get(issue_id) is not None:
                raise IssueConflictError(issue_id)
            self._overlay[issue_id] = Versioned(record, 0, 0)
            return
        try:
            self.cluster.create(self.index, issue_id, _doc(record))
        except ConflictError:
            raise IssueConflictError(issue_id) from None

    def replace(self, record: Record, seq_no: int, primary_term: int) -> None:
        """Overwrite the issue if it is still at this version; IssueConflictError otherwise."""
        issue_id = record.issue.id
        if self.dry_run:
            self._overlay[issue_id] = Versioned(record, seq_no + 1, primary_term)
            return
        try:
            self.cluster.index(
                self.index,
                _doc(record),
                doc_id=issue_id,
                if_seq_no=seq_no,
                if_primary_term=primary_term,
            )
        except (ConflictError, NotFoundError):
            raise IssueConflictError(issue_id) from None

    def delete(self, issue_id: str, seq_no: int, primary_term: int) -> None:
        """Delete the issue if it is still at this version; IssueConflictError otherwise."""
        if self.dry_run:
            self._overlay[issue_id] = None
            return
        try:
            self.cluster.delete(
                self.index, issue_id, if_seq_no=seq_no, if_primary_term=primary_term
            )
        except (ConflictError, NotFoundError):
            raise IssueConflictError(issue_id) from None

    def update(self, issue_id: str, change: Change) -> Record | None:
        """Apply `change` to the stored issue until a write wins; the record now stored.

        `change` may run several times (once per conflict), each time on the latest version,
        so it must be a pure function of what it is given.
        """
        for _ in range(MAX_ATTEMPTS):
            current = self.get(issue_id)
            record = None if current is None else current.record
            wanted = change(record)
            if wanted is None or wanted == record:
                return record
            try:
                if isinstance(wanted, Remove):
                    if current is not None:
                        self.delete(issue_id, current.seq_no, current.primary_term)
                    return None
                if current is None:
                    self.create(wanted)
                else:
                    self.replace(wanted, current.seq_no, current.primary_term)
            except IssueConflictError:
                continue
            return wanted
        raise IssueConflictError(f"{issue_id}: still conflicting after {MAX_ATTEMPTS} attempts")

    def search(
        self,
        *,
        statuses: tuple[str, ...] = (),
        types: tuple[str, ...] = (),
        groups: tuple[str, ...] = (),
        last_seen_before: datetime | None = None,
    ) -> list[Record]:
        """Issues matching every filter given, by rule and subject; refreshes first."""
        records = {
            r.issue.id: r for r in self._search_index(statuses, types, groups, last_seen_before)
        }
        for issue_id, versioned in self._overlay.items():
            records.pop(issue_id, None)
            if versioned is not None:
                records[issue_id] = versioned.record
        return sorted(
            (
                r
                for r in records.values()
                if _keep(r.issue, statuses, types, groups, last_seen_before)
            ),
            key=lambda r: (r.issue.rule, r.issue.subject.name),
        )

    def checkpoint(self, rule: str) -> datetime | None:
        """Where the last evaluation of `rule` ended, if it ever ran."""
        if rule in self._checkpoints:
            return self._checkpoints[rule]
        found = self.cluster.get(self.index, f"checkpoint:{rule}")
        if found is None:
            return None
        return parse_utc(found.source["checkpoint"]["end"])

    def put_checkpoint(self, rule: str, end: datetime) -> None:
        """Move `rule`'s checkpoint to `end`; a plain overwrite, as a re-read window is harmless."""
        if self.dry_run:
            self._checkpoints[rule] = end
            return
        doc = {"checkpoint": {"rule": rule, "end": _iso(end)}}
        self.cluster.index(self.index, doc, doc_id=f"checkpoint:{rule}")

    def refresh(self) -> None:
        """Make every write so far visible to searches (gets see them anyway)."""
        try:
            self.cluster.refresh(self.index)
        except NotFoundError:  # no issue written yet
            return

    def _search_index(
        self,
        statuses: tuple[str, ...],
        types: tuple[str, ...],
        groups: tuple[str, ...],
        last_seen_before: datetime | None,
    ) -> Iterator[Record]:
        self.refresh()
        filters: list[dict[str, Any]] = [{"exists": {"field": "status"}}]
        for field, values in (
            ("status", statuses),
            ("type", types),
            ("subject.pool_groups", groups),
        ):
            if values:
                filters.append({"terms": {field: list(values)}})
        if last_seen_before is not None:
            filters.append({"range": {"last_seen": {"lt": _iso(last_seen_before)}}})
        after: list[Any] | None = None
        while True:
            body: dict[str, Any] = {
                "query": {"bool": {"filter": filters}},
                "sort": [{"rule": "asc"}, {"subject.name": "asc"}],
                "size": PAGE,
            }
            if after is not None:
                body["search_after"] = after
            try:
                page = self.cluster.search(self.index, body)
            except NotFoundError:  # no issue written yet
                return
            hits = page.get("hits", {}).get("hits", [])
            for hit in hits:
                yield _record(hit["_source"])
            if len(hits) < PAGE:
                return
            after = hits[-1]["sort"]


def _keep(
    issue: Issue,
    statuses: tuple[str, ...],
    types: tuple[str, ...],
    groups: tuple[str, ...],
    last_seen_before: datetime | None,
) -> bool:
    """The search's filters in Python, for records from the dry-run overlay."""
    return (
        (not statuses or issue.status in statuses)
        and (not types or issue.type in types)
        and (not groups or bool(set(groups) & set(issue.subject.pool_groups)))
        and (last_seen_before is None or issue.last_seen < last_seen_before)
    )


def _doc(record: Record) -> dict[str, Any]:
    watcher = {
        "claim_token": record.claim_token,
        "claim_until": _iso_or_none(record.claim_until),
        "action_at": _iso_or_none(record.action_at),
    }
    return {**record.issue.to_doc(), "watcher": watcher}


def _record(source: Mapping[str, Any]) -> Record:
    watcher = source.get("watcher") or {}
    return Record(
        issue=Issue.from_doc(dict(source)),
        claim_token=watcher.get("claim_token"),
        claim_until=_time_or_none(watcher.get("claim_until")),
        action_at=_time_or_none(watcher.get("action_at")),
    )


def _iso(moment: datetime) -> str:
    return format_utc(moment, "microseconds")


def _iso_or_none(moment: datetime | None) -> str | None:
    return None if moment is None else _iso(moment)


def _time_or_none(text: str | None) -> datetime | None:
    return None if text is None else parse_utc(text)
