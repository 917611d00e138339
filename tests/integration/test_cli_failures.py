"""Every command that talks to the search engine, given a closed port, a wrong password or a
CA that did not sign the node's certificate: exit 1, the endpoint and what to check in one
line, no traceback. Against the session's secured Elasticsearch node (tests/helpers/secure.py)."""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from esbridge.stack.process import free_port
from tests.helpers.secure import ES_FAILURES, PASSWORD, SmallRequestsNode, broken_es_config
from tests.helpers.sites import Site, make_site, remove_site
from tests.helpers.watching import watch_section

pytestmark = pytest.mark.integration

COMMANDS = {
    "setup": ["setup"],
    "maintain": ["maintain"],
    "ingest": ["ingest", "--idle-exit", "2"],
    "watch": ["watch", "--once"],
    "issues": ["issues", "list"],
    "check": ["check"],
}


@pytest.fixture(scope="module")
def secured(
    tmp_path_factory: pytest.TempPathFactory, secure_es: SmallRequestsNode, kafka_bootstrap: str
) -> Iterator[Site]:
    """A site set up on the secured node; the failing configs are variants of its config."""
    credentials = f'username: elastic\npassword: "{PASSWORD}"\nca_certs: {secure_es.ca}\n'
    made = make_site(
        tmp_path_factory.mktemp("secured"),
        kafka_bootstrap,
        secure_es.url,
        watch_section(free_port()),
        sections={
            "elasticsearch": credentials,
            "ingest": "max_message_bytes: 8kb\nconnect_timeout: 3s\nauth_failure_timeout: 2s\n",
        },
        connect={"username": "elastic", "password": PASSWORD, "ca_certs": str(secure_es.ca)},
    )
    yield made
    remove_site(made)


@pytest.mark.parametrize("failure", ES_FAILURES)
@pytest.mark.parametrize("command", COMMANDS)
def test_a_command_that_cannot_use_the_cluster_says_why_in_one_line(
    command: str, failure: str, secured: Site, secure_es: SmallRequestsNode, tmp_path: Path
) -> None:
    config, endpoint = broken_es_config(secured.config_path, secure_es, failure, tmp_path)

    result = subprocess.run(
        [sys.executable, "-m", "esbridge", *COMMANDS[command], "-c", str(config)],
        capture_output=True, text=True, timeout=120, check=False,
    )  # fmt: skip

    output = result.stdout + result.stderr
    assert result.returncode == 1, output[-2000:]
    assert "Traceback" not in output
    if command == "check":  # one verdict per endpoint, not an error
        line = next(line for line in result.stdout.splitlines() if line.startswith("search "))
        assert ": FAIL (" in line
    else:
        errors = [line for line in result.stderr.splitlines() if line.startswith("Error: ")]
        assert len(errors) == 1, result.stderr[-2000:]
        line = errors[0]
    assert endpoint in line, line
    expected = {
        "closed port": "elasticsearch.hosts" if command == "ingest" else "Connection",
        "wrong password": "401",
        "wrong CA": "ca_certs",
    }[failure]
    assert expected in line, line
