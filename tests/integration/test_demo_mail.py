"""The demo's path (simulate with incidents, ingest, one watch cycle) ends in a digest mail."""

from __future__ import annotations

import json

import pytest
from click.testing import CliRunner

from esbridge.cli import main
from tests.helpers.sites import Site
from tests.helpers.watching import Mailbox

pytestmark = pytest.mark.integration


def run(site: Site, *args: str) -> str:
    result = CliRunner().invoke(main, [*args, "-c", str(site.config_path)], catch_exceptions=False)
    assert result.exit_code == 0, result.output
    return result.stdout


def test_a_backdated_simulation_leaves_an_incident_open_and_the_watcher_mails_it(
    watched: Site, mailbox: tuple[Mailbox, int]
) -> None:
    report = json.loads(
        run(watched, "simulate", "--rate", "0", "--count", "4000", "--incidents", "--backdate",
            "1h", "--json")
    )  # fmt: skip
    still_open = [i["pool"] for i in report["incidents"] if not i["resolved"]]
    assert still_open, report["incidents"]
    assert watched.ingest()[0] == 0

    run(watched, "watch", "--once", "--since", "24h")

    box = mailbox[0]
    assert len(box.messages) == 1
    text = box.texts()[0]
    assert all(pool in text for pool in still_open), text
