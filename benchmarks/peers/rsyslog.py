"""rsyslog as a peer of esbridge: imkafka -> omelasticsearch, the JSON passed through unparsed.

A private rsyslogd (`rsyslogd -n -f <own conf> -i <own pid file>`, its own work directory, no
system inputs: only imkafka is loaded) reads the benchmark's topic with its own consumer group
and bulk-loads each message's text (`%msg%`) into an index of its own. Debian's packages
`rsyslog-kafka` and `rsyslog-elasticsearch` bring both modules (benchmarks/peers/install.sh).

rsyslog does none of esbridge's work: no parsing, no validation, no envelope, no
deterministic ids (Elasticsearch picks them, so a replay duplicates), no dead letters, and
imkafka commits offsets on a timer whatever Elasticsearch answered. Its documents are the
dCache JSON as produced, mapped dynamically.
"""

from __future__ import annotations

import shutil
from dataclasses import dataclass
from pathlib import Path

BATCH_DOCS = 5000
"""Messages per bulk request: esbridge's `ingest.batch_max_docs` default."""
BATCH_BYTES = "10m"
"""Bytes per bulk request at most: esbridge's `ingest.batch_max_bytes` default."""
WORKERS = 2
"""Bulk requests in flight: esbridge's `ingest.max_in_flight` default."""
QUEUE_SIZE = 1_000_000
"""Messages the action queue holds: a full queue makes rsyslog drop messages after its enqueue
timeout, so it is larger than any run (a linked list takes memory only as it fills)."""


@dataclass(frozen=True)
class RsyslogSetup:
    """Everything one private rsyslogd instance needs; `config()` renders its rsyslog.conf."""

    work_dir: Path
    topic: str
    bootstrap: str
    group: str
    es_host: str
    es_port: int
    index: str

    @property
    def config_path(self) -> Path:
        return self.work_dir / "rsyslog.conf"

    @property
    def pid_path(self) -> Path:
        return self.work_dir / "rsyslogd.pid"

    @property
    def error_path(self) -> Path:
        """omelasticsearch writes every request Elasticsearch refused (in part) here."""
        return self.work_dir / "es-errors.json"

    def config(self) -> str:
        spool = self.work_dir / "spool"
        return f"""\
global(workDirectory="{spool}")
module(load="imkafka")
module(load="omelasticsearch")
template(name="raw" type="string" string="%msg%")
input(type="imkafka" topic="{self.topic}" broker="{self.bootstrap}"
      consumergroup="{self.group}" ruleset="toes"
      confParam=["auto.offset.reset=earliest"])
ruleset(name="toes") {{
  action(type="omelasticsearch" server="{self.es_host}" serverport="{self.es_port}"
         searchIndex="{self.index}" esVersion.major="8" template="raw"
         bulkmode="on" maxbytes="{BATCH_BYTES}" errorFile="{self.error_path}"
         queue.type="linkedList" queue.size="{QUEUE_SIZE}" queue.dequeueBatchSize="{BATCH_DOCS}"
         queue.workerThreads="{WORKERS}" action.resumeRetryCount="-1")
}}
"""

    def command(self, rsyslogd: str) -> list[str]:
        return [rsyslogd, "-n", "-f", str(self.config_path), "-i", str(self.pid_path)]

    def write(self) -> None:
        (self.work_dir / "spool").mkdir(parents=True, exist_ok=True)
        self.pid_path.unlink(missing_ok=True)  # a stale one makes rsyslogd refuse to start
        self.config_path.write_text(self.config(), encoding="utf-8")


def rsyslogd_problem() -> str | None:
    """Why the rsyslog peer cannot run here (None when it can)."""
    if shutil.which("rsyslogd") is None:
        return "rsyslogd is not installed (run benchmarks/peers/install.sh)"
    modules = [Path(d) for d in ("/usr/lib/x86_64-linux-gnu/rsyslog", "/usr/lib/rsyslog")]
    modules += list(Path("/usr/lib").glob("*-linux-gnu/rsyslog"))
    for name in ("imkafka.so", "omelasticsearch.so"):
        if not any((d / name).exists() for d in modules):
            return f"rsyslog's {name} is not installed (run benchmarks/peers/install.sh)"
    return None
