"""The field conditions of a reactor's `match:` over decoded billing records."""

from __future__ import annotations

import json

import pytest

from esbridge.config.react import ConditionConfig
from esbridge.react.match import MISSING, lookup, matches
from tests.helpers.reacting import PREFIX, billing_request


def cond(**kwargs: object) -> ConditionConfig:
    return ConditionConfig.model_validate(kwargs)


SCAN = [
    cond(field="msgType", equals="request"),
    cond(field="moverInfo.isWrite", equals="write"),
    cond(field="moverInfo.status.code", equals=0),
    cond(field="moverInfo.isP2p", equals=True, negate=True),
    cond(field="client", equals="127.0.0.1", negate=True),
    cond(field="transferPath", prefix=PREFIX),
]


def record(**kwargs: object) -> dict[str, object]:
    path = str(kwargs.pop("path", PREFIX + "alice/files/a/b.txt"))
    loaded: dict[str, object] = json.loads(billing_request(path, **kwargs))  # type: ignore[arg-type]
    return loaded


def test_the_scan_rule_takes_a_successful_client_write_under_the_prefix() -> None:
    assert matches(SCAN, record())


@pytest.mark.parametrize(
    "changed",
    [
        {"is_write": "read"},
        {"code": 10006},
        {"p2p": True},
        {"client": "127.0.0.1"},
        {"msg_type": "transfer"},
        {"path": "/pnfs/desy.de/other/alice/files/a"},
        {"path": "/pnfs/desy.de/syncother/alice/files/a"},
    ],
)
def test_the_scan_rule_rejects_each_thing_that_is_not_a_new_file(
    changed: dict[str, object],
) -> None:
    assert not matches(SCAN, record(**changed))


def test_a_missing_field_fails_a_test_and_passes_its_negation() -> None:
    without_p2p = record(p2p=None)
    assert lookup(without_p2p, "moverInfo.isP2p") is MISSING
    assert matches([cond(field="moverInfo.isP2p", equals=True, negate=True)], without_p2p)
    assert not matches([cond(field="moverInfo.isP2p", equals=False)], without_p2p)


def test_json_types_are_kept_apart() -> None:
    assert not matches([cond(field="moverInfo.status.code", equals="0")], record())
    assert not matches([cond(field="n", equals=1)], {"n": True})
    assert not matches([cond(field="n", equals=True)], {"n": 1})
    assert matches([cond(field="n", equals=1)], {"n": 1.0})


def test_in_regex_exists_and_lists() -> None:
    data = {"msgType": "store", "subject": ["UidPrincipal[1]", "Origin[::1]"], "a": {"b.c": "x"}}
    assert matches([cond(field="msgType", **{"in": ["store", "restore"]})], data)
    assert matches([cond(field="subject", regex=r"Origin\[.*\]")], data)
    assert not matches([cond(field="subject", regex="Origin")], data), "a regex matches whole"
    assert matches([cond(field="pnfsid", exists=False)], data)
    assert matches([cond(field="a.b.c", equals="x")], data), "a key holding dots"
    assert matches([], data)


def test_a_condition_gives_exactly_one_test() -> None:
    with pytest.raises(ValueError, match="exactly one"):
        cond(field="a", equals="x", prefix="y")
    with pytest.raises(ValueError, match="exactly one"):
        cond(field="a")
