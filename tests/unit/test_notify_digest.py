"""The digest operators read: columns, order, the cap with its total, the legend, and escaping."""

from __future__ import annotations

import html
from datetime import UTC, datetime, timedelta, timezone

import pytest

from esbridge.notify import COLUMNS, STATUS_LEGEND, Row, build_digest
from esbridge.watch.lifecycle import STATUSES

NOW = datetime(2025, 3, 1, 12, 0, tzinfo=UTC)


def row(
    status: str = "unresolved",
    *,
    pool: str = "pool-a",
    minutes_ago: int = 0,
    message: str = "Pool mode changed to disabled",
    new: bool = False,
) -> Row:
    return Row(
        pool_domain=f"{pool}Domain",
        pool_group="cms-disk",
        status=status,
        type="pool-disabled",
        message=message,
        latest=NOW - timedelta(minutes=minutes_ago),
        subject=pool,
        new=new,
    )


def test_legend_names_all_eight_statuses_of_the_lifecycle() -> None:
    assert len(STATUSES) == 8
    assert set(STATUS_LEGEND) == set(STATUSES)
    assert STATUS_LEGEND["oddity"] == "self-resolving, and never mailed on its own"


def test_text_table_has_the_six_columns_in_order_and_aligned() -> None:
    digest = build_digest(
        [row(pool="p1"), row(pool="a-much-longer-pool-name")],
        total=2,
        max_rows=300,
        now=NOW,
        prefix="[esbridge]",
    )
    lines = digest.text.splitlines()
    header = next(line for line in lines if line.startswith("Pool Domain"))
    positions = [header.index(name) for name in COLUMNS]
    assert positions == sorted(positions)
    body = [line for line in lines if "cms-disk" in line]
    assert len(body) == 2
    assert {line.index("cms-disk") for line in body} == {header.index("Pool Group")}
    assert {line.index("2025-03-01 12:00:00 UTC") for line in body} == {
        header.index("Date of latest occurrence")
    }


def test_rows_sort_by_status_severity_then_latest_first() -> None:
    rows = [
        row("resolved", pool="r", minutes_ago=1),
        row("unresolved", pool="u-old", minutes_ago=50),
        row("no-delay", pool="n", minutes_ago=99),
        row("unresolved", pool="u-new", minutes_ago=5),
        row("oddity", pool="o"),
    ]
    digest = build_digest(rows, total=5, max_rows=300, now=NOW, prefix="[esbridge]")

    assert [r.subject for r in digest.rows] == ["n", "u-new", "u-old", "o", "r"]


def test_table_is_capped_and_states_the_total() -> None:
    rows = [row("stale", pool=f"pool{i}", minutes_ago=i) for i in range(1779)]
    digest = build_digest(rows, total=1779, max_rows=300, now=NOW, prefix="[esbridge]")

    assert len(digest.rows) == 300
    assert digest.rows[0].subject == "pool0"
    assert digest.total == 1779
    for body in (digest.text, digest.html):
        assert "showing 300 of 1779 issues" in body
        assert body.count("pool299Domain") == 1
        assert "pool300Domain" not in body


def test_total_may_exceed_the_rows_given_but_not_fall_short() -> None:
    digest = build_digest([row()], total=40, max_rows=300, now=NOW, prefix="[esbridge]")
    assert "showing 1 of 40 issues" in digest.text

    with pytest.raises(ValueError, match="total"):
        build_digest([row(), row()], total=1, max_rows=300, now=NOW, prefix="[esbridge]")


def test_subject_counts_new_resolved_and_open() -> None:
    rows = [
        row(new=True),
        row(new=True),
        row("no-delay", new=True),
        row("resolved"),
        row("finalized"),
        row("stale"),
    ]
    digest = build_digest(rows, total=6, max_rows=300, now=NOW, prefix="[esbridge]")

    assert digest.subject == "[esbridge] 3 new, 2 resolved, 4 open — dCache issues"


def test_both_bodies_carry_the_legend_and_the_generation_time() -> None:
    digest = build_digest([row()], total=1, max_rows=300, now=NOW, prefix="[esbridge]")

    for body, escape in ((digest.text, str), (digest.html, html.escape)):
        for status in STATUSES:
            assert status in body
            assert escape(STATUS_LEGEND[status]) in body
        assert "treated as self-resolving after a TTL" in body
        assert "Generated 2025-03-01 12:00:00 UTC." in body


def test_a_custom_legend_replaces_the_default() -> None:
    legend = {**STATUS_LEGEND, "stale": "unresolved for longer than 14 days"}
    digest = build_digest([row()], total=1, max_rows=300, now=NOW, prefix="", legend=legend)

    assert "longer than 14 days" in digest.text
    assert "longer than N days" not in digest.html
    assert digest.subject == "0 new, 0 resolved, 1 open — dCache issues"


def test_hostile_values_are_escaped_in_html() -> None:
    hostile = row(pool="<script>alert(1)</script>", message='"><img src=x onerror=alert(1)> & co')
    digest = build_digest([hostile], total=1, max_rows=300, now=NOW, prefix="[esbridge]")

    assert "<script>" not in digest.html
    assert "&lt;script&gt;alert(1)&lt;/script&gt;Domain" in digest.html
    assert "<img" not in digest.html
    assert "&quot;&gt;&lt;img src=x onerror=alert(1)&gt; &amp; co" in digest.html
    assert "<script>alert(1)</script>Domain" in digest.text


def test_cells_are_one_line_without_control_characters_and_capped() -> None:
    messages = ["first line\nsecond\tline\x1b[31m", "x" * 1000]
    rows = [row(message=message, minutes_ago=i) for i, message in enumerate(messages)]
    digest = build_digest(rows, total=2, max_rows=300, now=NOW, prefix="[esbridge]")

    assert "first line second line [31m" in digest.text
    assert "\x1b" not in digest.text + digest.html
    assert "x" * 199 + "…" in digest.text
    assert "x" * 200 not in digest.text


def test_dates_are_shown_in_utc() -> None:
    berlin = timezone(timedelta(hours=1))
    local = Row("d", "g", "unresolved", "t", "m", datetime(2025, 3, 1, 13, 0, tzinfo=berlin), "s")
    digest = build_digest([local], total=1, max_rows=300, now=NOW, prefix="[esbridge]")

    assert "2025-03-01 12:00:00 UTC" in digest.text


def test_a_naive_date_is_refused() -> None:
    with pytest.raises(ValueError, match="timezone-aware"):
        Row("d", "g", "unresolved", "t", "m", datetime(2025, 3, 1), "s")
