"""The life of an issue as a pure state machine: no I/O, and every time is passed in.

An issue is one rule's problem with one subject (usually a pool). Its status is one of:

- `unresolved`: the problem persists; `resolved`: its resolving signature was seen;
- `stale`: unresolved for longer than `stale_after`, for a person to review;
- `finalized`: resolved for `finalize_after`, and deleted `delete_after` later;
- `temporary`: no resolving signature, so it counts as resolved `ttl` after its last occurrence;
- `oddity`: as temporary, but never mailed on its own (it rides along with a digest);
- `permanent`: never changed or deleted automatically;
- `no-delay`: as unresolved, but notified at once.

Occurrences and resolving signatures carry the log line's own time, so re-reading overlapping
windows, or reading them in another order, ends in the same state. Clock-driven steps (`tick`)
and notifications use the watcher's `now`. All times are timezone-aware. Every function returns a
new `Issue`, so the watcher can tell whether anything changed and write only then.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from typing import Any, Literal, get_args

from esbridge.config.watch import STATUS_CLASSES, StatusClass
from esbridge.utc import format_utc, parse_utc
from esbridge.watch.policy import RulePolicy

Status = Literal[
    "unresolved",
    "resolved",
    "stale",
    "finalized",
    "temporary",
    "oddity",
    "permanent",
    "no-delay",
]

STATUSES: tuple[Status, ...] = get_args(Status)

ActionEvent = Literal["started", "ended", "unknown"]
"""What a history entry says about the rule's action: it started, it ended (the reason holds its
outcome), or its outcome is unknown (it started and no end was ever recorded)."""

ACTION_EVENTS: tuple[ActionEvent, ...] = get_args(ActionEvent)

OPEN_STATUS: dict[StatusClass, Status] = {
    "normal": "unresolved",
    "temporary": "temporary",
    "oddity": "oddity",
    "permanent": "permanent",
    "no-delay": "no-delay",
}
"""The status a new (or re-opened) issue takes, by its rule's status class."""

_RESOLVABLE: frozenset[Status] = frozenset(
    {"unresolved", "stale", "no-delay", "temporary", "oddity"}
)
_MAILED_ALONE: frozenset[Status] = frozenset(
    {"unresolved", "stale", "temporary", "permanent", "no-delay"}
)
"""Problem statuses notified on their own: only after one of these is a resolution news."""

RECENT_KEYS = 64
"""Occurrence keys remembered per issue: more than one evaluation window's worth of repeats."""

HISTORY_MAX = 200
"""Transitions kept per issue, the latest; a pool that flaps for months must not grow it forever."""


@dataclass(frozen=True)
class Subject:
    """What an issue is about: `name` identifies it; the rest is context for people and actions."""

    name: str
    pool: str | None = None
    domain: str | None = None
    host: str | None = None
    pool_groups: tuple[str, ...] = ()


@dataclass(frozen=True)
class Occurrence:
    """One log line matching a rule (or its resolving signature), at the line's own time."""

    at: datetime
    message: str
    subject: Subject

    @property
    def key(self) -> str:
        """Time then a hash of the message: unique enough, and ordered by time as text."""
        digest = hashlib.blake2b(self.message.encode(), digest_size=8).hexdigest()
        return f"{_iso(self.at)} {digest}"


@dataclass(frozen=True)
class Transition:
    """One status change; `by` is the person who made it, None for the watcher.

    An entry about the rule's action keeps the status (`from_status == to`) and says which
    `action` event it records.
    """

    at: datetime
    from_status: Status | None
    to: Status
    reason: str
    by: str | None = None
    action: ActionEvent | None = None


@dataclass(frozen=True)
class Issue:
    """An issue, field for field the document kept in the issues index (`to_doc`).

    `opened_at` is when the current episode began: the first occurrence, or the one that
    re-opened a resolved issue, or a person's change; the notification delay and staleness
    count from it, so a pool restarted again next day waits out the delay again. `recent` holds
    the keys of the latest occurrences, so that re-read lines are not counted twice.
    """

    rule: str
    type: str
    subject: Subject
    status: Status
    status_class: StatusClass
    first_seen: datetime
    opened_at: datetime
    last_seen: datetime
    count: int
    latest_message: str
    notified_at: datetime | None = None
    notified_status: Status | None = None
    resolved_at: datetime | None = None
    finalized_at: datetime | None = None
    stale_at: datetime | None = None
    history: tuple[Transition, ...] = ()
    recent: tuple[str, ...] = ()

    @property
    def id(self) -> str:
        """The document id: one issue per rule and subject."""
        return issue_id(self.rule, self.subject.name)

    def to_doc(self) -> dict[str, Any]:
        """The Elasticsearch document: times as ISO-8601 UTC text, absent values as null."""
        return {
            "rule": self.rule,
            "type": self.type,
            "subject": {
                "name": self.subject.name,
                "pool": self.subject.pool,
                "domain": self.subject.domain,
                "host": self.subject.host,
                "pool_groups": list(self.subject.pool_groups),
            },
            "status": self.status,
            "status_class": self.status_class,
            "first_seen": _iso(self.first_seen),
            "opened_at": _iso(self.opened_at),
            "last_seen": _iso(self.last_seen),
            "count": self.count,
            "latest_message": self.latest_message,
            "notified_at": _iso_or_none(self.notified_at),
            "notified_status": self.notified_status,
            "resolved_at": _iso_or_none(self.resolved_at),
            "finalized_at": _iso_or_none(self.finalized_at),
            "stale_at": _iso_or_none(self.stale_at),
            "history": [
                {
                    "at": _iso(t.at),
                    "from": t.from_status,
                    "to": t.to,
                    "reason": t.reason,
                    "by": t.by,
                    "action": t.action,
                }
                for t in self.history
            ],
            "recent": list(self.recent),
        }

    @classmethod
    def from_doc(cls, doc: dict[str, Any]) -> Issue:
        """The issue a `to_doc` document describes; ValueError or KeyError if it is not one."""
        subject = doc["subject"]
        return cls(
            rule=doc["rule"],
            type=doc["type"],
            subject=Subject(
                name=subject["name"],
                pool=subject.get("pool"),
                domain=subject.get("domain"),
                host=subject.get("host"),
                pool_groups=tuple(subject.get("pool_groups") or ()),
            ),
            status=_status(doc["status"]),
            status_class=_status_class(doc["status_class"]),
            first_seen=_time(doc["first_seen"]),
            opened_at=_time(doc["opened_at"]),
            last_seen=_time(doc["last_seen"]),
            count=int(doc["count"]),
            latest_message=doc["latest_message"],
            notified_at=_time_or_none(doc.get("notified_at")),
            notified_status=_status_or_none(doc.get("notified_status")),
            resolved_at=_time_or_none(doc.get("resolved_at")),
            finalized_at=_time_or_none(doc.get("finalized_at")),
            stale_at=_time_or_none(doc.get("stale_at")),
            history=tuple(
                Transition(
                    at=_time(t["at"]),
                    from_status=_status_or_none(t.get("from")),
                    to=_status(t["to"]),
                    reason=t["reason"],
                    by=t.get("by"),
                    action=_action_event(t.get("action")),
                )
                for t in doc.get("history") or ()
            ),
            recent=tuple(doc.get("recent") or ()),
        )


ID_MAX_BYTES = 256
"""The most bytes of an issue id kept as `<rule>:<subject>`; longer ones are shortened."""

ID_HASH_CHARS = 32
"""Hex digits of the hash a shortened id ends with (128 bits of BLAKE2b)."""


def issue_id(rule: str, subject: str) -> str:
    """The id of `rule`'s issue about `subject`: `<rule>:<subject>`, bounded in length.

    Unambiguous, as rule names have no `:`. Elasticsearch refuses an `_id` over 512 bytes, and
    a request line over 4 KB (ids travel percent-encoded in the URL, up to 3 bytes a byte), so
    an id over `ID_MAX_BYTES` keeps its first `ID_MAX_BYTES` (a readable prefix, cut between
    characters) followed by `~` and a hash of all of it; the full subject stays in the document.
    A shortened id is longer than `ID_MAX_BYTES` (at least 286 bytes, at most 289), so it can
    never equal a plain one.
    """
    plain = f"{rule}:{subject}"
    encoded = plain.encode(errors="surrogatepass")
    if len(encoded) <= ID_MAX_BYTES:
        return plain
    digest = hashlib.blake2b(encoded, digest_size=ID_HASH_CHARS // 2).hexdigest()
    prefix = encoded[:ID_MAX_BYTES].decode(errors="ignore")
    return f"{prefix}~{digest}"


@dataclass(frozen=True)
class Deleted:
    """What `tick` returns for an issue whose time is up; the watcher deletes `issue.id`."""

    issue: Issue


def observe(issue: Issue | None, occurrence: Occurrence, policy: RulePolicy) -> Issue:
    """`issue` after `occurrence`: a new issue, a repeat, or a re-opened resolved one.

    An occurrence already counted (same time and message, or older than every remembered one)
    changes nothing; one older than `last_seen` is counted without moving `last_seen` back. A
    resolved or finalized issue re-opens only for an occurrence after its resolution.
    """
    if issue is None:
        status = OPEN_STATUS[policy.status_class]
        return Issue(
            rule=policy.rule,
            type=policy.type,
            subject=occurrence.subject,
            status=status,
            status_class=policy.status_class,
            first_seen=occurrence.at,
            opened_at=occurrence.at,
            last_seen=occurrence.at,
            count=1,
            latest_message=occurrence.message,
            history=(Transition(occurrence.at, None, status, "first seen"),),
            recent=(occurrence.key,),
        )
    key = occurrence.key
    if key in issue.recent or (len(issue.recent) >= RECENT_KEYS and key < issue.recent[0]):
        return issue
    latest = occurrence.at >= issue.last_seen
    seen = replace(
        issue,
        subject=_merge(issue.subject, occurrence.subject),
        status_class=policy.status_class,
        first_seen=min(issue.first_seen, occurrence.at),
        last_seen=occurrence.at if latest else issue.last_seen,
        count=issue.count + 1,
        latest_message=occurrence.message if latest else issue.latest_message,
        recent=tuple(sorted((*issue.recent, key)))[-RECENT_KEYS:],
    )
    resolved_at = issue.resolved_at
    if issue.status in ("resolved", "finalized") and resolved_at and occurrence.at > resolved_at:
        return _transition(seen, OPEN_STATUS[policy.status_class], occurrence.at, "seen again")
    return seen


def resolve(issue: Issue, at: datetime, message: str) -> Issue:
    """`issue` after its resolving signature was seen at `at` with `message`.

    Ignored when the problem was seen after `at` (it came back: overlapping windows can deliver
    the signature late), for permanent issues (only a person changes those) and for issues
    already resolved. At the same second the signature wins, as it does in `observe`.
    """
    if issue.status not in _RESOLVABLE or at < issue.last_seen:
        return issue
    return _transition(issue, "resolved", at, f"resolving signature: {message}")


def tick(issue: Issue, policy: RulePolicy, now: datetime) -> Issue | Deleted:
    """The one clock-driven step due at `now`, if any.

    Unresolved (and no-delay) issues go stale `stale_after` after `opened_at`; temporary and
    oddity issues resolve `ttl` after `last_seen`; resolved ones are finalized after
    `finalize_after`, and finalized ones deleted after `delete_after`. Stale issues wait for a
    person or their resolving signature; a permanent rule's issues never move. One step per call,
    so that each status can be notified before the next replaces it, and a resolution still to
    be mailed is not finalized: a late signature (`resolved_at` is its line's time, which may be
    long past) or a mail server down for a day must not swallow it.
    """
    if policy.status_class == "permanent":
        return issue
    status = issue.status
    if status in ("unresolved", "no-delay") and now - issue.opened_at >= policy.stale_after:
        return _transition(issue, "stale", now, f"unresolved for {_span(policy.stale_after)}")
    if status in ("temporary", "oddity") and now - issue.last_seen >= policy.ttl:
        return _transition(issue, "resolved", now, f"not seen for {_span(policy.ttl)}")
    resolved_at, finalized_at = issue.resolved_at, issue.finalized_at
    if (
        status == "resolved"
        and resolved_at
        and now - resolved_at >= policy.finalize_after
        and not needs_notification(issue, policy, now)
    ):
        return _transition(issue, "finalized", now, f"resolved for {_span(policy.finalize_after)}")
    if status == "finalized" and finalized_at and now - finalized_at >= policy.delete_after:
        return Deleted(issue)
    return issue


def needs_notification(issue: Issue, policy: RulePolicy, now: datetime) -> bool:
    """Whether the current status should be notified now; each status is notified once.

    Unresolved, temporary and permanent issues wait `notification_delay` from `opened_at` (a
    restart resolved within it never mails); no-delay and stale ones go at once; a resolution
    only if the problem itself was mailed; oddities and finalized issues never on their own.
    """
    status = issue.status
    if status == issue.notified_status:
        return False
    if status in ("unresolved", "temporary", "permanent"):
        return now - issue.opened_at >= policy.notification_delay
    if status == "resolved":
        return issue.notified_status in _MAILED_ALONE
    return status in ("no-delay", "stale")


def rides_along(issue: Issue) -> bool:
    """Whether an oddity not yet reported may join a digest that is being sent anyway."""
    return issue.status == "oddity" and issue.notified_status != "oddity"


def mark_notified(issue: Issue, now: datetime) -> Issue:
    """`issue` once its current status was sent successfully at `now`."""
    return replace(issue, notified_at=now, notified_status=issue.status)


def set_status(issue: Issue, status: Status, by: str, now: datetime) -> Issue:
    """A person's decision (any status, e.g. from the CLI), recorded in the history as theirs."""
    return _transition(issue, status, now, f"set by {by}", by=by)


def _transition(
    issue: Issue, to: Status, at: datetime, reason: str, by: str | None = None
) -> Issue:
    """`issue` in status `to` since `at`, with the timestamps that status implies."""
    if to == issue.status:
        return issue
    entry = Transition(at, issue.status, to, reason, by)
    moved = replace(issue, status=to, history=(*issue.history, entry)[-HISTORY_MAX:])
    if to == "resolved":
        return replace(moved, resolved_at=at, finalized_at=None)
    if to == "finalized":
        return replace(moved, finalized_at=at, resolved_at=issue.resolved_at or at)
    if to == "stale":
        return replace(moved, stale_at=at)
    return replace(moved, opened_at=at, resolved_at=None, finalized_at=None, stale_at=None)


def _merge(known: Subject, seen: Subject) -> Subject:
    """`known`, with what it lacks taken from a later line about the same subject."""
    return replace(
        known,
        pool=known.pool or seen.pool,
        domain=known.domain or seen.domain,
        host=known.host or seen.host,
        pool_groups=known.pool_groups or seen.pool_groups,
    )


def _span(span: timedelta) -> str:
    """A duration as the config writes it: `7d`, `1h`, `90s`."""
    seconds = int(span.total_seconds())
    for unit, size in (("d", 86400), ("h", 3600), ("m", 60)):
        if seconds >= size and seconds % size == 0:
            return f"{seconds // size}{unit}"
    return f"{seconds}s"


def _iso(moment: datetime) -> str:
    # Microseconds, fixed width: exact round trips, and occurrence keys that sort by time.
    return format_utc(moment, "microseconds")


def _iso_or_none(moment: datetime | None) -> str | None:
    return None if moment is None else _iso(moment)


def _time(text: str) -> datetime:
    return parse_utc(text)


def _time_or_none(text: str | None) -> datetime | None:
    return None if text is None else _time(text)


def _status(value: str) -> Status:
    for status in STATUSES:
        if value == status:
            return status
    raise ValueError(f"unknown status {value!r}")


def _status_or_none(value: str | None) -> Status | None:
    return None if value is None else _status(value)


def _action_event(value: str | None) -> ActionEvent | None:
    for event in ACTION_EVENTS:
        if value == event:
            return event
    if value is None:
        return None
    raise ValueError(f"unknown action event {value!r}")


def _status_class(value: str) -> StatusClass:
    for status_class in STATUS_CLASSES:
        if value == status_class:
            return status_class
    raise ValueError(f"unknown status class {value!r}")
