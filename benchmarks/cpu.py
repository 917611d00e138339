"""CPU accounting and placement for the benchmarks: who used how much, and on which cores.

`cpu_layout("isolated", ...)` runs the servers on all cores but the last and the benchmark
(with its children) on the last one, as when the bridge has a host of its own: the figures
then say whether the client keeps Elasticsearch saturated. `shared` puts everyone on every core,
so the client's own CPU competes with Elasticsearch's: the figures then also price it.
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

LAYOUTS = ("isolated", "shared")


def listener_pid(port: int) -> int | None:
    """The process listening on local TCP `port` (to account the servers' CPU), if visible."""
    sockets = set()
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        with contextlib.suppress(OSError):
            for line in Path(table).read_text().splitlines()[1:]:
                parts = line.split()
                if parts[3] == "0A" and int(parts[1].rsplit(":", 1)[1], 16) == port:
                    sockets.add(f"socket:[{parts[9]}]")
    for fd_dir in Path("/proc").glob("[0-9]*/fd"):
        with contextlib.suppress(OSError):
            for fd in fd_dir.iterdir():
                if os.readlink(fd) in sockets:
                    return int(fd_dir.parent.name)
    return None


def process_cpu(pid: int) -> float:
    """User+system CPU seconds of `pid` (all its threads) so far; 0 once it is gone."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return 0.0
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


@dataclass(frozen=True)
class CpuSample:
    """CPU seconds used so far: by the whole machine (busy, and busy + idle) and by each server."""

    busy: float
    total: float
    servers: dict[str, float]

    @staticmethod
    def take(servers: dict[str, int]) -> CpuSample:
        fields = [int(v) for v in Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:8]]
        user, nice, system, idle, iowait, irq, softirq = fields
        tick = os.sysconf("SC_CLK_TCK")
        busy = user + nice + system + irq + softirq
        used = {name: process_cpu(pid) for name, pid in servers.items()}
        return CpuSample(busy / tick, (busy + idle + iowait) / tick, used)


@dataclass(frozen=True)
class CpuUse:
    """CPU seconds between two samples: the machine's, its busy fraction, and per server."""

    machine: float
    busy: float
    servers: dict[str, float]

    @staticmethod
    def between(start: CpuSample, end: CpuSample) -> CpuUse:
        total = end.total - start.total
        machine = end.busy - start.busy
        servers = {name: end.servers[name] - start.servers[name] for name in start.servers}
        return CpuUse(machine, machine / total if total else 0.0, servers)


def own_cpu() -> float:
    times = os.times()
    return times.user + times.system


def pin(pid: int, cpus: set[int]) -> None:
    """Every thread of `pid` onto `cpus`; threads it starts later inherit the setting."""
    for task in Path(f"/proc/{pid}/task").iterdir():
        with contextlib.suppress(ProcessLookupError):  # a thread that just ended
            os.sched_setaffinity(int(task.name), cpus)


def layout_problem(servers: dict[str, int], expected: int) -> str | None:
    """Why the isolated layout cannot be set up here, or None when it can."""
    if len(os.sched_getaffinity(0)) < 2:
        return "fewer than 2 cores"
    if len(servers) < expected:
        return "the servers' processes are not visible on this machine"
    try:
        for pid in servers.values():
            os.sched_setaffinity(pid, os.sched_getaffinity(pid))
    except PermissionError:
        return "no permission to place the servers' threads"
    return None


@contextlib.contextmanager
def cpu_layout(layout: str, servers: dict[str, int]) -> Iterator[None]:
    every = os.sched_getaffinity(0)
    client = {max(every)} if layout == "isolated" else every
    for pid in servers.values():
        pin(pid, every - client or every)
    pin(os.getpid(), client)
    try:
        yield
    finally:
        for pid in servers.values():
            with contextlib.suppress(OSError):
                pin(pid, every)
        pin(os.getpid(), every)
