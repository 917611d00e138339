"""The token bucket paces sends to the rate asked for, and the command line connects as ingest
does (sending itself is tested on the broker)."""

from __future__ import annotations

import importlib
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner

from esbridge.config import load_config
from esbridge.ingest.kafka.settings import kafka_python_settings
from esbridge.simulate import SendReport, SimulationReport, TokenBucket
from tests.helpers.configs import MINIMAL

cli_simulate = importlib.import_module("esbridge.cli.simulate")  # the package exports the command

TOPICS = {"billing": "t-billing", "logs": "t-logs"}


class FakeClock:
    def __init__(self) -> None:
        self.now = 100.0
        self.sleeps: list[float] = []

    def __call__(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.sleeps.append(seconds)
        self.now += seconds


@pytest.mark.parametrize("rate", [0.5, 100.0, 50_000.0])
def test_token_bucket_paces_to_the_rate(rate: float) -> None:
    clock = FakeClock()
    bucket = TokenBucket(rate, clock=clock, sleep=clock.sleep)
    takes = int(rate * 10) + 1

    for _ in range(takes):
        bucket.take()

    assert clock.now - 100.0 == pytest.approx(10.0, rel=0.01)
    assert min(clock.sleeps) >= min(0.002, 1 / rate)  # no busy micro-sleeps at high rates


def test_token_bucket_allows_a_short_burst_after_idling() -> None:
    clock = FakeClock()
    bucket = TokenBucket(100.0, clock=clock, sleep=clock.sleep)
    clock.now += 60.0  # idle for a minute: at most a tenth of a second is saved up
    for _ in range(10):
        bucket.take()
    assert clock.sleeps == []
    bucket.take()
    bucket.take()
    assert clock.sleeps


def test_token_bucket_refuses_a_non_positive_rate() -> None:
    with pytest.raises(ValueError, match="positive"):
        TokenBucket(0)


def test_simulate_connects_with_ingests_client_settings(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """SASL and TLS settings reach the producer, from the very function ingest's consumer uses."""
    ca = tmp_path / "ca.pem"
    ca.write_text("-----BEGIN CERTIFICATE-----\n")
    path = tmp_path / "esbridge.yml"
    path.write_text(
        MINIMAL.replace(
            "kafka:\n",
            "kafka:\n  security_protocol: SASL_SSL\n  sasl_mechanism: SCRAM-SHA-512\n"
            f"  sasl_username: esbridge\n  sasl_password: s3cret\n  ssl_cafile: {ca}\n"
            "  connect_timeout: 20s\n",
        )
    )
    calls: list[dict[str, Any]] = []

    def fake_run(*args: Any, **kwargs: Any) -> SimulationReport:
        calls.append(kwargs)
        return SimulationReport(SendReport({"billing": 1}, 2, 1.0), [])

    monkeypatch.setattr(cli_simulate, "run_simulation", fake_run)

    result = CliRunner().invoke(cli_simulate.simulate, ["-c", str(path), "--count", "1"])

    assert result.exit_code == 0, result.output
    [kwargs] = calls
    assert kwargs["producer_config"] == kafka_python_settings(load_config(path, {}).kafka)
    assert kwargs["producer_config"]["sasl_plain_password"] == "s3cret"
    assert kwargs["producer_config"]["ssl_cafile"] == str(ca)
    assert kwargs["producer_config"]["bootstrap_timeout_ms"] == 20000
