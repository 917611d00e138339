"""`esbridge ingest` against the real broker and node: nothing lost, nothing twice."""

from __future__ import annotations

from pathlib import Path

import orjson

from esbridge.ingest.encode import content_hash
from tests.helpers.sites import PARSERS, Site


def sample_lines(samples_dir: Path, parser: str) -> list[bytes]:
    return [line for line in (samples_dir / f"{parser}.jsonl").read_bytes().splitlines() if line]


def test_every_producer_is_indexed_end_to_end_from_the_samples(
    site: Site, samples_dir: Path
) -> None:
    expected = {parser: sample_lines(samples_dir, parser) for parser in PARSERS}
    for parser, lines in expected.items():
        site.produce(parser, lines)

    code, stats = site.ingest()

    assert code == 0
    assert stats.consumed == stats.indexed == sum(map(len, expected.values()))
    assert site.count(site.deadletter) == 0
    for parser, lines in expected.items():
        docs = site.docs(site.index(parser))
        assert len(docs) == len(lines)
        assert {doc["_id"] for doc in docs} == {
            f"{site.id_prefix(parser)}-0-{offset}" for offset in range(len(lines))
        }
        for doc in docs:
            assert doc["producer"] == parser
            assert doc["kafka"]["topic"] == site.topic(parser)
            assert doc["@timestamp"].endswith("Z")
            if parser in ("logs", "access"):  # event.original is on by default only here
                assert doc["event"]["original"].encode() in lines
                assert doc["event"]["hash"] == content_hash(doc["event"]["original"].encode())
            else:
                assert "original" not in doc["event"]
                assert doc["event"]["hash"] in {content_hash(line) for line in lines}
    assert site.committed("billing") == len(expected["billing"])


def test_replaying_the_same_offsets_creates_no_duplicates(site: Site, samples_dir: Path) -> None:
    lines = sample_lines(samples_dir, "billing")
    site.produce("billing", lines)
    first_code, first = site.ingest()
    before = {doc["_id"]: doc["event"]["ingested"] for doc in site.docs(site.index("billing"))}

    site.config = site.config.model_copy(
        update={"kafka": site.config.kafka.model_copy(update={"group_id": f"{site.name}-replay"})}
    )
    replay_code, replay = site.ingest()
    after = {doc["_id"]: doc["event"]["ingested"] for doc in site.docs(site.index("billing"))}

    assert first_code == replay_code == 0
    assert first.indexed == len(lines)
    assert replay.consumed == len(lines)
    assert replay.replays == len(lines)
    assert after == before  # not one document rewritten or added
    assert site.committed("billing", group=f"{site.name}-replay") == len(lines)


def test_bad_messages_land_in_dead_letters_with_reasons_while_the_rest_flows(
    site: Site, samples_dir: Path
) -> None:
    good = sample_lines(samples_dir, "billing")
    bad = {
        "json_decode": b'{"msgType": "transfer", "date": ',
        "not_utf8": b'{"msgType": "transfer", "cellName": "\xff\xfe"}',
        "oversize": orjson.dumps(
            {"msgType": "transfer", "date": "2026-10-14T09:12:03Z", "x": "y" * 9000}
        ),
        "missing_field": b'{"msgType": "transfer"}',
        "bad_timestamp": b'{"msgType": "transfer", "date": "14/10/2026"}',
        "rejected": orjson.dumps(
            {"msgType": "transfer", "date": "2026-10-14T09:12:03Z", "fileSize": "eight gigabytes"}
        ),
        "not_an_object": b'"just a string"',
    }
    values = [*good[:5], *bad.values(), *good[5:]]
    site.produce("billing", values)

    code, stats = site.ingest()

    assert code == 0
    assert stats.indexed == len(good)
    assert stats.dead_letters == len(bad)
    letters = {doc["kafka"]["offset"]: doc for doc in site.docs(site.deadletter)}
    for position, (error_type, raw) in enumerate(bad.items(), start=5):
        letter = letters[position]
        assert letter["error"]["type"] == error_type
        assert letter["error"]["message"]
        assert letter["producer"] == "billing"
        assert letter["deadletter"]["payload_size"] == len(raw)
    assert "billing.file_size" in letters[5 + list(bad).index("rejected")]["error"]["message"]
    indexed = {doc["kafka"]["offset"] for doc in site.docs(site.index("billing"))}
    assert indexed.isdisjoint(letters)
    assert indexed | set(letters) == set(range(len(values)))
    assert site.committed("billing") == len(values)


def test_confluent_backend_indexes_and_commits_exactly_like_kafka_python(
    site: Site, samples_dir: Path
) -> None:
    lines = sample_lines(samples_dir, "billing")
    site.produce("billing", [*lines, b"{broken"])
    kafka = site.config.kafka.model_copy(update={"backend": "confluent"})
    site.config = site.config.model_copy(update={"kafka": kafka})

    code, stats = site.ingest()

    assert code == 0
    assert (stats.indexed, stats.dead_letters) == (len(lines), 1)
    ids = {doc["_id"] for doc in site.docs(site.index("billing"))}
    assert ids == {f"{site.id_prefix('billing')}-0-{offset}" for offset in range(len(lines))}
    assert site.committed("billing") == len(lines) + 1


def records(count: int, generation: str) -> list[bytes]:
    return [
        orjson.dumps(
            {
                "msgType": "remove",
                "date": "2026-10-14T09:12:03.400+02:00",
                "cellName": "pool-a",
                "cellType": "pool",
                "pnfsid": f"{generation}-{number:05d}",
            }
        )
        for number in range(count)
    ]


def test_a_deleted_and_re_created_topic_loses_none_of_its_new_records(site: Site) -> None:
    """The new incarnation starts again at offset 0. With ids `topic-partition-offset` its
    records hit the old ones' ids, were answered 409, counted as duplicates and committed: all
    1,000 were gone. Ids now start with the topic id, which the new incarnation does not share."""
    index = site.index("billing")
    site.produce("billing", records(1000, "first"))
    first_code, first = site.ingest()
    old_prefix = site.id_prefix("billing")

    site.recreate_topic("billing")
    site.produce("billing", records(1000, "second"))
    second_code, second = site.ingest()

    assert first_code == second_code == 0
    assert (first.indexed, second.indexed, second.replays) == (1000, 1000, 0)
    docs = site.docs(index)
    assert sorted(doc["billing"]["pnfsid"] for doc in docs) == sorted(
        f"{generation}-{number:05d}" for generation in ("first", "second") for number in range(1000)
    )
    new_prefix = site.id_prefix("billing")
    assert {doc["_id"] for doc in docs} == {
        f"{prefix}-0-{offset}" for prefix in (old_prefix, new_prefix) for offset in range(1000)
    }
    assert site.count(site.deadletter) == 0
    assert site.committed("billing") == 1000
