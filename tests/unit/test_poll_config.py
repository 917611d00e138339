"""The `poll:` section: the example, defaults, one login kind, errors at their key."""

from __future__ import annotations

from pathlib import Path

import pytest

from esbridge.config import ConfigError, load_config
from esbridge.config.poll import PollConfig
from tests.helpers.configs import MINIMAL as BASE
from tests.helpers.paths import EXAMPLE_CONFIG as EXAMPLE

MINIMAL = BASE + "poll:\n  url: https://dcache.example.org:3880\n"
# Line 10 is `poll:`, line 11 its url; further keys start on line 12.


@pytest.fixture
def secret_file(tmp_path: Path) -> Path:
    path = tmp_path / "token"
    path.write_text("eyJhbGciOi.token.sig\n", encoding="utf-8")
    return path


def load(tmp_path: Path, section: str = "") -> PollConfig:
    path = tmp_path / "esbridge.yml"
    path.write_text(MINIMAL + section, encoding="utf-8")
    poll = load_config(path, {}).poll
    assert poll is not None
    return poll


def load_error(tmp_path: Path, section: str) -> str:
    with pytest.raises(ConfigError) as caught:
        load(tmp_path, section)
    return str(caught.value).replace(f"{tmp_path / 'esbridge.yml'}:", "")


def test_example_polls_the_frontend_the_environment_names() -> None:
    poll = load_config(EXAMPLE, {}).poll
    assert poll is not None
    assert poll.url == "https://127.0.0.1:3880"
    assert (poll.interval, poll.topic, poll.auth_kind) == (900.0, "dcache-poolinfo", None)

    poll = load_config(EXAMPLE, {"ESBRIDGE_DCACHE_URL": "https://dcache.desy.de:3880"}).poll
    assert poll is not None and poll.url == "https://dcache.desy.de:3880"


def test_defaults_are_fifteen_minutes_to_the_poolinfo_topic(tmp_path: Path) -> None:
    poll = load(tmp_path)

    assert (poll.interval, poll.timeout, poll.concurrency) == (900.0, 30.0, 8)
    assert (poll.topic, poll.verify_certs, poll.auth_kind) == ("dcache-poolinfo", True, None)


def test_durations_take_units(tmp_path: Path) -> None:
    poll = load(tmp_path, "  interval: 5m\n  timeout: 1500ms\n")

    assert (poll.interval, poll.timeout) == (300.0, 1.5)


@pytest.mark.parametrize(
    ("section", "kind"),
    [
        ("  username: esbridge\n  password: s3cret\n", "basic"),
        ("  token_file: {token}\n", "bearer"),
        ("  certfile: {token}\n", "x509"),
        ("  certfile: {token}\n  keyfile: {token}\n", "x509"),
    ],
)
def test_each_login_kind_alone_is_accepted(
    tmp_path: Path, secret_file: Path, section: str, kind: str
) -> None:
    assert load(tmp_path, section.format(token=secret_file)).auth_kind == kind


@pytest.mark.parametrize(
    ("section", "error"),
    [
        (
            "  username: esbridge\n  password: s3cret\n  token_file: {token}\n",
            "14: poll.token_file: use one of username/password, token_file or certfile/keyfile, "
            "not several",
        ),
        (
            "  token_file: {token}\n  certfile: {token}\n",
            "13: poll.certfile: use one of username/password, token_file or certfile/keyfile, "
            "not several",
        ),
        ("  username: esbridge\n", "10: poll.password: required with username"),
        ("  password: s3cret\n", "10: poll.username: required with password"),
        ("  keyfile: {token}\n", "12: poll.keyfile: only used with certfile"),
        ("  verify_certs: false\n  ca_certs: {token}\n", "13: poll.ca_certs: not used with"),
        ("  token_file: /no/such/token\n", "12: poll.token_file: no such file"),
        ("  interval: soon\n", "12: poll.interval: expected seconds as a number or a duration"),
        ("  concurrency: 0\n", "12: poll.concurrency:"),
        ("  topic: 'a topic'\n", "12: poll.topic: expected a Kafka topic name"),
        ("  urls: x\n", "12: poll.urls: unknown key"),
    ],
)
def test_a_bad_poll_key_is_named_with_its_line(
    tmp_path: Path, secret_file: Path, section: str, error: str
) -> None:
    assert error in load_error(tmp_path, section.format(token=secret_file))


def test_a_client_certificate_over_plain_http_is_refused(tmp_path: Path, secret_file: Path) -> None:
    path = tmp_path / "esbridge.yml"
    path.write_text(BASE + f"poll:\n  url: http://dcache:3880\n  certfile: {secret_file}\n")

    with pytest.raises(ConfigError, match=r":12: poll.certfile: only used with an https:// url"):
        load_config(path, {})


@pytest.mark.parametrize(
    ("url", "error"),
    [
        ("dcache:3880", "expected an http:// or https:// URL with a host"),
        ("https://admin:pw@dcache:3880", "put credentials in poll.username/password"),
    ],
)
def test_a_bad_url_is_refused_without_echoing_it(tmp_path: Path, url: str, error: str) -> None:
    path = tmp_path / "esbridge.yml"
    path.write_text(BASE + f"poll:\n  url: {url}\n")

    with pytest.raises(ConfigError) as caught:
        load_config(path, {})

    assert f":11: poll.url: {error}" in str(caught.value)
    assert "pw@" not in str(caught.value)
