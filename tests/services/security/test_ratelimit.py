"""Fixed-window limits, in-process and in Redis (shared by workers)."""

from __future__ import annotations

import uuid

import pytest

from trading_app.services.security.ratelimit import (
    Limit,
    MemoryRateLimiter,
    RedisRateLimiter,
    create_rate_limiter,
)
from trading_app.settings import get_settings

LIMIT = Limit(hits=3, window_seconds=10)


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


async def test_memory_limiter_allows_the_limit_then_refuses_until_the_window_ends() -> None:
    clock = Clock()
    limiter = MemoryRateLimiter("t", clock=clock)
    assert [(await limiter.hit("k", LIMIT)).allowed for _ in range(3)] == [True] * 3
    clock.now += 4
    refused = await limiter.hit("k", LIMIT)
    assert not refused.allowed and refused.count == 4 and refused.retry_after == 6
    assert (await limiter.hit("other", LIMIT)).allowed  # keys are independent
    clock.now += 6
    assert (await limiter.hit("k", LIMIT)).allowed


async def test_memory_peek_does_not_count_and_reset_forgets() -> None:
    limiter = MemoryRateLimiter("t", clock=Clock())
    for _ in range(3):
        assert (await limiter.peek("k", LIMIT)).allowed
    for _ in range(3):
        await limiter.hit("k", LIMIT)
    assert not (await limiter.peek("k", LIMIT)).allowed
    await limiter.reset("k")
    assert (await limiter.peek("k", LIMIT)).allowed


async def test_memory_limiter_forgets_expired_windows_when_full() -> None:
    clock = Clock()
    limiter = MemoryRateLimiter("t", clock=clock, max_keys=5)
    for n in range(5):
        await limiter.hit(f"k{n}", LIMIT)
    clock.now += 11
    await limiter.hit("new", LIMIT)
    assert len(limiter._windows) == 1


async def test_redis_limiter_counts_across_instances(redis_url: str) -> None:
    namespace = f"test-{uuid.uuid4().hex}"
    worker_a, worker_b = RedisRateLimiter(namespace, redis_url), RedisRateLimiter(namespace, redis_url)
    try:
        decisions = [await (worker_a if n % 2 else worker_b).hit("k", LIMIT) for n in range(4)]
        assert [d.allowed for d in decisions] == [True, True, True, False]
        assert 9 <= decisions[-1].retry_after <= 10
        assert not (await worker_a.peek("k", LIMIT)).allowed
        assert (await worker_b.peek("other", LIMIT)).allowed
        await worker_a.reset("k")
        assert (await worker_b.hit("k", LIMIT)).allowed
        ttl = await worker_a._redis().pttl(f"ratelimit:{namespace}:k")
        assert 0 < ttl <= 10_000  # the window always expires
    finally:
        await worker_a.reset("k")
        await worker_a.aclose()
        await worker_b.aclose()


def test_factory_picks_redis_only_when_configured(monkeypatch: pytest.MonkeyPatch, redis_url: str) -> None:
    get_settings.cache_clear()
    assert isinstance(create_rate_limiter("x"), MemoryRateLimiter)
    monkeypatch.setenv("REDIS_URL", redis_url)
    get_settings.cache_clear()
    try:
        assert isinstance(create_rate_limiter("x"), RedisRateLimiter)
    finally:
        monkeypatch.delenv("REDIS_URL")
        get_settings.cache_clear()
