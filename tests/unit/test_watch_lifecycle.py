"""The issue lifecycle: every transition, every status class, notifications, the document."""

from __future__ import annotations

import json
import re
from datetime import UTC, datetime, timedelta, timezone
from urllib.parse import quote

import pytest

from esbridge.config.watch import StatusClass
from esbridge.watch.lifecycle import (
    HISTORY_MAX,
    ID_MAX_BYTES,
    RECENT_KEYS,
    Deleted,
    Issue,
    Occurrence,
    Subject,
    issue_id,
    mark_notified,
    needs_notification,
    observe,
    resolve,
    rides_along,
    set_status,
    tick,
)
from esbridge.watch.policy import RulePolicy

T0 = datetime(2026, 10, 14, 7, 49, 55, tzinfo=UTC)
POOL = Subject("dcache-xfel497-01", "dcache-xfel497-01", "dcache-xfel497-01Domain", "xfel497")
OPERATOR = "Pool mode changed to disabled(): Operator intervention"
ENABLED = "Pool mode changed to enabled"


def at(**delta: float) -> datetime:
    return T0 + timedelta(**delta)


def policy(status_class: StatusClass = "normal", **overrides: timedelta) -> RulePolicy:
    settings = {
        "notification_delay": timedelta(minutes=10),
        "stale_after": timedelta(days=7),
        "finalize_after": timedelta(days=1),
        "delete_after": timedelta(hours=1),
        "ttl": timedelta(hours=1),
        **overrides,
    }
    return RulePolicy(
        rule="pool-disabled", type="PoolDisabled", status_class=status_class, **settings
    )


def seen(when: datetime, message: str = OPERATOR, subject: Subject = POOL) -> Occurrence:
    return Occurrence(when, message, subject)


def opened(status_class: StatusClass = "normal", when: datetime = T0) -> Issue:
    return observe(None, seen(when), policy(status_class))


def stepped(issue: Issue, status_class: StatusClass, now: datetime) -> Issue:
    result = tick(issue, policy(status_class), now)
    assert isinstance(result, Issue)
    return result


# --- new issues and repeats -------------------------------------------------------------------


@pytest.mark.parametrize(
    ("status_class", "status"),
    [
        ("normal", "unresolved"),
        ("temporary", "temporary"),
        ("oddity", "oddity"),
        ("permanent", "permanent"),
        ("no-delay", "no-delay"),
    ],
)
def test_a_new_issue_takes_the_open_status_of_its_class(
    status_class: StatusClass, status: str
) -> None:
    issue = opened(status_class)

    assert (issue.rule, issue.type, issue.subject) == ("pool-disabled", "PoolDisabled", POOL)
    assert (issue.status, issue.status_class, issue.count) == (status, status_class, 1)
    assert issue.first_seen == issue.opened_at == issue.last_seen == T0
    assert issue.latest_message == OPERATOR
    assert [(t.from_status, t.to, t.reason) for t in issue.history] == [
        (None, status, "first seen")
    ]
    assert issue.id == "pool-disabled:dcache-xfel497-01"


def test_a_repeat_counts_and_moves_last_seen_and_the_latest_message() -> None:
    issue = observe(
        opened(), seen(at(minutes=5), "Pool mode changed to disabled(): again"), policy()
    )

    assert (issue.count, issue.last_seen, issue.first_seen) == (2, at(minutes=5), T0)
    assert issue.latest_message == "Pool mode changed to disabled(): again"
    assert issue.status == "unresolved"
    assert len(issue.history) == 1


def test_re_reading_an_overlapping_window_does_not_count_twice() -> None:
    window = [seen(T0), seen(at(seconds=45), "Awaiting initialization"), seen(at(seconds=46))]
    issue = None
    for occurrence in window:
        issue = observe(issue, occurrence, policy())
    assert issue is not None

    again = issue
    for occurrence in window[1:]:
        again = observe(again, occurrence, policy())

    assert again == issue
    assert issue.count == 3


def test_lines_of_the_same_second_with_different_messages_both_count() -> None:
    fault = (
        "Pool: dcache-xfel497-01, fault occurred in repository: I/O test failed. Pool disabled: "
    )
    issue = observe(opened(), seen(T0, fault), policy())

    assert issue.count == 2


def test_a_late_older_occurrence_counts_without_moving_last_seen_back() -> None:
    issue = observe(opened(), seen(at(minutes=5), "newest"), policy())

    late = observe(issue, seen(at(minutes=2), "late"), policy())

    assert (late.count, late.last_seen, late.latest_message) == (3, at(minutes=5), "newest")


def test_an_earlier_occurrence_moves_first_seen_back() -> None:
    issue = observe(opened(when=at(minutes=5)), seen(T0, "earlier"), policy())

    assert (issue.first_seen, issue.last_seen) == (T0, at(minutes=5))


def test_occurrences_older_than_every_remembered_one_count_as_already_seen() -> None:
    issue = opened()
    for i in range(1, RECENT_KEYS + 1):
        issue = observe(issue, seen(at(seconds=i), f"line {i}"), policy())
    assert len(issue.recent) == RECENT_KEYS

    assert observe(issue, seen(T0), policy()) == issue


def test_a_later_line_fills_in_what_the_subject_lacked() -> None:
    bare = Subject("dcache-xfel497-01", pool="dcache-xfel497-01")
    issue = observe(None, seen(T0, subject=bare), policy())

    issue = observe(issue, seen(at(seconds=1), "x"), policy())

    assert issue.subject == POOL


# --- resolving --------------------------------------------------------------------------------


@pytest.mark.parametrize("status_class", ["normal", "no-delay", "oddity", "temporary"])
def test_the_resolving_signature_resolves_an_open_issue(status_class: StatusClass) -> None:
    issue = resolve(opened(status_class), at(minutes=2), ENABLED)

    assert (issue.status, issue.resolved_at) == ("resolved", at(minutes=2))
    last = issue.history[-1]
    assert (last.at, last.from_status, last.to) == (
        at(minutes=2),
        opened(status_class).status,
        "resolved",
    )
    assert last.reason == f"resolving signature: {ENABLED}"


def test_the_resolving_signature_resolves_a_stale_issue() -> None:
    stale = stepped(opened(), "normal", at(days=8))

    issue = resolve(stale, at(days=9), ENABLED)

    assert (stale.status, issue.status) == ("stale", "resolved")


def test_a_resolving_signature_older_than_the_latest_occurrence_is_ignored() -> None:
    issue = observe(opened(), seen(at(minutes=3), "disabled again"), policy())

    assert resolve(issue, at(minutes=2), ENABLED) == issue


def test_a_resolving_signature_of_the_same_second_wins() -> None:
    assert resolve(opened(), T0, ENABLED).status == "resolved"


def test_a_permanent_issue_ignores_its_resolving_signature() -> None:
    issue = opened("permanent")

    assert resolve(issue, at(minutes=2), ENABLED) == issue


def test_resolving_twice_keeps_the_first_resolution() -> None:
    issue = resolve(opened(), at(minutes=2), ENABLED)

    assert resolve(issue, at(minutes=3), ENABLED) == issue


# --- re-opening -------------------------------------------------------------------------------


def test_a_resolved_issue_seen_again_reopens_as_unresolved() -> None:
    resolved = resolve(opened(), at(minutes=2), ENABLED)

    issue = observe(resolved, seen(at(hours=3)), policy())

    assert (issue.status, issue.opened_at, issue.resolved_at, issue.count) == (
        "unresolved",
        at(hours=3),
        None,
        2,
    )
    assert issue.first_seen == T0
    last = issue.history[-1]
    assert (last.at, last.from_status, last.to, last.reason) == (
        at(hours=3),
        "resolved",
        "unresolved",
        "seen again",
    )


def test_a_finalized_issue_seen_again_reopens_as_unresolved() -> None:
    finalized = stepped(resolve(opened(), at(minutes=2), ENABLED), "normal", at(days=2))
    assert finalized.status == "finalized"

    issue = observe(finalized, seen(at(days=2, minutes=30)), policy())

    assert (issue.status, issue.finalized_at, issue.resolved_at) == ("unresolved", None, None)


def test_a_temporary_issue_reopens_as_temporary() -> None:
    expired = stepped(opened("temporary"), "temporary", at(hours=1))

    issue = observe(expired, seen(at(hours=2)), policy("temporary"))

    assert (expired.status, issue.status) == ("resolved", "temporary")


def test_a_line_from_before_the_resolution_does_not_reopen() -> None:
    resolved = resolve(opened(), at(minutes=2), ENABLED)

    issue = observe(resolved, seen(at(minutes=1), "late line"), policy())

    assert (issue.status, issue.count) == ("resolved", 2)


# --- the clock --------------------------------------------------------------------------------


@pytest.mark.parametrize("status_class", ["normal", "no-delay"])
def test_an_open_problem_goes_stale_after_stale_after(status_class: StatusClass) -> None:
    issue = opened(status_class)

    assert stepped(issue, status_class, at(days=7, seconds=-1)) == issue
    stale = stepped(issue, status_class, at(days=7))
    assert (stale.status, stale.stale_at) == ("stale", at(days=7))
    assert stale.history[-1].reason == "unresolved for 7d"


def test_repeats_do_not_keep_a_problem_from_going_stale() -> None:
    issue = observe(opened(), seen(at(days=6)), policy())

    assert stepped(issue, "normal", at(days=7)).status == "stale"


def test_a_stale_issue_stays_stale_until_a_person_or_its_signature_acts() -> None:
    stale = stepped(opened(), "normal", at(days=7))

    assert stepped(stale, "normal", at(days=400)) == stale
    assert observe(stale, seen(at(days=8)), policy()).status == "stale"


@pytest.mark.parametrize("status_class", ["temporary", "oddity"])
def test_a_self_resolving_issue_resolves_ttl_after_its_last_occurrence(
    status_class: StatusClass,
) -> None:
    issue = observe(opened(status_class), seen(at(minutes=30)), policy(status_class))

    assert stepped(issue, status_class, at(minutes=89)) == issue
    resolved = stepped(issue, status_class, at(minutes=90))
    assert (resolved.status, resolved.resolved_at) == ("resolved", at(minutes=90))
    assert resolved.history[-1].reason == "not seen for 1h"


def test_a_resolved_issue_is_finalized_after_finalize_after() -> None:
    resolved = resolve(opened(), at(minutes=2), ENABLED)

    assert stepped(resolved, "normal", at(days=1, minutes=1)) == resolved
    finalized = stepped(resolved, "normal", at(days=1, minutes=2))
    assert (finalized.status, finalized.finalized_at) == ("finalized", at(days=1, minutes=2))
    assert finalized.resolved_at == at(minutes=2)


def test_a_resolution_still_to_be_mailed_is_not_finalized() -> None:
    """A late signature: the pool was enabled long ago, but the watcher learns it only now."""
    mailed = mark_notified(opened(), at(minutes=10))
    late = resolve(mailed, at(minutes=20), ENABLED)
    now = at(days=3)

    assert needs_notification(late, policy(), now)
    assert stepped(late, "normal", now) == late
    finalized = stepped(mark_notified(late, now), "normal", now)
    assert finalized.status == "finalized"


def test_a_finalized_issue_is_deleted_after_delete_after() -> None:
    finalized = stepped(resolve(opened(), T0, ENABLED), "normal", at(days=1))

    assert tick(finalized, policy(), at(days=1, minutes=59)) == finalized
    assert tick(finalized, policy(), at(days=1, hours=1)) == Deleted(finalized)


def test_the_clock_takes_one_step_per_tick() -> None:
    """So that each status can be notified before the next replaces it."""
    expired = stepped(opened("temporary"), "temporary", at(days=30))

    assert expired.status == "resolved"


@pytest.mark.parametrize("now", [at(days=8), at(days=3650)])
def test_a_permanent_issue_never_moves_and_is_never_deleted(now: datetime) -> None:
    issue = opened("permanent")
    finalized_by_a_person = set_status(issue, "finalized", "alice", at(hours=1))

    assert tick(issue, policy("permanent"), now) == issue
    assert tick(finalized_by_a_person, policy("permanent"), now) == finalized_by_a_person


def test_an_unresolved_issue_neither_expires_nor_finalizes() -> None:
    issue = opened()

    assert stepped(issue, "normal", at(days=6)) == issue


# --- notifications ----------------------------------------------------------------------------


def test_a_pool_restart_resolved_within_the_delay_is_never_notified() -> None:
    changed, flags = "Pool mode changed to disabled", "fetch,store,stage,p2p-client,p2p-server"
    restart = [
        (at(), f"{changed}({flags},dead): Shutdown"),
        (at(seconds=45), f"{changed}({flags}): Awaiting initialization"),
        (at(seconds=46), f"{changed}(store,stage,p2p-client,loading): Loading..."),
    ]
    issue = None
    for when, message in restart:
        issue = observe(issue, seen(when, message), policy())
        assert not needs_notification(issue, policy(), when)
    assert issue is not None

    issue = resolve(issue, at(minutes=2, seconds=8), ENABLED)

    assert issue.status == "resolved"
    for now in (at(minutes=2, seconds=8), at(minutes=10), at(hours=5)):
        assert not needs_notification(issue, policy(), now)


def test_an_unresolved_issue_is_notified_once_after_the_delay() -> None:
    issue = opened()

    assert not needs_notification(issue, policy(), at(minutes=9, seconds=59))
    assert needs_notification(issue, policy(), at(minutes=10))
    notified = mark_notified(issue, at(minutes=10))
    assert (notified.notified_at, notified.notified_status) == (at(minutes=10), "unresolved")
    assert not needs_notification(notified, policy(), at(minutes=11))
    repeated = observe(notified, seen(at(minutes=12), "again"), policy())
    assert not needs_notification(repeated, policy(), at(hours=2))


def test_a_resolution_is_notified_once_when_the_problem_was() -> None:
    notified = mark_notified(opened(), at(minutes=10))

    resolved = resolve(notified, at(minutes=20), ENABLED)

    assert needs_notification(resolved, policy(), at(minutes=20))
    assert not needs_notification(mark_notified(resolved, at(minutes=21)), policy(), at(hours=1))


def test_a_reopened_issue_waits_out_the_delay_again() -> None:
    """A pool restarted every few hours must not mail on the second restart."""
    resolved = resolve(opened(), at(minutes=2), ENABLED)
    reopened = observe(resolved, seen(at(hours=3)), policy())

    assert not needs_notification(reopened, policy(), at(hours=3, minutes=9))
    assert needs_notification(reopened, policy(), at(hours=3, minutes=10))


def test_no_delay_is_notified_at_once() -> None:
    assert needs_notification(opened("no-delay"), policy("no-delay"), T0)


@pytest.mark.parametrize("status_class", ["temporary", "permanent"])
def test_temporary_and_permanent_issues_are_notified_after_the_delay(
    status_class: StatusClass,
) -> None:
    issue = opened(status_class)

    assert not needs_notification(issue, policy(status_class), at(minutes=9))
    assert needs_notification(issue, policy(status_class), at(minutes=10))


def test_a_temporary_issue_expiring_after_its_mail_is_notified_as_resolved() -> None:
    notified = mark_notified(opened("temporary"), at(minutes=10))

    expired = stepped(notified, "temporary", at(hours=1))

    assert needs_notification(expired, policy("temporary"), at(hours=1))


def test_an_oddity_is_never_notified_on_its_own_but_rides_along() -> None:
    issue = opened("oddity")

    assert not needs_notification(issue, policy("oddity"), at(days=1))
    assert rides_along(issue)
    included = mark_notified(issue, at(minutes=1))
    assert not rides_along(included)
    expired = stepped(included, "oddity", at(hours=2))
    assert expired.status == "resolved"
    assert not needs_notification(expired, policy("oddity"), at(hours=2))
    assert not rides_along(expired)


def test_only_oddities_ride_along() -> None:
    assert not rides_along(opened())
    assert not rides_along(opened("no-delay"))


def test_going_stale_is_notified_once() -> None:
    stale = stepped(mark_notified(opened(), at(minutes=10)), "normal", at(days=7))

    assert needs_notification(stale, policy(), at(days=7))
    assert not needs_notification(mark_notified(stale, at(days=7)), policy(), at(days=8))


def test_finalization_is_never_notified() -> None:
    resolved = mark_notified(resolve(mark_notified(opened(), at(minutes=10)), T0, ENABLED), T0)
    finalized = stepped(resolved, "normal", at(days=2))

    assert finalized.status == "finalized"
    assert not needs_notification(finalized, policy(), at(days=2))


# --- a person ---------------------------------------------------------------------------------


def test_a_persons_status_change_is_recorded_as_theirs() -> None:
    issue = set_status(opened(), "permanent", "alice", at(hours=1))

    assert issue.status == "permanent"
    last = issue.history[-1]
    assert (last.at, last.from_status, last.to, last.reason, last.by) == (
        at(hours=1),
        "unresolved",
        "permanent",
        "set by alice",
        "alice",
    )


def test_setting_the_current_status_again_changes_nothing() -> None:
    issue = opened()

    assert set_status(issue, "unresolved", "alice", at(hours=1)) == issue


def test_a_person_reopening_a_stale_issue_restarts_its_clocks() -> None:
    stale = stepped(opened(), "normal", at(days=7))

    issue = set_status(stale, "unresolved", "bob", at(days=8))

    assert (issue.status, issue.opened_at, issue.stale_at) == ("unresolved", at(days=8), None)
    assert stepped(issue, "normal", at(days=14)) == issue


def test_a_person_resolving_an_issue_starts_its_finalize_clock() -> None:
    issue = set_status(opened(), "resolved", "carol", at(hours=2))

    assert issue.resolved_at == at(hours=2)
    assert stepped(issue, "normal", at(days=1, hours=2)).status == "finalized"


def test_history_keeps_the_latest_transitions_only() -> None:
    issue = opened()
    for day in range(1, HISTORY_MAX):
        issue = resolve(issue, at(days=day), ENABLED)
        issue = observe(issue, seen(at(days=day, hours=1)), policy())

    assert len(issue.history) == HISTORY_MAX
    assert issue.history[-1].at == at(days=HISTORY_MAX - 1, hours=1)


# --- the document -----------------------------------------------------------------------------


def rich_issue() -> Issue:
    subject = Subject("cms-pool017", "cms-pool017", "cms-pool017Domain", "cmsnode017", ("cms",))
    issue = observe(None, seen(at(microseconds=123456), OPERATOR, subject), policy())
    issue = observe(issue, seen(at(minutes=1), "again", subject), policy())
    issue = mark_notified(issue, at(minutes=10))
    issue = mark_notified(resolve(issue, at(minutes=20), ENABLED), at(minutes=21))
    issue = stepped(issue, "normal", at(days=2))
    return set_status(issue, "stale", "alice", at(days=2, hours=1))


def test_an_issue_survives_the_round_trip_through_its_document() -> None:
    issue = rich_issue()

    doc = json.loads(json.dumps(issue.to_doc()))

    assert Issue.from_doc(doc) == issue


def test_the_document_has_the_issues_index_fields_with_utc_times() -> None:
    doc = rich_issue().to_doc()

    assert list(doc) == [
        "rule",
        "type",
        "subject",
        "status",
        "status_class",
        "first_seen",
        "opened_at",
        "last_seen",
        "count",
        "latest_message",
        "notified_at",
        "notified_status",
        "resolved_at",
        "finalized_at",
        "stale_at",
        "history",
        "recent",
    ]
    assert doc["subject"] == {
        "name": "cms-pool017",
        "pool": "cms-pool017",
        "domain": "cms-pool017Domain",
        "host": "cmsnode017",
        "pool_groups": ["cms"],
    }
    assert doc["first_seen"] == "2026-10-14T07:49:55.123456Z"
    assert doc["history"][-1] == {
        "at": "2026-10-16T08:49:55.000000Z",
        "from": "finalized",
        "to": "stale",
        "reason": "set by alice",
        "by": "alice",
        "action": None,
    }


def test_times_in_other_zones_are_written_in_utc() -> None:
    berlin = datetime(2026, 10, 14, 9, 49, 55, tzinfo=timezone(timedelta(hours=2)))

    doc = observe(None, seen(berlin), policy()).to_doc()

    assert doc["first_seen"] == "2026-10-14T07:49:55.000000Z"


def test_a_document_with_an_unknown_status_is_rejected() -> None:
    doc = opened().to_doc()
    doc["status"] = "exploded"

    with pytest.raises(ValueError, match="unknown status"):
        Issue.from_doc(doc)


# --- ids --------------------------------------------------------------------------------------


def test_an_id_is_the_rule_and_the_subject_while_it_is_short() -> None:
    assert issue_id("pool-disabled", "dcache-xfel497-01") == "pool-disabled:dcache-xfel497-01"
    exact = "p" * (ID_MAX_BYTES - len("pool-disabled:"))
    assert issue_id("pool-disabled", exact) == f"pool-disabled:{exact}"


@pytest.mark.parametrize("size", [ID_MAX_BYTES - len("pool-disabled:") + 1, 600, 10 * 1024])
def test_a_long_subject_gives_a_bounded_id_with_a_readable_prefix(size: int) -> None:
    subject = "dcache-" + "x" * (size - len("dcache-"))

    key = issue_id("pool-disabled", subject)

    assert ID_MAX_BYTES < len(key.encode()) < 512, "Elasticsearch's _id limit"
    assert len(quote(key, safe="").encode()) < 1024, "percent-encoded, far below the 4 KB line"
    head, digest = key.rsplit("~", 1)
    assert f"pool-disabled:{subject}".startswith(head)
    assert len(head.encode()) == ID_MAX_BYTES
    assert re.fullmatch("[0-9a-f]{32}", digest)
    assert issue_id("pool-disabled", subject) == key, "the same subject, the same issue"


def test_long_subjects_differing_only_at_their_end_are_different_issues() -> None:
    base = "p" * 10_000

    keys = {issue_id("pool-disabled", base + end) for end in ("a", "b", "ab", "")}

    assert len(keys) == 4


def test_a_long_subject_is_cut_between_characters() -> None:
    subject = "ü" * 600  # two bytes each: the cut may fall inside one

    for rule in ("a", "ab"):
        key = issue_id(rule, subject)
        head = key.rsplit("~", 1)[0]
        assert head == f"{rule}:" + "ü" * ((ID_MAX_BYTES - len(rule) - 1) // 2)
        assert len(key.encode()) > ID_MAX_BYTES, "never the length of a plain id"


def test_the_document_keeps_the_whole_long_subject() -> None:
    subject = Subject("x" * 10_000, "x" * 10_000)
    issue = observe(None, seen(T0, OPERATOR, subject), policy())

    assert issue.id == issue_id("pool-disabled", subject.name)
    assert issue.to_doc()["subject"]["name"] == subject.name
