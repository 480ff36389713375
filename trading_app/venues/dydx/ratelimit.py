"""Stay under the chain's stateful-order block rate limit instead of hitting clob 5001.

The clob module's BlockRateLimitConfiguration.max_stateful_orders_per_n_blocks limits each account
(the owner address, all subaccounts together) to `limit` stateful placements per `num_blocks`
blocks, every window at once (x/clob/rate_limit/multi_block_rate_limiter.go). Mainnet genesis has
2 per block and 20 per 100 blocks (protocol/testing/mainnet/genesis.json); `limits.ChainLimits`
reads the live values and the venue configures this limiter with them. Only placements count:
stateful cancels are not rate limited (x/clob/rate_limit/order_rate_limiter.go
RateLimitCancelOrder limits short-term cancels only). Entry protection needs two (SL then TP), so a
limiter that simply waits for the next block keeps them from failing.
"""

from __future__ import annotations

import asyncio
import time
from collections import deque
from collections.abc import Awaitable, Callable

from trading_app.venues.errors import RateLimited

# (num_blocks, limit) pairs, mainnet genesis: 2 per block, 20 per 100 blocks
GENESIS_STATEFUL_LIMITS: tuple[tuple[int, int], ...] = ((1, 2), (100, 20))
# what `room` says when the chain sets no stateful limit at all (an empty configuration disables it)
UNLIMITED = 1_000_000


class BlockRateLimiter:
    """Counts this signer's stateful placements per block height and waits when full.

    Not thread-safe; use it under the signer's lock.

    Args:
        per_block, per_window, window_blocks: Limits set by hand (they then stay: `configure` from
            the chain leaves them alone; a test uses this to disagree with the chain on purpose).
        limits: (num_blocks, limit) pairs set by hand, instead of the three above.
        poll_seconds: How often `wait_turn` reads the height.
        max_wait_seconds: How long `wait_turn` waits for room before giving up.
    """

    def __init__(
        self,
        per_block: int | None = None,
        per_window: int | None = None,
        window_blocks: int | None = None,
        poll_seconds: float = 0.2,
        max_wait_seconds: float = 20.0,
        *,
        limits: tuple[tuple[int, int], ...] | None = None,
    ) -> None:
        by_hand = limits is not None or any(v is not None for v in (per_block, per_window, window_blocks))
        if limits is None:
            (_, block), (window, in_window) = GENESIS_STATEFUL_LIMITS
            limits = ((1, per_block or block), (window_blocks or window, per_window or in_window))
        self.limits = _checked(limits)
        self.by_hand = by_hand
        self.poll_seconds = poll_seconds
        self.max_wait_seconds = max_wait_seconds
        self._heights: deque[int] = deque()

    def configure(self, limits: tuple[tuple[int, int], ...]) -> None:
        """Use the chain's limits (ignored when the limits were set by hand); none: no limit.

        Raises:
            ValueError: a window or limit that is not a positive integer.
        """
        if not self.by_hand:
            self.limits = _checked(limits)

    def _forget(self, height: int) -> None:
        longest = self.limits[-1][0] if self.limits else 0
        while self._heights and self._heights[0] <= height - longest:
            self._heights.popleft()

    def room(self, height: int) -> int:
        """Placements that still fit at `height` without exceeding any window."""
        self._forget(height)
        free = [limit - sum(1 for h in self._heights if h > height - blocks) for blocks, limit in self.limits]
        return max(0, min(free, default=UNLIMITED))

    def window_room(self, height: int) -> int:
        """Placements left in the longest window at `height`."""
        self._forget(height)
        if not self.limits:
            return UNLIMITED
        return max(0, self.limits[-1][1] - len(self._heights))

    def has_room(self, height: int) -> bool:
        """True when one more placement at `height` stays within every limit."""
        return self.room(height) > 0

    async def wait_turn(self, latest_height: Callable[[], Awaitable[int]]) -> int:
        """Wait until a placement fits, polling the chain height.

        Args:
            latest_height: Returns the node's latest block height.

        Returns:
            The height the placement is counted at (pass it to `record`).

        Raises:
            RateLimited: no room within `max_wait_seconds`.
        """
        deadline = time.monotonic() + self.max_wait_seconds
        height = await latest_height()
        while not self.has_room(height):
            if time.monotonic() >= deadline:
                raise RateLimited("stateful order rate limit: no room in the next blocks, try again later")
            await asyncio.sleep(self.poll_seconds)
            height = await latest_height()
        return height

    async def wait_next_block(self, latest_height: Callable[[], Awaitable[int]], height: int) -> int:
        """Wait until the chain is past `height` (after the node said 5001 anyway)."""
        deadline = time.monotonic() + self.max_wait_seconds
        current = await latest_height()
        while current <= height:
            if time.monotonic() >= deadline:
                raise RateLimited("stateful order rate limit: the chain did not advance")
            await asyncio.sleep(self.poll_seconds)
            current = await latest_height()
        return current

    def record(self, height: int) -> None:
        """Count one accepted placement at `height`."""
        self._heights.append(height)


def _checked(limits: tuple[tuple[int, int], ...]) -> tuple[tuple[int, int], ...]:
    pairs = tuple(sorted((int(blocks), int(limit)) for blocks, limit in limits))
    if any(blocks < 1 or limit < 1 for blocks, limit in pairs):
        raise ValueError(f"stateful rate limits must be positive (blocks, limit) pairs, got {limits}")
    return pairs
