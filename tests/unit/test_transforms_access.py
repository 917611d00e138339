"""Access-log lines -> documents: every sample line, the tokenizer's quoting, ECS copies."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import pytest

from esbridge.transforms import ParseContext, ParseError
from esbridge.transforms.access import KEY_PATTERN, parse_access, split_access_line

CTX = ParseContext(producer="access")


@pytest.fixture(scope="module")
def samples(samples_dir: Path) -> list[dict[str, Any]]:
    lines = (samples_dir / "access.jsonl").read_text().splitlines()
    return [json.loads(line) for line in lines if line.strip()]


def event(message: str) -> dict[str, Any]:
    return {
        "@timestamp": "2026-10-14T07:14:23.000Z",
        "message": message,
        "host": {"name": "door1"},
        "log": {"file": {"path": "/var/log/dcache/xrootdDomain.access"}},
    }


def parse(record: dict[str, Any]) -> dict[str, Any]:
    return parse_access(record, CTX)


def test_every_access_sample_line_is_covered_below(samples: list[dict[str, Any]]) -> None:
    assert len(samples) == 4


def test_access_webdav_put_becomes_the_documented_fields(samples: list[dict[str, Any]]) -> None:
    session = "door:WebDAV-dcache-door02@webdavDomain:AAYH2k5Zz9C:1760426062100000"
    url = "https://dcache-door02.desy.de:2880/pnfs/desy.de/sync/users/jdoe/report.pdf"
    context = ParseContext(producer="access", dcache_instance="desy")
    assert parse_access(samples[0], context) == {
        "@timestamp": "2026-10-14T07:14:22.901Z",
        "log": {"level": "INFO"},
        "event": {"action": "org.dcache.webdav.request"},
        "access": {
            "session": session,
            "request": {"method": "PUT", "url": url},
            "socket": {"remote": "131.169.12.44:50422"},
            "user_agent": "rclone/v1.68.1",
            "user": {"mapped": "20311:20000"},
            "transaction": session,
            "duration": 812,
            "response": {"code": 201},
        },
        "url": {"full": url, "path": "/pnfs/desy.de/sync/users/jdoe/report.pdf"},
        "http": {"request": {"method": "PUT"}, "response": {"status_code": 201}},
        "source": {"ip": "131.169.12.44", "port": 50422},
        "user_agent": {"original": "rclone/v1.68.1"},
        "host": {"name": "dcache-door02"},
        "dcache": {"instance": "desy", "domain": "webdavDomain"},
    }


def test_access_webdav_404_with_quoted_values_and_bracketed_ipv6(
    samples: list[dict[str, Any]],
) -> None:
    doc = parse(samples[1])
    assert doc["log"] == {"level": "WARN"}
    assert doc["@timestamp"] == "2026-10-14T07:15:02.004Z"
    assert doc["source"] == {"ip": "2001:638:700:1005::1:5a", "port": 41874}
    assert doc["access"]["socket"] == {"remote": "[2001:638:700:1005::1:5a]:41874"}
    assert doc["user_agent"] == {"original": "Mozilla/5.0 (X11; Linux x86_64)"}
    assert doc["access"]["user_agent"] == "Mozilla/5.0 (X11; Linux x86_64)"
    assert doc["access"]["response"] == {"code": 404, "reason": "Not Found"}
    assert doc["http"] == {"request": {"method": "GET"}, "response": {"status_code": 404}}
    assert doc["access"]["duration"] == 3


def test_access_xrootd_bare_request_and_response_go_to_value(
    samples: list[dict[str, Any]],
) -> None:
    doc = parse(samples[2])
    assert doc["@timestamp"] == "2026-10-14T09:40:11.120Z"
    assert doc["event"] == {"action": "org.dcache.xrootd.request"}
    assert doc["access"] == {
        "session": "AAYH2k4pQ2B",
        "request": {"value": "open"},
        "path": "/pnfs/desy.de/cms/tier2/store/f.root",
        "mode": "0",
        "options": "0x410",
        "response": {"value": "error"},
        "error": {"code": "3011", "msg": 'No such file or directory: "f.root"'},
    }
    assert "url" not in doc
    assert "http" not in doc
    assert "source" not in doc


def test_access_ftp_quoted_command_with_space(samples: list[dict[str, Any]]) -> None:
    doc = parse(samples[3])
    assert doc["access"] == {
        "session": "door:GFTP-dcache-door03@gftpDomain:AAYH2k6:1",
        "command": "STOR /pnfs/desy.de/xfel/scratch/a b.dat",
        "reply": "226 Transfer complete",
        "user": {"mapped": "4021:3100"},
    }
    assert doc["event"] == {"action": "org.dcache.ftp.response"}
    assert doc["dcache"] == {"domain": "webdavDomain"}


@pytest.mark.parametrize(
    ("line", "expected"),
    [
        ('a="say \\"hi\\""', {"a": 'say "hi"'}),
        ('a="C:\\\\dir\\\\" b=1', {"a": "C:\\dir\\", "b": "1"}),
        ('a="line1\\nline2\\r"', {"a": "line1\nline2\r"}),
        ('a="keep \\t as is"', {"a": "keep \\t as is"}),
        ('a="" b= c=3', {"a": "", "b": "", "c": "3"}),
        ("url=https://h/p?x=1&y=2 n=1", {"url": "https://h/p?x=1&y=2", "n": "1"}),
        ("a=1   b=2 ", {"a": "1", "b": "2"}),
        ("a=1 a=2", {"a": "2"}),
        ('a="x y"b=2', {"a": "x y", "b": "2"}),
        ("", {}),
    ],
)
def test_split_access_line_decodes_quotes_and_escapes(line: str, expected: dict[str, str]) -> None:
    assert split_access_line(line) == expected


@pytest.mark.parametrize(
    ("line", "reason"),
    [
        ('a="never closed', "access line: the quoted value of 'a' never ends"),
        ('a="ends with escape\\"', "access line: the quoted value of 'a' never ends"),
        ("a=1 orphan", "access line: 'orphan' is not a key= token"),
        ("a=1 two words=2", "access line: 'two words' is not a key= token"),
        ("=1", "access line: '' is not a key= token"),
        ("a..b=1", "access line: 'a..b' is not a key= token"),
    ],
)
def test_split_access_line_refuses_malformed_tokens(line: str, reason: str) -> None:
    with pytest.raises(ParseError) as caught:
        split_access_line(line)
    assert caught.value.error_type == "parse_error"
    assert caught.value.reason == reason


def test_split_access_line_is_linear_on_many_escapes() -> None:
    line = 'a="' + '\\"' * 50_000 + '"'
    assert split_access_line(line) == {"a": '"' * 50_000}


@pytest.mark.parametrize(
    ("key", "allowed"),
    [
        ("request.url", True),
        ("user-agent", True),
        ("error.msg", True),
        ("a_b.c-d.e1", True),
        (".a", False),
        ("a.", False),
        ("a b", False),
        ("a=b", False),
        ("", False),
    ],
)
def test_key_pattern(key: str, allowed: bool) -> None:
    assert (re.fullmatch(KEY_PATTERN, key) is not None) is allowed


def test_access_malformed_line_is_parse_error() -> None:
    with pytest.raises(ParseError) as caught:
        parse(event('level=INFO ts=2026-10-14T09:40:11.120+0000 event=x a="open'))
    assert caught.value.error_type == "parse_error"


def test_access_event_without_message_is_missing_field() -> None:
    with pytest.raises(ParseError) as caught:
        parse({"@timestamp": "2026-10-14T07:14:23.000Z"})
    assert caught.value.error_type == "missing_field"


def test_access_line_without_ts_takes_filebeat_time() -> None:
    doc = parse(event("level=INFO event=org.dcache.nfs.open path=/a"))
    assert doc["@timestamp"] == "2026-10-14T07:14:23.000Z"
    assert doc["access"] == {"path": "/a"}


def test_access_unreadable_ts_takes_filebeat_time() -> None:
    doc = parse(event("level=INFO ts=yesterday event=org.dcache.nfs.open"))
    assert doc["@timestamp"] == "2026-10-14T07:14:23.000Z"


def test_access_without_any_time_is_bad_timestamp() -> None:
    record = event("level=INFO event=org.dcache.nfs.open")
    del record["@timestamp"]
    with pytest.raises(ParseError) as caught:
        parse(record)
    assert caught.value.error_type == "bad_timestamp"


def test_access_invalid_remote_ip_sets_no_source_but_keeps_the_raw_value() -> None:
    doc = parse(event("ts=2026-10-14T09:40:11.120+0000 socket.remote=door-host:50422"))
    assert "source" not in doc
    assert doc["access"]["socket"] == {"remote": "door-host:50422"}


def test_access_non_numeric_code_and_duration_are_left_out() -> None:
    doc = parse(
        event("ts=2026-10-14T09:40:11.120+0000 response.code=abc duration=-1 response.reason=x")
    )
    assert doc["access"] == {"response": {"reason": "x"}}
    assert "http" not in doc


def test_access_path_only_url_gives_url_path() -> None:
    doc = parse(event("ts=2026-10-14T09:40:11.120+0000 request.url=/pnfs/a%20b"))
    assert doc["url"] == {"full": "/pnfs/a%20b", "path": "/pnfs/a%20b"}


def test_access_url_with_broken_host_keeps_full_only() -> None:
    doc = parse(event("ts=2026-10-14T09:40:11.120+0000 request.url=https://[::1/p"))
    assert doc["url"] == {"full": "https://[::1/p"}


@pytest.mark.parametrize(
    "line",
    ["ts=2026-10-14T09:40:11.120+0000 a=1 a.b=2", "ts=2026-10-14T09:40:11.120+0000 a.b=2 a=1"],
)
def test_access_key_that_is_leaf_and_parent_keeps_both(line: str) -> None:
    assert parse(event(line))["access"] == {"a": {"value": "1", "b": "2"}}
