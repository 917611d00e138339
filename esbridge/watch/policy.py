"""A rule's lifecycle settings: its own overrides, else the `watch:` section's defaults."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta

from esbridge.config.watch import RuleConfig, StatusClass, WatchConfig


@dataclass(frozen=True)
class RulePolicy:
    """What the lifecycle needs to know of a rule (see `rule_policy`)."""

    rule: str
    type: str
    status_class: StatusClass
    notification_delay: timedelta
    stale_after: timedelta
    finalize_after: timedelta
    delete_after: timedelta
    ttl: timedelta


def rule_policy(watch: WatchConfig, rule: RuleConfig) -> RulePolicy:
    """The lifecycle settings of `rule` within `watch`."""

    def pick(override: float | None, default: float) -> timedelta:
        return timedelta(seconds=default if override is None else override)

    return RulePolicy(
        rule=rule.name,
        type=rule.type,
        status_class=rule.status_class,
        notification_delay=pick(rule.notification_delay, watch.notification_delay),
        stale_after=pick(rule.stale_after, watch.stale_after),
        finalize_after=pick(rule.finalize_after, watch.finalize_after),
        delete_after=timedelta(seconds=watch.delete_after),
        ttl=pick(rule.ttl, watch.temporary_ttl),
    )
