"""The frontend client against the stand-in dCache frontend over real TLS: certificate
verification, and each login kind (Basic, bearer token, X.509 client certificate) as dCache's
AuthenticationHandler would accept or refuse it."""

from __future__ import annotations

import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from esbridge.config.poll import PollConfig
from esbridge.errors import EsbridgeError
from esbridge.poll.client import FrontendError, HttpFrontend
from tests.helpers.dcache_frontend import (
    Frontend,
    Route,
    basic_login,
    dcache_frontend,
    make_certificate,
    new_server_usage,
    pool_entry,
    pools_answer,
    server_tls,
    usage_path,
)

ROUTES = {
    "/api/v1/pools": pools_answer([pool_entry("p1", ["default"], [])]),
    usage_path("p1"): Route(new_server_usage("p1", domain="d")),
    usage_path("slow"): Route({}, delay=2.0),
}


@pytest.fixture(scope="module")
def certs(tmp_path_factory: pytest.TempPathFactory) -> dict[str, tuple[Path, Path]]:
    folder = tmp_path_factory.mktemp("poll-tls")
    try:
        return {name: make_certificate(folder, name) for name in ("frontend", "client", "other")}
    except (OSError, subprocess.CalledProcessError) as exc:
        pytest.skip(f"cannot make test certificates with openssl: {exc}")


def client(frontend: Frontend, **settings: Any) -> HttpFrontend:
    return HttpFrontend(PollConfig(url=frontend.url, **settings))


@pytest.fixture
def basic(certs: dict[str, tuple[Path, Path]]) -> Iterator[Frontend]:
    tls = server_tls(certs["frontend"])
    with dcache_frontend(ROUTES, tls=tls, login=basic_login("esbridge", "s3cret")) as running:
        yield running


def test_the_sites_ca_verifies_the_frontend(
    basic: Frontend, certs: dict[str, tuple[Path, Path]]
) -> None:
    with client(
        basic, username="esbridge", password="s3cret", ca_certs=certs["frontend"][0]
    ) as frontend:
        assert frontend.list_pools().body == [{"name": "p1", "groups": ["default"], "links": []}]
        assert "poolData" in frontend.usage("p1").body


def test_an_untrusted_frontend_certificate_is_a_tls_failure(basic: Frontend) -> None:
    with (
        client(basic, username="esbridge", password="s3cret") as frontend,
        pytest.raises(FrontendError) as caught,
    ):
        frontend.list_pools()

    assert caught.value.kind == "tls"
    assert "certificate verify failed" in str(caught.value)


def test_verify_certs_false_accepts_any_certificate(basic: Frontend) -> None:
    with client(basic, username="esbridge", password="s3cret", verify_certs=False) as frontend:
        assert frontend.list_pools().body[0]["name"] == "p1"


def test_a_wrong_password_is_an_auth_failure(
    basic: Frontend, certs: dict[str, tuple[Path, Path]]
) -> None:
    with (
        client(basic, username="esbridge", password="nope", ca_certs=certs["frontend"][0]) as f,
        pytest.raises(FrontendError) as caught,
    ):
        f.list_pools()

    assert caught.value.kind == "auth" and "HTTP 401" in str(caught.value)


def test_a_slow_answer_is_a_timeout(basic: Frontend, certs: dict[str, tuple[Path, Path]]) -> None:
    settings = {"username": "esbridge", "password": "s3cret", "timeout": 0.5}
    with (
        client(basic, ca_certs=certs["frontend"][0], **settings) as frontend,
        pytest.raises(FrontendError) as caught,
    ):
        frontend.usage("slow")

    assert caught.value.kind == "timeout"


def test_a_bearer_token_from_the_token_file(
    certs: dict[str, tuple[Path, Path]], tmp_path: Path
) -> None:
    token = tmp_path / "token"
    token.write_text("macaroon-abc\n")
    login = lambda auth, _cert: auth == "Bearer macaroon-abc"  # noqa: E731
    tls = server_tls(certs["frontend"])
    with dcache_frontend(ROUTES, tls=tls, login=login) as running:
        with client(running, token_file=token, ca_certs=certs["frontend"][0]) as frontend:
            assert frontend.list_pools().body[0]["name"] == "p1"
        token.write_text("expired")
        with (
            client(running, token_file=token, ca_certs=certs["frontend"][0]) as frontend,
            pytest.raises(FrontendError, match=r"poll\.token_file"),
        ):
            frontend.list_pools()


def test_an_x509_client_certificate_logs_in(certs: dict[str, tuple[Path, Path]]) -> None:
    cert, key = certs["client"]
    tls = server_tls(certs["frontend"], client_ca=cert)
    with dcache_frontend(ROUTES, tls=tls, login=lambda _auth, has_cert: has_cert) as running:
        ca = certs["frontend"][0]
        with client(running, certfile=cert, keyfile=key, ca_certs=ca) as frontend:
            assert frontend.list_pools().body[0]["name"] == "p1"
        with client(running, ca_certs=ca) as anonymous, pytest.raises(FrontendError) as caught:
            anonymous.list_pools()
        assert caught.value.kind == "auth"
        assert "anonymous request" in str(caught.value)


def test_a_key_that_does_not_match_the_certificate_is_a_clear_error(
    certs: dict[str, tuple[Path, Path]],
) -> None:
    config = PollConfig(
        url="https://127.0.0.1:1", certfile=certs["client"][0], keyfile=certs["other"][1]
    )

    with pytest.raises(EsbridgeError, match=r"poll\.certfile/keyfile cannot be used"):
        HttpFrontend(config)
