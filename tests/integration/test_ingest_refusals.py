"""Elasticsearch refusing whole requests, against real servers: a wrong password, a request
above the node's size limit, a closed index, a missing write alias. None of them may turn a
message into a dead letter or let its offset be committed before it is in Elasticsearch."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from pathlib import Path

import orjson
import pytest
from elasticsearch import Elasticsearch

from esbridge.ingest.pipeline import Pipeline, RunLimits, open_pipeline
from tests.helpers.secure import PASSWORD, SmallRequestsNode
from tests.helpers.sites import Site


def billing_records(count: int, tag: str) -> list[bytes]:
    return [
        orjson.dumps(
            {
                "msgType": "transfer",
                "date": "2026-10-14T09:12:03.400+02:00",
                "cellName": "pool-a",
                "cellType": "pool",
                "pnfsid": f"{tag}-{number:06d}",
                "fileSize": number,
            }
        )
        for number in range(count)
    ]


def wait_for(condition: Callable[[], bool], timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if condition():
            return
        time.sleep(0.2)
    pytest.fail(f"timed out after {timeout:.0f}s waiting for {what}")


def offsets_of(site: Site, index: str) -> list[int]:
    return sorted(doc["kafka"]["offset"] for doc in site.docs(index))


def test_a_wrong_password_exits_non_zero_commits_nothing_and_the_right_one_indexes_all(
    secure_site: Callable[..., Site], secure_es: SmallRequestsNode, tmp_path: Path
) -> None:
    """On the secured node: the bulk requests (kept below its 64 KiB limit here) are answered
    401. Before the fix every message became a dead letter, the dead letters were refused too
    and only logged, the offsets were committed and ingest exited 0 with nothing stored."""
    ingest = "auth_failure_timeout: 3s\nbatch_max_bytes: 32kb\n"
    site = secure_site(password="wrong-password", ingest=ingest)
    total = 300
    site.produce("billing", billing_records(total, "auth"))

    wrong = site.ingest_process("--idle-exit", "1")
    output = wrong.communicate(timeout=180)[0].decode()

    assert wrong.returncode == 1, output[-3000:]
    (final,) = [line for line in output.splitlines() if "nothing was committed" in line]
    assert f"Elasticsearch at {secure_es.url} refused esbridge's requests (HTTP 401" in final
    assert "check elasticsearch.username/password" in final
    assert "Traceback" not in output
    assert site.committed("billing") is None
    assert site.count(site.index("billing")) == 0
    assert site.count(site.deadletter) == 0

    site.config_path.write_text(
        site.config_path.read_text().replace("wrong-password", PASSWORD), encoding="utf-8"
    )
    right = site.ingest_process("--idle-exit", "2")
    output = right.communicate(timeout=180)[0].decode()

    assert right.returncode == 0, output[-3000:]
    assert offsets_of(site, site.index("billing")) == list(range(total))
    assert site.count(site.deadletter) == 0
    assert site.committed("billing") == total


def test_a_batch_above_the_request_limit_is_split_and_only_a_lone_oversized_record_dead_letters(
    secure_site: Callable[..., Site],
) -> None:
    """A node started with `http.max_content_length: 64kb` (413 above it) and batches of up to
    500 documents (~250 KiB): every batch has to be halved until its parts fit. One record
    is ~100 KiB by itself, so it becomes a `too_large` dead letter, with its reason. Before the
    fix each 413 dead-lettered its whole batch, and those dead letters were refused too."""
    ingest = "max_message_bytes: 1mb\n"
    site = secure_site(ingest=ingest, deadletter="payload_max_bytes: 8kb\n")
    records = billing_records(1200, "split")
    huge = orjson.dumps({"msgType": "transfer", "date": "2026-10-14T09:12:03Z", "x": "y" * 100_000})
    values = [*records[:700], huge, *records[700:]]
    site.produce("billing", values)

    code, stats = site.ingest()

    assert code == 0
    assert (stats.indexed, stats.dead_letters) == (len(records), 1)
    assert offsets_of(site, site.index("billing")) == [n for n in range(len(values)) if n != 700]
    (letter,) = site.docs(site.deadletter)
    assert letter["kafka"]["offset"] == 700
    assert letter["error"]["type"] == "too_large"
    assert "HTTP 413" in letter["error"]["message"]
    assert letter["deadletter"]["payload_size"] == len(huge)
    assert site.committed("billing") == len(values)


def run_in_background(site: Site) -> tuple[Pipeline, threading.Thread, list[int]]:
    pipeline = open_pipeline(site.config, site.cluster, RunLimits(idle_exit=2.0))
    codes: list[int] = []
    thread = threading.Thread(target=lambda: codes.append(pipeline.run()), daemon=True)
    thread.start()
    return pipeline, thread, codes


BAD = [b'{"msgType": "transfer", "date": ', b'"just a string"', b'{"msgType": "transfer"}']


def test_documents_wait_for_a_closed_index_and_dead_letters_for_a_closed_dead_letter_index(
    site: Site, es: Elasticsearch
) -> None:
    good = billing_records(200, "closed")
    site.produce("billing", [*good[:100], *BAD, *good[100:]])
    for index in (site.index("billing"), site.deadletter):
        es.indices.close(index=f"{index}-000001")

    pipeline, thread, codes = run_in_background(site)
    wait_for(
        lambda: pipeline.stats.consumed == len(good) + len(BAD) and pipeline.sender.retrying(),
        60,
        "every message read and held",
    )

    assert site.committed("billing") is None
    assert thread.is_alive()
    for index in (site.index("billing"), site.deadletter):
        es.indices.open(index=f"{index}-000001", wait_for_active_shards=1)
    thread.join(timeout=120)

    assert codes == [0]
    assert (pipeline.stats.indexed, pipeline.stats.dead_letters) == (len(good), len(BAD))
    assert offsets_of(site, site.index("billing")) == [*range(100), *range(103, 203)]
    letters = {doc["kafka"]["offset"]: doc["error"]["type"] for doc in site.docs(site.deadletter)}
    assert letters == {100: "json_decode", 101: "not_an_object", 102: "missing_field"}
    assert site.committed("billing") == len(good) + len(BAD)


def test_documents_wait_for_a_missing_write_alias_instead_of_creating_an_index(
    site: Site, es: Elasticsearch
) -> None:
    """Without the alias Elasticsearch used to auto-create a concrete index of that name, with
    none of esbridge's mappings (and `esbridge setup` then refuses to run); `require_alias`
    makes the write fail with 404 instead, and ingest holds the documents until it exists."""
    alias, backing = site.index("billing"), f"{site.index('billing')}-000001"
    es.indices.delete_alias(index=backing, name=alias)
    site.produce("billing", billing_records(150, "alias"))

    pipeline, thread, codes = run_in_background(site)
    wait_for(
        lambda: pipeline.stats.consumed == 150 and pipeline.sender.retrying(),
        60,
        "every message read and held",
    )

    assert site.committed("billing") is None
    assert not es.indices.exists(index=alias)
    es.indices.put_alias(index=backing, name=alias, is_write_index=True)
    thread.join(timeout=120)

    assert codes == [0]
    assert pipeline.stats.indexed == 150
    assert offsets_of(site, alias) == list(range(150))
    assert site.count(site.deadletter) == 0
    assert site.committed("billing") == 150
