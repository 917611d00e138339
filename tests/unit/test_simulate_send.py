"""The token bucket paces sends to the rate asked for (sending itself is tested on the broker)."""

from __future__ import annotations

import pytest

from esbridge.simulate import TokenBucket

TOPICS = {"billing": "t-billing", "logs": "t-logs"}


class FakeClock:
    def __init__(self) -> None:
        self.now = 100.0
        self.sleeps: list[float] = []

    def __call__(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.sleeps.append(seconds)
        self.now += seconds


@pytest.mark.parametrize("rate", [0.5, 100.0, 50_000.0])
def test_token_bucket_paces_to_the_rate(rate: float) -> None:
    clock = FakeClock()
    bucket = TokenBucket(rate, clock=clock, sleep=clock.sleep)
    takes = int(rate * 10) + 1

    for _ in range(takes):
        bucket.take()

    assert clock.now - 100.0 == pytest.approx(10.0, rel=0.01)
    assert min(clock.sleeps) >= min(0.002, 1 / rate)  # no busy micro-sleeps at high rates


def test_token_bucket_allows_a_short_burst_after_idling() -> None:
    clock = FakeClock()
    bucket = TokenBucket(100.0, clock=clock, sleep=clock.sleep)
    clock.now += 60.0  # idle for a minute: at most a tenth of a second is saved up
    for _ in range(10):
        bucket.take()
    assert clock.sleeps == []
    bucket.take()
    bucket.take()
    assert clock.sleeps


def test_token_bucket_refuses_a_non_positive_rate() -> None:
    with pytest.raises(ValueError, match="positive"):
        TokenBucket(0)
