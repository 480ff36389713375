"""Fixed-window rate limits shared by every worker (Redis) or kept in-process (one worker).

Usage:

    limiter = create_rate_limiter("login")          # Redis when settings.redis_url is set
    decision = await limiter.hit(f"ip:{ip}", Limit(hits=30, window_seconds=60))
    if not decision.allowed:
        return 429 with Retry-After: decision.retry_after

`hit` counts an attempt and decides; `peek` decides without counting, for limits that
count only failures (check with `peek` first, `hit` after a failure).
"""

from __future__ import annotations

import math
import time
from abc import ABC, abstractmethod
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from trading_app.settings import get_settings

# INCR, and start the window on the first hit; a key left without a TTL (a crash between
# the two calls cannot happen inside a script, but a manual SET could) gets one again.
_HIT_SCRIPT = """
local n = redis.call('INCR', KEYS[1])
local ttl = redis.call('PTTL', KEYS[1])
if n == 1 or ttl < 0 then
  redis.call('PEXPIRE', KEYS[1], ARGV[1])
  ttl = tonumber(ARGV[1])
end
return {n, ttl}
"""


@dataclass(frozen=True)
class Limit:
    """At most `hits` attempts per `window_seconds`."""

    hits: int
    window_seconds: int


@dataclass(frozen=True)
class Decision:
    """The verdict for one key: `retry_after` is whole seconds until the window ends."""

    allowed: bool
    count: int
    retry_after: int


def _decide(count: int, limit: Limit, remaining_ms: float) -> Decision:
    retry = max(1, math.ceil(remaining_ms / 1000)) if count > limit.hits else 0
    return Decision(allowed=count <= limit.hits, count=count, retry_after=retry)


class RateLimiter(ABC):
    """A counter per key and window."""

    def __init__(self, namespace: str) -> None:
        self.namespace = namespace

    def _key(self, key: str) -> str:
        return f"ratelimit:{self.namespace}:{key}"

    @abstractmethod
    async def hit(self, key: str, limit: Limit) -> Decision:
        """Count one attempt for `key` and say whether it is within `limit`."""

    @abstractmethod
    async def peek(self, key: str, limit: Limit) -> Decision:
        """Say whether one more attempt for `key` would be allowed, without counting it."""

    @abstractmethod
    async def reset(self, key: str) -> None:
        """Forget `key`'s attempts (e.g. after a success)."""


class MemoryRateLimiter(RateLimiter):
    """In-process counters: correct only when a single worker serves the app."""

    def __init__(
        self, namespace: str, clock: Callable[[], float] = time.monotonic, max_keys: int = 50_000
    ) -> None:
        super().__init__(namespace)
        self._clock = clock
        self._max_keys = max_keys  # expired windows are swept when this many keys are held
        self._windows: dict[str, tuple[int, float]] = {}  # key -> (count, window end)

    def _current(self, key: str, limit: Limit) -> tuple[int, float]:
        now = self._clock()
        count, end = self._windows.get(self._key(key), (0, 0.0))
        if end <= now:
            return 0, now + limit.window_seconds
        return count, end

    async def hit(self, key: str, limit: Limit) -> Decision:
        count, end = self._current(key, limit)
        if len(self._windows) >= self._max_keys:
            now = self._clock()
            self._windows = {k: v for k, v in self._windows.items() if v[1] > now}
        self._windows[self._key(key)] = (count + 1, end)
        return _decide(count + 1, limit, (end - self._clock()) * 1000)

    async def peek(self, key: str, limit: Limit) -> Decision:
        count, end = self._current(key, limit)
        return _decide(count + 1, limit, (end - self._clock()) * 1000)

    async def reset(self, key: str) -> None:
        self._windows.pop(self._key(key), None)


class RedisRateLimiter(RateLimiter):
    """Counters in Redis, shared by every worker and replica.

    The client is created on first use and belongs to that event loop (one per worker).
    """

    def __init__(self, namespace: str, url: str) -> None:
        super().__init__(namespace)
        self._url = url
        self._client: Any = None  # a redis.asyncio.Redis, imported lazily

    def _redis(self) -> Any:
        if self._client is None:
            import redis.asyncio as aioredis

            self._client = aioredis.Redis.from_url(self._url, socket_timeout=2)
        return self._client

    async def hit(self, key: str, limit: Limit) -> Decision:
        count, ttl_ms = await self._redis().eval(_HIT_SCRIPT, 1, self._key(key), limit.window_seconds * 1000)
        return _decide(int(count), limit, float(ttl_ms))

    async def peek(self, key: str, limit: Limit) -> Decision:
        client = self._redis()
        async with client.pipeline(transaction=False) as pipe:
            raw, ttl_ms = await pipe.get(self._key(key)).pttl(self._key(key)).execute()
        count = int(raw or 0)
        window_ms = float(ttl_ms) if ttl_ms and ttl_ms > 0 else limit.window_seconds * 1000
        return _decide(count + 1, limit, window_ms)

    async def reset(self, key: str) -> None:
        await self._redis().delete(self._key(key))

    async def aclose(self) -> None:
        """Close the connection pool (tests, shutdown)."""
        if self._client is not None:
            await self._client.aclose()
            self._client = None


def create_rate_limiter(namespace: str) -> RateLimiter:
    """A Redis limiter when `settings.redis_url` is configured, else an in-process one."""
    url = get_settings().redis_url
    return RedisRateLimiter(namespace, url) if url else MemoryRateLimiter(namespace)
