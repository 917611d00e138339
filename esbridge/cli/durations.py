"""A click parameter type for durations written as in the config (`30d`, `1h`, `90s`)."""

from __future__ import annotations

import click

from esbridge.config.units import parse_duration


class Duration(click.ParamType[float]):
    """Seconds, from `parse_duration`'s notation."""

    name = "duration"

    def convert(
        self, value: object, param: click.Parameter | None, ctx: click.Context | None
    ) -> float:
        if isinstance(value, float):
            return value
        try:
            return parse_duration(value)
        except ValueError as exc:
            self.fail(str(exc), param, ctx)


DURATION = Duration()
