"""The systemd units under pipelines/systemd/: one per daemon, hardened, and accepted by both
systemd (`systemd-analyze verify`) and esbridge's own command line."""

from __future__ import annotations

import configparser
import re
import shlex
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from esbridge.cli import main
from esbridge.cli.daemons import DAEMONS
from tests.helpers.paths import REPO

UNITS = REPO / "pipelines" / "systemd"
BINARY = "/opt/esbridge/bin/esbridge"
HARDENING = {
    "NoNewPrivileges": "yes",
    "ProtectSystem": "strict",
    "ProtectHome": "yes",
    "PrivateTmp": "yes",
    "Restart": "on-failure",
    "UMask": "0077",
}
MAX_EXPOSURE = 2.0  # systemd-analyze security: 0 is locked down, 10 is fully exposed
needs_systemd = pytest.mark.skipif(
    shutil.which("systemd-analyze") is None, reason="systemd-analyze is not installed"
)


def unit_path(daemon: str) -> Path:
    return UNITS / f"esbridge-{daemon}@.service"


def read_unit(path: Path) -> configparser.ConfigParser:
    parser = configparser.ConfigParser(strict=False, interpolation=None)
    parser.optionxform = str  # type: ignore[assignment,method-assign]
    parser.read(path, encoding="utf-8")
    return parser


def instance(path: Path, tmp_path: Path) -> Path:
    """The unit as instance `dcache`, running this checkout's esbridge."""
    text = path.read_text(encoding="utf-8").replace(
        BINARY, str(Path(sys.executable).parent / "esbridge")
    )
    made = tmp_path / path.name.replace("@.", "@dcache.")
    made.write_text(text, encoding="utf-8")
    return made


def test_every_daemon_has_a_unit_and_every_unit_is_a_daemons() -> None:
    found = {p.name for p in UNITS.glob("*.service")}
    assert found == {unit_path(d).name for d in DAEMONS}


@pytest.mark.parametrize("daemon", DAEMONS)
def test_the_unit_is_hardened_restarts_with_back_off_and_reads_secrets_from_a_file(
    daemon: str,
) -> None:
    unit = read_unit(unit_path(daemon))
    service = unit["Service"]
    assert {key: service.get(key) for key in HARDENING} == HARDENING
    assert service.get("User") or service.get("DynamicUser") == "yes"
    assert service.get("EnvironmentFile") == "-/etc/esbridge/%i.env"
    assert float(service["RestartSec"]) >= 5
    assert int(unit["Unit"]["StartLimitBurst"]) >= 1
    assert service.get("CapabilityBoundingSet") == ""


@pytest.mark.parametrize("daemon", DAEMONS)
def test_execstart_is_a_command_line_esbridge_accepts(daemon: str, tmp_path: Path) -> None:
    exec_start = read_unit(unit_path(daemon))["Service"]["ExecStart"]
    binary, command, *args = shlex.split(exec_start)
    assert (binary, command) == (BINARY, daemon)
    config = tmp_path / "dcache.yml"
    config.touch()
    args = [str(config) if a == "/etc/esbridge/%i.yml" else a for a in args]
    assert str(config) in args, "the unit reads /etc/esbridge/<instance>.yml"
    with main.make_context("esbridge", [command, *args]) as ctx:
        sub = main.get_command(ctx, command)
        assert sub is not None
        sub.make_context(command, args, parent=ctx)  # raises on an option esbridge does not know


@needs_systemd
@pytest.mark.parametrize("daemon", DAEMONS)
def test_systemd_accepts_the_unit(daemon: str, tmp_path: Path) -> None:
    made = instance(unit_path(daemon), tmp_path)
    result = subprocess.run(
        ["systemd-analyze", "verify", str(made)], capture_output=True, text=True, check=False
    )
    assert result.returncode == 0 and not result.stderr.strip(), result.stderr


@needs_systemd
@pytest.mark.parametrize("daemon", DAEMONS)
def test_the_units_exposure_is_low(daemon: str, tmp_path: Path) -> None:
    made = instance(unit_path(daemon), tmp_path)
    result = subprocess.run(
        ["systemd-analyze", "security", "--offline=yes", str(made)],
        capture_output=True, text=True, check=False,
    )  # fmt: skip
    found = re.search(r"Overall exposure level for \S+: ([\d.]+)", result.stdout + result.stderr)
    assert found is not None, result.stdout + result.stderr
    assert float(found.group(1)) <= MAX_EXPOSURE
