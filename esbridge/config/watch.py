"""The `watch:` section: the rules `esbridge watch` evaluates and the clocks of an issue's life.

Kept apart from `models.py`, which imports it and checks what needs the whole config (a rule's
producer exists, the issues index is no one else's). Rules may also live in the `*.yml` files of
`rules_dir`: the loader appends those to `rules`, so a rule is checked the same way wherever it is
written, and errors still point at its own file and line.

A match or resolve `regex` runs in Elasticsearch (a Lucene `regexp`, on a whole keyword value)
and in the watcher's own matcher (Python `re.fullmatch`); only the syntax both read alike is
accepted. A subject `regex` runs in Python only.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from pathlib import Path
from typing import Annotated, Literal, Self, get_args

from pydantic import AfterValidator, BeforeValidator, Field, StrictBool, model_validator

from esbridge.argv import render_command
from esbridge.config.base import Loc, LocatedError, Section
from esbridge.config.units import Seconds, parse_duration

StatusClass = Literal["normal", "temporary", "oddity", "permanent", "no-delay"]
"""How a rule's issues live (docs of each in esbridge.watch.lifecycle)."""
STATUS_CLASSES: tuple[StatusClass, ...] = get_args(StatusClass)

MAX_NOTIFICATION_DELAY = 900.0
"""The default delay may not exceed 15 minutes: past that, a real outage waits too long."""

PLACEHOLDERS = frozenset({"subject", "pool", "domain", "host", "rule", "type"})
"""What an action's arguments may name, e.g. `{pool}`."""


_Section = Section


def _field_path(value: str) -> str:
    if "" in value.split("."):
        raise ValueError("expected a dotted field path such as dcache.pool.name")
    return value


_RULE_NAME = re.compile(r"[a-z0-9][a-z0-9_-]{0,63}")
_RULE_TYPE = re.compile(r"[A-Za-z][A-Za-z0-9_-]{0,63}")


def _rule_name(value: str) -> str:
    if _RULE_NAME.fullmatch(value) is None:
        raise ValueError("expected 1-64 of a-z, 0-9, '_', '-', starting with a letter or digit")
    return value


def _rule_type(value: str) -> str:
    if _RULE_TYPE.fullmatch(value) is None:
        raise ValueError("expected a name such as PoolDisabled: letters, digits, '_', '-'")
    return value


def _portable_regex(value: str) -> str:
    try:
        re.compile(value)
    except re.error as exc:
        raise ValueError(f"not a valid regular expression: {exc.msg}") from None
    if (construct := _python_only(value)) is not None:
        raise ValueError(
            f"{construct} means something else to Elasticsearch (Lucene): write [0-9] for \\d "
            "and the like; the regex always matches the whole value, so ^ and $ are not needed"
        )
    return value


def _python_only(pattern: str) -> str | None:
    """The first construct of `pattern` that Lucene reads differently from Python, if any.

    Those are escapes of letters and digits (`\\d`, `\\b`, `\\1`), `(?...)` groups, and,
    outside `[...]`, the anchors `^` `$` and `"` (Lucene's quote).
    """
    i, in_class = 0, False
    while i < len(pattern):
        char = pattern[i]
        if char == "\\":
            if pattern[i + 1 : i + 2].isalnum():
                return pattern[i : i + 2]
            i += 2
            continue
        if in_class:
            in_class = char != "]"
        elif char == "[":
            in_class = True
            i += 1 + pattern.startswith("^", i + 1)  # a leading ^ negates in both
            continue
        elif pattern.startswith("(?", i):
            return "(?"
        elif char in '^$"':
            return char
        i += 1
    return None


def _subject_regex(value: str) -> str:
    try:
        compiled = re.compile(value)
    except re.error as exc:
        raise ValueError(f"not a valid regular expression: {exc.msg}") from None
    if "subject" not in compiled.groupindex:
        raise ValueError("needs a named group (?P<subject>...) for the subject")
    return value


def _command(value: tuple[str, ...]) -> tuple[str, ...]:
    if not value or not value[0]:
        raise ValueError("must list the program and its arguments")
    blanks = dict.fromkeys(PLACEHOLDERS, "")
    errors: list[tuple[Loc, str]] = []
    for i, argument in enumerate(value):
        try:
            render_command([argument], blanks)
        except ValueError:  # its message quotes the argument, which may hold a token
            known = ", ".join(f"{{{name}}}" for name in sorted(PLACEHOLDERS))
            errors.append(((i,), f"placeholders are {known}; write {{{{ and }}}} for braces"))
    if errors:
        raise LocatedError(errors)
    return value


def _at_most_15_minutes(value: float) -> float:
    if value > MAX_NOTIFICATION_DELAY:
        raise ValueError("must be at most 15m; give a longer delay to single rules if needed")
    return value


NonEmptyStr = Annotated[str, Field(min_length=1)]
FieldPath = Annotated[str, AfterValidator(_field_path)]
PortableRegex = Annotated[str, AfterValidator(_portable_regex)]
TermValue = str | int | float | bool


class SignatureConfig(_Section):
    """A log line's signature: a phrase (analysed, like a Kibana search) or a regex on a field.

    `field` defaults to `message` for a phrase and `message.keyword` for a regex: a Lucene
    `regexp` on an analysed field would test single words, not the line.
    """

    phrase: NonEmptyStr | None = None
    regex: PortableRegex | None = None
    field: FieldPath | None = None

    @model_validator(mode="after")
    def _check_one(self) -> Self:
        if (self.phrase is None) == (self.regex is None):
            raise ValueError("give exactly one of phrase and regex")
        if self.regex is not None and self.field == "message":
            raise LocatedError([(("field",), "a regex matches a whole value: use message.keyword")])
        return self

    @property
    def field_name(self) -> str:
        """The field searched, with the default filled in."""
        if self.field is not None:
            return self.field
        return "message" if self.phrase is not None else "message.keyword"


class MatchConfig(SignatureConfig):
    """What an occurrence looks like; `filters` are exact (term) matches on keyword fields."""

    filters: Mapping[FieldPath, TermValue] = {}


class SubjectConfig(_Section):
    """What an issue is about: the `regex`'s `subject` group on the message, else `field`."""

    field: FieldPath = "dcache.pool.name"
    regex: Annotated[str, AfterValidator(_subject_regex)] | None = None
    domain_field: FieldPath = "dcache.domain"
    host_field: FieldPath = "host.name"
    groups_field: FieldPath = "dcache.pool.groups"


class ActionConfig(_Section):
    """A program run for the rule's issues, without a shell; `{placeholders}` are filled in."""

    command: Annotated[tuple[str, ...], AfterValidator(_command)]
    rate_limit: Annotated[float, BeforeValidator(parse_duration), Field(ge=0)] = 3600.0
    """At most one run per subject in this long, however often the issue changes; 0: no limit."""
    timeout: Seconds = 60.0
    rerun_after_crash: StrictBool = False
    """Whether a run whose watcher died before recording its end (so its outcome is unknown) is
    repeated at the issue's next notification, ignoring `rate_limit` for it. Off by default: a
    restart or a ticket done twice can be worse than once; the issue's history says either way."""


_ONLY_FOR: dict[str, tuple[StatusClass, ...]] = {
    "resolve": ("normal", "oddity", "no-delay"),
    "ttl": ("temporary", "oddity"),
    "stale_after": ("normal", "no-delay"),
    "notification_delay": ("normal", "temporary", "permanent"),
    "finalize_after": ("normal", "temporary", "oddity", "no-delay"),
}
"""Keys that mean nothing for some classes: a temporary or permanent issue is never resolved by a
signature, only temporary and oddity issues expire, only open problems go stale, oddity and
no-delay issues do not wait, and a permanent issue is never finalized."""


class RuleConfig(_Section):
    """One kind of problem: how to find it, what it is about, and how its issues live."""

    name: Annotated[str, AfterValidator(_rule_name)]
    type: Annotated[str, AfterValidator(_rule_type)]
    producer: NonEmptyStr
    match: MatchConfig
    subject: SubjectConfig = SubjectConfig()
    resolve: SignatureConfig | None = None
    status_class: StatusClass = "normal"
    notification_delay: Seconds | None = None
    stale_after: Seconds | None = None
    finalize_after: Seconds | None = None
    ttl: Seconds | None = None
    action: ActionConfig | None = None

    @model_validator(mode="after")
    def _check_class(self) -> Self:
        errors: list[tuple[Loc, str]] = [
            ((key,), f"not used with status_class {self.status_class}")
            for key, classes in _ONLY_FOR.items()
            if getattr(self, key) is not None and self.status_class not in classes
        ]
        if errors:
            raise LocatedError(errors)
        return self


class WatchConfig(_Section):
    """`esbridge watch`: where issues are kept, how often rules run, and the default clocks."""

    issues_index: NonEmptyStr = "esbridge-issues"
    interval: Seconds = 60.0
    lag: Seconds = 120.0
    """Each run re-reads this much ingest time (`event.ingested`) before the previous end: for
    documents stamped before it but searchable only after it (a bulk request in flight, the
    refresh interval, the ingest host's clock behind the watcher's)."""
    since: Seconds = 3600.0
    """How far back the first run looks."""
    notification_delay: Annotated[Seconds, AfterValidator(_at_most_15_minutes)] = 600.0
    stale_after: Seconds = 7 * 86400.0
    finalize_after: Seconds = 86400.0
    delete_after: Seconds = 3600.0
    temporary_ttl: Seconds = 3600.0
    claim_timeout: Annotated[Seconds, Field(gt=0)] = 600.0
    """How long a notification claimed by a watcher waits for it before another may send it:
    the delay after a watcher dies between claiming and mailing."""
    rule_packs: tuple[NonEmptyStr, ...] = ()
    """Rule packs shipped with esbridge (`dcache`), read before `rules_dir`."""
    rules_dir: Path | None = None
    """Every `*.yml` in it holds rules; relative to the config file's folder."""
    rules: tuple[RuleConfig, ...] = ()

    @model_validator(mode="after")
    def _check_names(self) -> Self:
        names: set[str] = set()
        errors: list[tuple[Loc, str]] = []
        for i, rule in enumerate(self.rules):
            if rule.name in names:
                errors.append((("rules", i, "name"), "an earlier rule has this name"))
            names.add(rule.name)
        if errors:
            raise LocatedError(errors)
        return self
