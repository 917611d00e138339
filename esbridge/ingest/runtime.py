"""The ingest process's garbage collector and allocator settings, set once before the loop.

Measured (docs/benchmarks.md, "Runtime settings"): with CPython's defaults, ~15% of ingest's
CPU went to the cyclic collector re-walking every object the start-up imported and every
message of the batches in flight, and ~15% to the kernel zeroing fresh pages because glibc
handed the heap back after every batch and librdkafka's fetch buffers came from new mappings.
Neither collector nor allocator settings change what is sent: only how often memory is walked
and returned.
"""

from __future__ import annotations

import ctypes
import gc
import logging
import platform
from dataclasses import dataclass

log = logging.getLogger("esbridge.ingest")

GC_THRESHOLDS = (100_000, 50, 1_000)
"""Young collections every 100,000 tracked allocations (20 batches' Message/BulkItem objects
rather than 700); the objects ingest makes per message hold no cycles, so the collector only
has the rare cyclic garbage of errors and retries to find."""

M_TRIM_THRESHOLD = -1
M_MMAP_THRESHOLD = -3
"""glibc's `mallopt` parameters (malloc.h)."""
TRIM_THRESHOLD_BYTES = 256 * 2**20
"""Free memory glibc keeps at the top of a heap instead of returning it (default 128 KiB, so
each batch's bulk lines were given back and faulted in again, zeroed, for the next one)."""
MMAP_THRESHOLD_BYTES = 32 * 2**20
"""Allocations served from the heap rather than their own mapping, up to glibc's maximum on
64-bit Linux: a fetch buffer or a bulk body reuses heap pages instead of fresh zeroed ones."""


@dataclass(frozen=True)
class RuntimeTuning:
    frozen_objects: int
    """Objects of the start-up moved out of the collector's sight (`gc.freeze`)."""
    gc_thresholds: tuple[int, int, int]
    malloc_tuned: bool
    """False off glibc (musl, macOS): its defaults stay."""


def tune_for_streaming() -> RuntimeTuning:
    """Freezes what start-up allocated, raises the collector's thresholds and keeps freed
    memory in glibc's heap; logs one line saying what was set."""
    gc.collect()
    gc.freeze()
    gc.set_threshold(*GC_THRESHOLDS)
    tuning = RuntimeTuning(gc.get_freeze_count(), gc.get_threshold(), tune_malloc())
    log.info(
        "runtime: gc thresholds %s, %d start-up objects frozen, malloc %s",
        "/".join(map(str, tuning.gc_thresholds)),
        tuning.frozen_objects,
        f"trim {TRIM_THRESHOLD_BYTES >> 20} MiB, mmap {MMAP_THRESHOLD_BYTES >> 20} MiB"
        if tuning.malloc_tuned
        else "defaults (not glibc)",
    )
    return tuning


def tune_malloc() -> bool:
    """glibc's trim and mmap thresholds through `mallopt`; False where there is no glibc."""
    if platform.libc_ver()[0] != "glibc":
        return False
    try:
        mallopt = ctypes.CDLL(None).mallopt
    except (OSError, AttributeError):
        return False
    mallopt.argtypes = [ctypes.c_int, ctypes.c_int]
    mallopt.restype = ctypes.c_int
    return bool(mallopt(M_TRIM_THRESHOLD, TRIM_THRESHOLD_BYTES)) and bool(
        mallopt(M_MMAP_THRESHOLD, MMAP_THRESHOLD_BYTES)
    )
