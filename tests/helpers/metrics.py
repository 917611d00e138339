"""Scraping a daemon's /metrics and /healthz as Prometheus and a probe would."""

from __future__ import annotations

import time
import urllib.error
import urllib.request
from collections.abc import Callable
from typing import TypeVar

from prometheus_client.parser import text_string_to_metric_families

Samples = dict[tuple[str, frozenset[tuple[str, str]]], float]
T = TypeVar("T")


def scrape(port: int) -> Samples:
    """Every sample of /metrics, by name and labels; {} while the server is not up yet."""
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=5) as answer:
            text = answer.read().decode()
    except (urllib.error.URLError, ConnectionError):
        return {}
    return {
        (sample.name, frozenset(sample.labels.items())): sample.value
        for family in text_string_to_metric_families(text)
        for sample in family.samples
    }


def sample(samples: Samples, name: str, **labels: str) -> float:
    return samples.get((name, frozenset(labels.items())), 0.0)


def health(port: int) -> tuple[int, str]:
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/healthz", timeout=5) as answer:
            return answer.status, answer.read().decode()
    except urllib.error.HTTPError as error:
        return error.code, error.read().decode()
    except (urllib.error.URLError, ConnectionError):
        return 0, ""


def wait_until(probe: Callable[[], T], done: Callable[[T], bool], timeout: float = 90.0) -> T:
    """Probes until `done` holds; returns the last probe either way, for the assertion."""
    deadline = time.monotonic() + timeout
    while True:
        found = probe()
        if done(found) or time.monotonic() > deadline:
            return found
        time.sleep(0.3)
