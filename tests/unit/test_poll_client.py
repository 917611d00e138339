"""The frontend client over httpx's MockTransport: what it sends (login, quoted paths) and how
each way a request fails becomes a FrontendError kind."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
import pytest

from esbridge.config.poll import PollConfig
from esbridge.poll.client import FrontendError, HttpFrontend, last_modified

URL = "https://dcache.example.org:3880"


def frontend(handler: Any, **settings: Any) -> tuple[HttpFrontend, list[httpx.Request]]:
    seen: list[httpx.Request] = []

    def record(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        result: httpx.Response = handler(request)
        return result

    config = PollConfig(url=URL, **settings)
    return HttpFrontend(config, transport=httpx.MockTransport(record)), seen


def ok(body: Any, **headers: str) -> Any:
    return lambda _request: httpx.Response(200, json=body, headers=headers)


def test_basic_login_is_sent_on_every_request() -> None:
    client, seen = frontend(ok([{"name": "p"}]), username="esbridge", password="s3cret")

    client.list_pools()

    assert seen[0].headers["Authorization"] == "Basic ZXNicmlkZ2U6czNjcmV0"
    assert seen[0].url == "https://dcache.example.org:3880/api/v1/pools"


def test_a_bearer_token_is_read_again_for_each_request(tmp_path: Path) -> None:
    token = tmp_path / "token"
    token.write_text("first.token\n")
    client, seen = frontend(ok({}), token_file=token)

    client.usage("p")
    token.write_text("second.token")
    client.usage("p")

    assert [r.headers["Authorization"] for r in seen] == [
        "Bearer first.token",
        "Bearer second.token",
    ]


def test_an_empty_token_file_fails_the_request_before_sending(tmp_path: Path) -> None:
    token = tmp_path / "token"
    token.write_text("\n")
    client, seen = frontend(ok({}), token_file=token)

    with pytest.raises(FrontendError) as caught:
        client.list_pools()

    assert caught.value.kind == "token" and seen == []


def test_anonymous_requests_carry_no_authorization() -> None:
    client, seen = frontend(ok({}))

    client.usage("p")

    assert "Authorization" not in seen[0].headers


def test_a_pool_name_is_one_quoted_path_segment() -> None:
    client, seen = frontend(ok({}))

    client.usage("pool a/b#1")

    assert seen[0].url.raw_path == b"/api/v1/pools/pool%20a%2Fb%231/usage"


def test_a_trailing_slash_in_the_url_is_not_doubled() -> None:
    seen: list[httpx.Request] = []
    config = PollConfig(url=URL + "/")

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        return httpx.Response(200, json=[])

    HttpFrontend(config, transport=httpx.MockTransport(handler)).list_pools()

    assert seen[0].url.path == "/api/v1/pools"


def test_last_modified_is_read_when_sent() -> None:
    client, _ = frontend(ok([], **{"Last-Modified": "Tue, 21 Jul 2026 10:00:00 GMT"}))

    answer = client.list_pools()

    assert answer.last_modified == datetime(2026, 7, 21, 10, 0, tzinfo=UTC)


@pytest.mark.parametrize("value", ["", "yesterday", "Tue, 99 Jul 2026 10:00:00 GMT"])
def test_an_unusable_last_modified_is_absent(value: str) -> None:
    assert last_modified({"last-modified": value}) is None


def raise_(error: Exception) -> Any:
    def handler(request: httpx.Request) -> httpx.Response:
        raise error

    return handler


@pytest.mark.parametrize(
    ("handler", "kind", "text"),
    [
        (lambda r: httpx.Response(401, text="Unauthorized"), "auth", "HTTP 401"),
        (lambda r: httpx.Response(403), "auth", "HTTP 403"),
        (
            lambda r: httpx.Response(500, text="boom"),
            "http 500",
            "HTTP 500 Internal Server Error: boom",
        ),
        (lambda r: httpx.Response(503), "http 503", "HTTP 503"),
        (lambda r: httpx.Response(200, text="<html>"), "bad_response", "not JSON"),
        (lambda r: httpx.Response(200, json={"name": "p"}), "bad_response", "not a list of pools"),
        (lambda r: httpx.Response(200, json=[{"groups": []}]), "bad_response", "with names"),
        (raise_(httpx.ConnectError("Connection refused")), "unreachable", "Connection refused"),
        (raise_(httpx.ReadTimeout("slow")), "timeout", "within poll.timeout 30s"),
    ],
)
def test_each_failure_of_the_pool_list_has_its_kind(handler: Any, kind: str, text: str) -> None:
    client, _ = frontend(handler, username="esbridge", password="s3cret")

    with pytest.raises(FrontendError) as caught:
        client.list_pools()

    assert caught.value.kind == kind
    assert text in str(caught.value)
    assert "s3cret" not in str(caught.value)


def test_a_refused_login_names_the_login_but_not_the_secret() -> None:
    client, _ = frontend(lambda r: httpx.Response(401), username="esbridge", password="s3cret")

    with pytest.raises(FrontendError, match=r"refused user esbridge \(poll.username/password\)"):
        client.list_pools()


def test_a_vanished_pool_is_not_found() -> None:
    client, _ = frontend(lambda r: httpx.Response(404))

    with pytest.raises(FrontendError) as caught:
        client.usage("gone")

    assert caught.value.kind == "not_found"


def test_a_usage_answer_that_is_not_an_object_is_a_bad_response() -> None:
    client, _ = frontend(ok([1, 2]))

    with pytest.raises(FrontendError) as caught:
        client.usage("p")

    assert caught.value.kind == "bad_response"
