"""benchmarks/ingest.py's arguments, its --json object and its rsyslog peer, without servers:
the figures come from made-up measurements, the shape and arithmetic are what is checked."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import orjson
import pytest

from tests.helpers.bench_scripts import benchmark_module

ingest = benchmark_module("ingest")
cpu = benchmark_module("cpu")
rsyslog = benchmark_module("peers.rsyslog")


def measurement(label: str, docs_per_s: float, client_us: float, es_us: float, **extra: Any):
    docs = 100_000
    seconds = docs / docs_per_s
    use = cpu.CpuUse(
        machine=(client_us + es_us) * docs / 1e6,
        busy=0.5,
        servers={"elasticsearch": es_us * docs / 1e6, "kafka": 1.0},
    )
    return ingest.Measurement(label, docs, seconds, client_us * docs / 1e6, use, dict(extra))


def results(engines: tuple[str, ...] = ("native", "python")) -> Any:
    made = ingest.Results(count=100_000, naive_count=1_000, seed=1)
    for layout, ceiling in (("isolated", 5_000.0), ("shared", 10_000.0)):
        made.raw[layout] = [
            measurement(f"raw 1 [{layout}]", ceiling, 3, 180, connections=1, doc_bytes=1_100),
            measurement(f"raw 2 [{layout}]", ceiling / 2, 3, 190, connections=2, doc_bytes=1_100),
        ]
        made.other_original[layout] = measurement(
            f"raw with [{layout}]", ceiling / 1.4, 2, 270, connections=1, doc_bytes=2_700
        )
        made.esbridge[layout] = {
            engine: {
                "confluent": measurement(
                    f"{engine} [{layout}]",
                    ceiling * share,
                    cost,
                    150,
                    client_cpu_us_per_message_after_first_commit=cost - 2,
                ),
            }
            for engine, share, cost in (("native", 0.96, 14), ("python", 0.8, 60))
            if engine in engines
        }
        made.peers[layout] = {
            "rsyslog": measurement(
                f"rsyslog [{layout}]",
                ceiling * 0.9,
                28,
                160,
                expected=100_000,
                delivered=100_000,
                delivered_all=True,
            )
        }
    made.naive = measurement("naive", 400, 900, 1_300)
    return made


def test_the_json_keeps_its_keys_and_heads_with_the_native_engine() -> None:
    data = ingest.summary(results())
    for key in ("ratio", "cpu_s_per_million", "raw_docs_per_s", "esbridge_docs_per_s", "by_layout"):
        assert key in data
    assert data["engine"] == "native"
    assert data["layout"] == "isolated"
    assert data["ratio"] == 0.96
    assert data["cpu_s_per_million"] == 14.0
    assert data["by_layout"]["shared"]["ratio_by_backend"] == {"confluent": 0.96}


def test_by_engine_holds_every_engine_in_every_layout_against_that_layouts_ceiling() -> None:
    by_engine = ingest.summary(results())["by_engine"]
    assert set(by_engine) == {"native", "python"}
    python_shared = by_engine["python"]["shared"]
    assert python_shared["ratio"] == 0.8
    assert python_shared["docs_per_s"] == 8_000
    assert python_shared["cpu_s_per_million"] == 60.0
    assert python_shared["es_cpu_us_per_doc"] == 150.0
    assert python_shared["client_cpu_us_per_message_after_first_commit"] == 58
    assert python_shared["backend"] == "confluent"
    assert set(python_shared["by_backend"]) == {"confluent"}


def test_the_headline_falls_back_to_python_when_native_was_not_measured() -> None:
    data = ingest.summary(results(engines=("python",)))
    assert data["engine"] == "python"
    assert data["ratio"] == 0.8
    assert set(data["by_engine"]) == {"python"}


def test_peers_report_their_cpu_per_document_and_whether_all_was_delivered() -> None:
    rsyslog_shared = ingest.summary(results())["peers"]["rsyslog"]["shared"]
    assert rsyslog_shared["client_cpu_us_per_message"] == 28.0
    assert rsyslog_shared["ratio"] == 0.9
    assert rsyslog_shared["delivered_all"] is True


def test_event_original_compares_elasticsearch_cpu_and_sizes_on_the_same_connections() -> None:
    isolated = ingest.summary(results())["event_original"]["isolated"]
    assert isolated["without"] == {
        "docs_per_s": 5_000,
        "es_cpu_us_per_doc": 180.0,
        "doc_bytes": 1_100,
    }
    assert isolated["with"]["es_cpu_us_per_doc"] == 270.0
    assert isolated["connections"] == 1
    assert isolated["esbridge_sends_it"] is False
    assert isolated["es_cpu_with_over_without"] == 1.5


def test_event_original_sides_follow_what_esbridge_sends() -> None:
    made = results()
    made.ceiling_keeps_original = True
    isolated = ingest.summary(made)["event_original"]["isolated"]
    assert isolated["with"]["es_cpu_us_per_doc"] == 180.0
    assert isolated["without"]["es_cpu_us_per_doc"] == 270.0


def test_every_phase_is_in_the_table_and_the_measurements() -> None:
    made = results()
    data = ingest.summary(made)
    labels = [m["label"] for m in data["measurements"]]
    assert "rsyslog [shared]" in labels
    assert "raw with [isolated]" in labels
    assert "native [shared]" in labels
    assert "rsyslog" in ingest.table(made, data)


def test_document_sizes_are_the_source_lines() -> None:
    action = b'{"create":{"_index":"x-billing","_id":"a-0-1"}}'
    source = orjson.dumps({"msgType": "transfer", "event": {"hash": "h"}})
    body = (action + b"\n" + source + b"\n") * 3
    assert ingest.mean_doc_bytes([body, body]) == len(source)


@pytest.mark.parametrize(
    ("argv", "engines", "peers"),
    [
        (["--engines", "python"], ["python"], []),
        (["--engines", "native,python", "--peers", "rsyslog"], ["native", "python"], ["rsyslog"]),
    ],
)
def test_engines_and_peers_are_parsed(
    argv: list[str], engines: list[str], peers: list[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(ingest, "native_module", object)
    monkeypatch.setattr(ingest, "rsyslogd_problem", lambda: None)
    options = ingest.parse_args(argv)
    assert options.engines == engines
    assert options.peers == peers


def test_both_engines_are_the_default_where_the_extension_is_built(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(ingest, "native_module", object)
    assert ingest.parse_args([]).engines == ["native", "python"]
    monkeypatch.setattr(ingest, "native_module", lambda: None)
    assert ingest.parse_args([]).engines == ["python"]


@pytest.mark.parametrize("argv", [["--engines", "rust"], ["--peers", "vector"]])
def test_unknown_engines_and_peers_are_refused(argv: list[str]) -> None:
    with pytest.raises(SystemExit) as stop:
        ingest.parse_args(argv)
    assert stop.value.code == 2


def test_native_is_refused_when_the_extension_is_not_built(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setattr(ingest, "native_module", lambda: None)
    with pytest.raises(SystemExit):
        ingest.parse_args(["--engines", "native"])
    assert "esbridge._native is not built" in capsys.readouterr().err


def test_rsyslog_is_refused_with_the_reason_when_it_cannot_run(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setattr(ingest, "rsyslogd_problem", lambda: "rsyslogd is not installed")
    with pytest.raises(SystemExit):
        ingest.parse_args(["--engines", "python", "--peers", "rsyslog"])
    assert "rsyslogd is not installed" in capsys.readouterr().err


def test_the_rsyslog_instance_is_private_and_passes_the_json_through(tmp_path: Path) -> None:
    setup = rsyslog.RsyslogSetup(
        tmp_path, "t-billing", "127.0.0.1:9092", "g", "127.0.0.1", 9200, "i"
    )
    setup.pid_path.parent.mkdir(parents=True, exist_ok=True)
    setup.pid_path.write_text("12345")  # a stale pid file from a killed run
    setup.write()
    config = setup.config_path.read_text()
    assert not setup.pid_path.exists()
    assert 'topic="t-billing"' in config
    assert 'consumergroup="g"' in config
    assert 'string="%msg%"' in config
    assert 'bulkmode="on"' in config
    assert 'searchIndex="i"' in config
    assert "imuxsock" not in config
    assert "imjournal" not in config
    assert f'workDirectory="{tmp_path / "spool"}"' in config
    command = setup.command("/usr/sbin/rsyslogd")
    assert command[1:] == ["-n", "-f", str(setup.config_path), "-i", str(setup.pid_path)]
