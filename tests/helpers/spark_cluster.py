"""A Spark standalone cluster on loopback (one master, one worker) from pyspark's own jars,
so a test can run a job with `--master spark://...` exactly as a site's cluster would."""

from __future__ import annotations

import json
import time
import urllib.request
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import pyspark

from esbridge.stack import process

SPARK_CLASS = Path(pyspark.__file__).parent / "bin" / "spark-class"


@dataclass(frozen=True)
class Cluster:
    master: str
    worker_log: Path


def _alive_workers(ui_port: int) -> int:
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{ui_port}/json/", timeout=2) as answer:
            return int(json.load(answer).get("aliveworkers", 0))
    except OSError:
        return 0


@contextmanager
def standalone_cluster(directory: Path, env: Mapping[str, str]) -> Iterator[Cluster]:
    """Master and worker started in their own process groups, stopped (group-wise) after."""
    port, ui_port = process.free_port(), process.free_port()
    master = f"spark://127.0.0.1:{port}"
    daemons = {
        "master": [
            "org.apache.spark.deploy.master.Master",
            *("--host", "127.0.0.1", "--port", str(port), "--webui-port", str(ui_port)),
        ],
        "worker": [
            "org.apache.spark.deploy.worker.Worker",
            *("--host", "127.0.0.1", "--webui-port", str(process.free_port())),
            *("--cores", "1", "--memory", "1g", "--work-dir", str(directory / "work"), master),
        ],
    }
    pids: list[int] = []
    try:
        for name, arguments in daemons.items():
            pids.append(
                process.start_detached(
                    [str(SPARK_CLASS), *arguments],
                    log_file=directory / f"{name}.log",
                    pid_file=directory / f"{name}.pid",
                    env=env,
                )
            )
        deadline = time.monotonic() + 180
        while _alive_workers(ui_port) < 1:
            if time.monotonic() > deadline:
                raise AssertionError(process.tail(directory / "worker.log"))
            time.sleep(1)
        yield Cluster(master, directory / "worker.log")
    finally:
        for pid in reversed(pids):
            process.stop_group(pid)
