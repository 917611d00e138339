"""Telling the engine and version from the cluster's answers, and naming what went wrong."""

from __future__ import annotations

from collections.abc import Callable

import pytest

from esbridge.cluster.errors import (
    AuthError,
    ConflictError,
    NotFoundError,
    RequestRejectedError,
    ServerError,
    UnsupportedClusterError,
    error_of,
    from_answer,
)
from esbridge.cluster.flavour import Answer, Flavour, identify

ES = {"x-elastic-product": "Elasticsearch"}
WHERE = "http://es.example:9200"


def root_of(distribution: str | None, number: str, headers: dict[str, str]) -> Answer:
    version = {"number": number} | ({"distribution": distribution} if distribution else {})
    return Answer(200, {"name": "n", "version": version}, headers)


def nodes_of(version: str, headers: dict[str, str] | None = None) -> Callable[[], Answer]:
    asked: list[str] = []

    def fetch() -> Answer:
        asked.append(version)
        return Answer(200, {"nodes": {"abc": {"version": version}}}, headers or {})

    fetch.asked = asked  # type: ignore[attr-defined]
    return fetch


def not_asked() -> Answer:
    raise AssertionError("GET /_nodes/_local was not needed")


def test_elasticsearch_from_get_root_and_its_product_header() -> None:
    assert identify(root_of(None, "8.19.7", ES), not_asked, WHERE) == Flavour(
        "elasticsearch", "8.19.7"
    )


def test_elasticsearch_test_zip_405_on_get_root_falls_back_to_the_node_info() -> None:
    refused = Answer(405, {"error": "Incorrect HTTP method for uri [/]", "status": 405}, ES)

    flavour = identify(refused, nodes_of("9.2.0", ES), WHERE)

    assert (flavour.distribution, flavour.version, flavour.major) == ("elasticsearch", "9.2.0", 9)


def test_opensearch_by_its_distribution_field_without_any_elastic_header() -> None:
    flavour = identify(root_of("opensearch", "2.19.6", {}), not_asked, WHERE)

    assert (flavour.product, flavour.major, flavour.minor) == ("OpenSearch", 2, 19)


def test_opensearch_posing_as_7_10_2_is_asked_for_its_real_version() -> None:
    nodes = nodes_of("3.3.2")

    flavour = identify(root_of("opensearch", "7.10.2", {}), nodes, WHERE)

    assert flavour == Flavour("opensearch", "3.3.2")
    assert nodes.asked == ["3.3.2"]  # type: ignore[attr-defined]


@pytest.mark.parametrize(
    ("root", "found"),
    [
        (root_of(None, "7.17.9", ES), "Elasticsearch 7.17.9"),
        (root_of(None, "6.8.23", {}), "Elasticsearch 6.8.23"),  # before the product header
        (root_of("opensearch", "1.3.20", {}), "OpenSearch 1.3.20"),
    ],
)
def test_an_older_engine_is_refused_in_one_line_naming_found_and_supported(
    root: Answer, found: str
) -> None:
    with pytest.raises(UnsupportedClusterError) as refused:
        identify(root, not_asked, WHERE)

    assert str(refused.value) == (
        f"{found} at {WHERE} is older than esbridge supports: "
        "Elasticsearch 8 and 9, OpenSearch 2 and 3"
    )


def test_something_else_at_the_url_is_refused_rather_than_guessed() -> None:
    other = Answer(404, {"message": "not here"}, {})

    with pytest.raises(UnsupportedClusterError, match="neither as Elasticsearch nor as OpenSearch"):
        identify(other, lambda: Answer(404, {"message": "not here"}, {}), WHERE)


def test_credentials_refused_on_get_root_say_so_instead_of_a_version_problem() -> None:
    denied = Answer(401, {"error": {"type": "security_exception", "reason": "bad user"}}, ES)

    with pytest.raises(AuthError, match=r"GET /: HTTP 401 security_exception: bad user"):
        identify(denied, not_asked, WHERE)


@pytest.mark.parametrize(
    ("status", "kind"),
    [
        (404, NotFoundError),
        (409, ConflictError),
        (401, AuthError),
        (403, AuthError),
        (400, RequestRejectedError),
        (429, ServerError),
        (503, ServerError),
    ],
)
def test_statuses_map_to_the_few_error_types(status: int, kind: type[Exception]) -> None:
    error = from_answer("PUT /x/_doc/1", status, {"error": {"type": "t", "reason": "r"}})

    assert type(error) is kind
    assert (error.status, error.error_type, error.reason) == (status, "t", "r")
    assert str(error) == f"PUT /x/_doc/1: HTTP {status} t: r"


def test_the_root_cause_is_kept_when_the_top_reason_only_wraps_it() -> None:
    body = {
        "error": {
            "type": "illegal_argument_exception",
            "reason": "failed to execute script",
            "root_cause": [{"type": "x", "reason": "script_lang not supported [painless]"}],
        }
    }

    assert error_of(body) == (
        "illegal_argument_exception",
        "failed to execute script (script_lang not supported [painless])",
    )
    assert error_of({"error": "Incorrect HTTP method", "status": 405}) == (
        None,
        "Incorrect HTTP method",
    )
    assert error_of(None) == (None, None)
