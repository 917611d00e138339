"""What the `esbridge react` tests share: billing `request` records shaped as dCache's door
serialiser writes them, a topic of their own, the stand-in for NextCloud's occ, and running
`esbridge react` as an operator does (a process, on the shipped example config)."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import time
import uuid
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from kafka import KafkaAdminClient, KafkaProducer
from kafka.admin import NewTopic

from tests.helpers.paths import REPO

EXAMPLE = REPO / "examples" / "reactors" / "nextcloud-scan.yml"
STANDIN = Path(__file__).with_name("occ_standin.py")
PREFIX = "/pnfs/desy.de/sync/"


def billing_request(
    path: str | bytes,
    *,
    code: int = 0,
    is_write: str = "write",
    p2p: bool | None = False,
    client: str = "131.169.12.44",
    msg_type: str = "request",
) -> bytes:
    """A door `request` record (`VERSION`, nested `moverInfo`, nulls omitted) for `path`;
    bytes paths are spliced in raw, for JSON that is not valid UTF-8."""
    mover: dict[str, Any] = {
        "version": "1.0",
        "msgType": "transfer",
        "date": "2026-10-14T09:14:22.87+02:00",
        "cellName": "sync-pool03",
        "cellType": "pool",
        "cellDomain": "sync-pool03Domain",
        "status": {"code": code, "msg": "" if code == 0 else "Transfer failed"},
        "transferSize": 1048576,
        "transferTime": 640,
        "isWrite": is_write,
        "protocolInfo": {"protocol": "Https", "versionMajor": 1, "versionMinor": 1,
                         "port": 50422, "host": client},
        "transferPath": "@PATH@",
    }  # fmt: skip
    if p2p is not None:
        mover["isP2p"] = p2p
    record = {
        "VERSION": "1.0",
        "msgType": msg_type,
        "date": "2026-10-14T09:14:22.9+02:00",
        "cellName": "WebDAV-dcache-door02",
        "cellType": "door",
        "cellDomain": "webdavDomain",
        "status": {"code": code, "msg": ""},
        "transferPath": "@PATH@",
        "client": client,
        "subject": ["UidPrincipal[20311]", "GidPrincipal[20000,primary]"],
        "pnfsid": "0000D1C2B3A4958677685A4B3C2D1E0F9A8B",
        "billingPath": "@PATH@",
        "fileSize": 1048576,
        "moverInfo": mover,
    }
    text = json.dumps(record).encode()
    raw = path if isinstance(path, bytes) else json.dumps(path)[1:-1].encode()
    return text.replace(b"@PATH@", raw)


def make_topic(bootstrap: str, partitions: int = 2) -> str:
    topic = f"react-billing-{uuid.uuid4().hex[:10]}"
    admin = KafkaAdminClient(bootstrap_servers=bootstrap)
    try:
        admin.create_topics([NewTopic(topic, partitions, 1)])
    finally:
        admin.close()
    return topic


def delete_topic(bootstrap: str, topic: str) -> None:
    admin = KafkaAdminClient(bootstrap_servers=bootstrap)
    try:
        admin.delete_topics([topic])
    finally:
        admin.close()


def produce(bootstrap: str, topic: str, values: list[bytes]) -> None:
    """Round-robin over the partitions (dCache sends billing records without a key)."""
    producer = KafkaProducer(bootstrap_servers=bootstrap, acks="all", linger_ms=5)
    partitions = sorted(producer.partitions_for(topic))
    for i, value in enumerate(values):
        producer.send(topic, value, partition=partitions[i % len(partitions)])
    producer.flush()
    producer.close()


def committed(bootstrap: str, group: str, topic: str) -> dict[int, int]:
    admin = KafkaAdminClient(bootstrap_servers=bootstrap)
    try:
        offsets = admin.list_group_offsets(group).get(group, {})
    finally:
        admin.close()
    return {tp.partition: int(o.offset) for tp, o in offsets.items() if tp.topic == topic}


@dataclass
class Occ:
    """The stand-in occ, copied into a test's own folder (its record and mode live beside it)."""

    path: Path

    @classmethod
    def install(cls, folder: Path) -> Occ:
        folder.mkdir(parents=True, exist_ok=True)
        target = folder / "occ"
        shutil.copy(STANDIN, target)
        target.chmod(0o755)
        return cls(target)

    def mode(self, **mode: object) -> None:
        (self.path.parent / "occ-mode.json").write_text(json.dumps(mode))

    def calls(self) -> list[list[str]]:
        record = self.path.parent / "occ-calls.jsonl"
        if not record.exists():
            return []
        lines = record.read_text(encoding="utf-8").splitlines()
        return [json.loads(line)["argv"] for line in lines if line.endswith("}")]

    def pids(self) -> list[int]:
        record = self.path.parent / "occ-calls.jsonl"
        lines = record.read_text(encoding="utf-8").splitlines() if record.exists() else []
        return [json.loads(line)["pid"] for line in lines if line.endswith("}")]

    def scanned(self) -> list[str]:
        """The `--path` of each call, in order."""
        return [
            arg.removeprefix("--path=")
            for c in self.calls()
            for arg in c
            if arg.startswith("--path=")
        ]


def react_env(
    bootstrap: str, es_url: str, topic: str, occ: Occ, deadletters: str
) -> dict[str, str]:
    return {
        **os.environ,
        "ESBRIDGE_KAFKA_BOOTSTRAP": bootstrap,
        "ESBRIDGE_ES_URL": es_url,
        "ESBRIDGE_BILLING_TOPIC": topic,
        "ESBRIDGE_OCC": str(occ.path),
        "ESBRIDGE_REACT_DEADLETTER_INDEX": deadletters,
        "ESBRIDGE_SCAN_PREFIX": PREFIX,
        "ESBRIDGE_KAFKA_GROUP": f"test-{topic}",
    }


def react_process(
    config: Path, env: Mapping[str, str], log: Path, *args: str
) -> subprocess.Popen[bytes]:
    with log.open("ab") as out:
        return subprocess.Popen(
            [sys.executable, "-m", "esbridge", "react", "-c", str(config), *args],
            stdout=out,
            stderr=subprocess.STDOUT,
            env=dict(env),
        )


def wait_for(check: Callable[[], bool], seconds: float = 90) -> bool:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if check():
            return True
        time.sleep(0.1)
    return check()
