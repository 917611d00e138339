"""The metrics table of docs/operations.md, rendered from `declare.SPECS` (a test holds the
page to it): `python -m esbridge.metrics.docs` prints it."""

from __future__ import annotations

from esbridge.metrics.declare import SPECS

BEGIN = "<!-- metrics table: rendered by esbridge/metrics/docs.py -->"
END = "<!-- end of metrics table -->"


def table() -> str:
    lines = [BEGIN, "", "| metric | type | labels | daemon | meaning |", "|---|---|---|---|---|"]
    for spec in SPECS:
        labels = ", ".join(f"`{label}`" for label in spec.labels) or "-"
        daemon = "every daemon" if spec.daemon == "all" else spec.daemon
        lines.append(f"| `{spec.name}` | {spec.kind} | {labels} | {daemon} | {spec.help} |")
    return "\n".join([*lines, "", END])


if __name__ == "__main__":
    print(table())
