"""`ingest.engine`: native by default when the extension is built, Python otherwise, and said."""

from __future__ import annotations

import logging
from pathlib import Path
from types import ModuleType

import pytest

from esbridge.config import Config, load_config
from esbridge.errors import EsbridgeError
from esbridge.ingest.engine import select_encoder
from tests.helpers.configs import MINIMAL

LOGS_PRODUCER = """\
  - name: logs
    topics: [logs]
    parser: logs
    index: dcache-logs
"""


def config_with(tmp_path: Path, engine: str | None, extra: str = "") -> Config:
    text = MINIMAL + extra
    if engine is not None:
        text += f"ingest:\n  engine: {engine}\n"
    path = tmp_path / "esbridge.yml"
    path.write_text(text, encoding="utf-8")
    return load_config(path, {})


FAKE_NATIVE = ModuleType("esbridge._native")


def test_native_is_the_default_when_built_and_the_log_names_the_native_producers(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, "esbridge.ingest")
    encoder = select_encoder(config_with(tmp_path, None, LOGS_PRODUCER), FAKE_NATIVE)
    assert encoder.engine == "native"
    assert "ingest engine: native for billing,logs; python for -\n" in caplog.text


def test_python_when_configured(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.INFO, "esbridge.ingest")
    assert select_encoder(config_with(tmp_path, "python"), FAKE_NATIVE).engine == "python"
    assert "ingest engine: python for every producer (ingest.engine: python)" in caplog.text


def test_native_asked_for_but_not_built_is_one_clear_error(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr("esbridge.ingest.engine.native_module", lambda: None)
    assert select_encoder(config_with(tmp_path, None)).engine == "python"
    with pytest.raises(EsbridgeError, match=r"esbridge\._native is not built"):
        select_encoder(config_with(tmp_path, "native"))


def test_an_unknown_engine_is_a_config_error(tmp_path: Path) -> None:
    with pytest.raises(Exception, match="engine"):
        config_with(tmp_path, "rust")
