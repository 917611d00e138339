"""The ingest process's collector and allocator settings (esbridge/ingest/runtime.py).

Each check runs in its own interpreter: the settings are process-wide and must not leak into
the test process.
"""

from __future__ import annotations

import json
import platform
import subprocess
import sys

import pytest

from esbridge.ingest.runtime import GC_THRESHOLDS, MMAP_THRESHOLD_BYTES

GLIBC = platform.libc_ver()[0] == "glibc"


def run_python(code: str) -> dict[str, object]:
    done = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=60, check=False
    )
    assert done.returncode == 0, done.stderr
    result: dict[str, object] = json.loads(done.stdout.splitlines()[-1])
    return result


def test_tuning_freezes_start_up_objects_and_raises_the_collector_thresholds() -> None:
    result = run_python(
        "import gc, json, logging\n"
        "logging.basicConfig(level=logging.INFO)\n"
        "from esbridge.ingest.runtime import tune_for_streaming\n"
        "t = tune_for_streaming()\n"
        "print(json.dumps({'frozen': gc.get_freeze_count(), 'reported': t.frozen_objects,\n"
        "    'thresholds': gc.get_threshold(), 'malloc': t.malloc_tuned}))\n"
    )

    assert result["thresholds"] == list(GC_THRESHOLDS)
    assert isinstance(result["frozen"], int) and result["frozen"] > 1000
    assert result["reported"] == result["frozen"]
    assert result["malloc"] is GLIBC


RESIDENT_AFTER_FREE = """
import ctypes, json, sys
from esbridge.ingest.runtime import tune_malloc
tuned = tune_malloc() if sys.argv[1] == "tuned" else False
libc = ctypes.CDLL(None)
libc.malloc.restype = ctypes.c_void_p
libc.malloc.argtypes = [ctypes.c_size_t]
libc.free.argtypes = [ctypes.c_void_p]
page = __import__("os").sysconf("SC_PAGE_SIZE")
def resident():
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * page
size = 16 * 2**20
before = resident()
block = libc.malloc(size)
ctypes.memset(block, 1, size)
libc.free(block)
print(json.dumps({"tuned": tuned, "kept": resident() - before}))
"""


@pytest.mark.skipif(not GLIBC, reason="mallopt's thresholds are glibc's")
@pytest.mark.parametrize(("mode", "keeps"), [("tuned", True), ("default", False)])
def test_freed_buffers_stay_in_the_heap_only_when_tuned(mode: str, keeps: bool) -> None:
    """What the settings are for: a freed batch-sized buffer is kept for the next batch
    instead of being unmapped and faulted in again, zeroed, by the kernel."""
    done = subprocess.run(
        [sys.executable, "-c", RESIDENT_AFTER_FREE, mode],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    result = json.loads(done.stdout)

    assert result["tuned"] is keeps
    assert MMAP_THRESHOLD_BYTES >= 16 * 2**20  # the block below is served from the heap
    kept = int(result["kept"])
    assert (kept >= 15 * 2**20) is keeps, f"{kept} bytes still resident after free"
