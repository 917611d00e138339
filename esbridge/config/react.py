"""The `reactors:` section: programs or webhooks `esbridge react` runs for matching messages.

Kept apart from `models.py`, which imports it and checks what needs the whole config (a
reactor's producer exists, its consumer group and dead-letter index are its own). Templates are
checked here with the same renderer that runs them (`esbridge.argv`), so a reactor that loads
is one whose arguments render.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Annotated, Self

from pydantic import (
    AfterValidator,
    BeforeValidator,
    Field,
    StrictBool,
    StrictFloat,
    StrictInt,
    StrictStr,
    model_validator,
)

from esbridge.argv import render_command
from esbridge.config.base import Loc, LocatedError, Section
from esbridge.config.notify import WebhookConfig
from esbridge.config.units import Seconds, parse_duration

_Section = Section

PATH_PLACEHOLDERS = frozenset({"path", "parent", "name"})
"""What a reactor with a `path:` mapping offers its templates: the mapped path, its folder and
its last component."""

_NAME = re.compile(r"[a-z0-9][a-z0-9_-]{0,63}")
_PLACEHOLDER = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")
_INDEX = re.compile(r"[a-z0-9][a-z0-9._-]{0,199}")


def _name(value: str) -> str:
    if _NAME.fullmatch(value) is None:
        raise ValueError("expected 1-64 of a-z, 0-9, '_', '-', starting with a letter or digit")
    return value


def _field_path(value: str) -> str:
    if "" in value.split("."):
        raise ValueError("expected a dotted field path such as moverInfo.status.code")
    return value


def _regex(value: str) -> str:
    try:
        re.compile(value)
    except re.error as exc:
        raise ValueError(f"not a valid regular expression: {exc.msg}") from None
    return value


def _index_name(value: str) -> str:
    if _INDEX.fullmatch(value) is None:
        raise ValueError("expected a lowercase index name: a-z, 0-9, '.', '_', '-'")
    return value


def _absolute(value: str) -> str:
    if not value.startswith("/"):
        raise ValueError("expected an absolute path, starting with /")
    return value


def _account(value: str | int) -> str | int:
    if isinstance(value, int):
        if value < 0:
            raise ValueError("expected a name or a non-negative number")
        return value
    if not value or value.startswith("-") or any(ord(c) < 33 for c in value):
        raise ValueError("expected an account name without spaces or control characters")
    return value


Name = Annotated[str, AfterValidator(_name)]
FieldPath = Annotated[str, AfterValidator(_field_path)]
Regex = Annotated[str, AfterValidator(_regex)]
IndexName = Annotated[str, AfterValidator(_index_name)]
Account = Annotated[StrictStr | StrictInt, AfterValidator(_account)]
Value = StrictBool | StrictInt | StrictFloat | StrictStr
"""A JSON scalar; strict, so `true` never equals `1` and `"0"` never equals `0`."""
Values = Annotated[tuple[Value, ...], Field(min_length=1)]


class ConditionConfig(_Section):
    """One test on the decoded message; a reactor's conditions must all hold.

    A missing field fails every test but `exists: false`, so `negate` makes it pass: an absent
    `isP2p` is "not p2p".
    A list-valued field passes when any element does.
    """

    field: FieldPath
    equals: Value | None = None
    in_: Annotated[Values | None, Field(alias="in")] = None
    prefix: StrictStr | None = None
    regex: Regex | None = None
    """Python `re.fullmatch` on a string value."""
    exists: StrictBool | None = None
    negate: StrictBool = False

    @model_validator(mode="after")
    def _check_one(self) -> Self:
        given = [self.equals, self.in_, self.prefix, self.regex, self.exists]
        if sum(value is not None for value in given) != 1:
            raise ValueError("give exactly one of equals, in, prefix, regex and exists")
        return self


class PathConfig(_Section):
    """How a message's path becomes the target's: strip one prefix, add another.

    A path outside `strip_prefix` is not this reactor's (ignored). Inside it, the rest is
    normalised; one that climbs out of it with `..`, holds control characters, starts with `-`
    or is longer than `max_bytes` is refused and dead-lettered (`esbridge.react.paths`).
    """

    field: FieldPath = "transferPath"
    strip_prefix: Annotated[str, AfterValidator(_absolute)]
    add_prefix: StrictStr = "/"
    only: Regex | None = None
    """Mapped paths that do not match this (whole path) are ignored, like unmatched messages."""
    max_bytes: Annotated[int, Field(ge=1)] = 4096


class RetryConfig(_Section):
    """When a failed run is tried again, and how often, before it fails for good."""

    attempts: Annotated[int, Field(ge=1, le=100)] = 5
    """Runs in all, the first included."""
    initial_backoff: Seconds = 5.0
    max_backoff: Seconds = 300.0
    exit_codes: tuple[StrictInt, ...] = ()
    output: tuple[Regex, ...] = ()
    """Patterns searched for in a run's output: e.g. NextCloud's `LockedException`."""

    @model_validator(mode="after")
    def _check_backoff(self) -> Self:
        if self.initial_backoff > self.max_backoff:
            raise LocatedError([(("initial_backoff",), "must not exceed max_backoff")])
        return self


def _argv(value: tuple[str, ...]) -> tuple[str, ...]:
    if not value or not value[0]:
        raise ValueError("must list the program and its arguments")
    return value


class CommandConfig(_Section):
    """A program run without a shell: `argv` is a list, `{placeholders}` filled per element."""

    argv: Annotated[tuple[StrictStr, ...], AfterValidator(_argv)]
    user: Account | None = None
    """Run as this account (name or uid): needs react to run as root; never through sudo."""
    group: Account | None = None
    """Default: the user's primary group."""
    timeout: Seconds = 600.0
    concurrency: Annotated[int, Field(ge=1, le=64)] = 1
    fail_output: tuple[Regex, ...] = ()
    """Output meaning failure whatever the exit code (`occ files:scan` long exited 0 on errors)."""
    retry: RetryConfig = RetryConfig()

    @model_validator(mode="after")
    def _check_group(self) -> Self:
        if self.group is not None and self.user is None:
            raise LocatedError([(("group",), "only used with user")])
        return self


class WebhookActionConfig(WebhookConfig):
    """A JSON POST per target; `body` values are templates, and together they are the target."""

    body: Mapping[Annotated[str, Field(min_length=1)], StrictStr] = {"path": "{path}"}
    concurrency: Annotated[int, Field(ge=1, le=64)] = 1
    retry: RetryConfig = RetryConfig()


class ActionConfig(_Section):
    """Exactly one of `command` and `webhook`."""

    command: CommandConfig | None = None
    webhook: WebhookActionConfig | None = None

    @model_validator(mode="after")
    def _check_one(self) -> Self:
        if (self.command is None) == (self.webhook is None):
            raise ValueError("give exactly one of command and webhook")
        return self

    @property
    def concurrency(self) -> int:
        spec = self.command or self.webhook
        assert spec is not None
        return spec.concurrency

    @property
    def retry(self) -> RetryConfig:
        spec = self.command or self.webhook
        assert spec is not None
        return spec.retry


class ReactorConfig(_Section):
    """One reactor: which messages (its producer's topics, `match`), what to run for them, and
    how long to gather events for the same target before running once (`coalesce`)."""

    name: Name
    producer: Name
    group_id: Annotated[str, Field(min_length=1)] | None = None
    """Its own consumer group; default `<kafka.group_id>-react-<name>`."""
    match: tuple[ConditionConfig, ...] = ()
    path: PathConfig | None = None
    fields: Mapping[StrictStr, FieldPath] = {}
    """More placeholders: name -> dotted field of the message (a string or number)."""
    action: ActionConfig
    coalesce: Annotated[float, BeforeValidator(parse_duration), Field(ge=0)] = 5.0
    """0: no waiting (events read in one poll still share a run)."""
    deadletter_index: IndexName = "esbridge-react-deadletter"

    @model_validator(mode="after")
    def _check_placeholders(self) -> Self:
        """Every placeholder a template names is one this reactor fills."""
        errors: list[tuple[Loc, str]] = []
        for name in self.fields:
            if _PLACEHOLDER.fullmatch(name) is None:
                errors.append((("fields",), "placeholder names are letters, digits and '_'"))
            elif self.path is not None and name in PATH_PLACEHOLDERS:
                errors.append((("fields",), f"{name} is already the path mapping's placeholder"))
        known = set(self.fields) | (PATH_PLACEHOLDERS if self.path is not None else set())
        templates: list[tuple[Loc, str]] = []
        if self.action.command is not None:
            templates = [
                (("action", "command", "argv", i), arg)
                for i, arg in enumerate(self.action.command.argv)
            ]
        elif self.action.webhook is not None:
            templates = [
                (("action", "webhook", "body", k), v) for k, v in self.action.webhook.body.items()
            ]
        blanks = dict.fromkeys(known, "")
        for loc, template in templates:
            try:
                render_command([template], blanks)
            except ValueError:  # its message quotes the template
                names = ", ".join(f"{{{n}}}" for n in sorted(known)) or "none (add path or fields)"
                errors.append(
                    (loc, f"placeholders here are {names}; write {{{{ and }}}} for braces")
                )
        if errors:
            raise LocatedError(errors)
        return self

    def consumer_group(self, base: str) -> str:
        """The consumer group this reactor commits in."""
        return self.group_id or f"{base}-react-{self.name}"
