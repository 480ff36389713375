"""Stay under the chain's stateful-order block rate limit instead of hitting clob 5001.

dYdX allows an account 2 stateful order placements per block and 20 per 100 blocks
(genesis and docs). Entry protection needs two (SL then TP), so a limiter that simply
waits for the next block keeps them from failing.
"""

from __future__ import annotations

import asyncio
import time
from collections import deque
from collections.abc import Awaitable, Callable

from trading_app.venues.errors import RateLimited


class BlockRateLimiter:
    """Counts this signer's stateful placements per block height and waits when full.

    Not thread-safe; use it under the signer's lock.
    """

    def __init__(
        self,
        per_block: int = 2,
        per_window: int = 20,
        window_blocks: int = 100,
        poll_seconds: float = 0.2,
        max_wait_seconds: float = 20.0,
    ) -> None:
        self.per_block = per_block
        self.per_window = per_window
        self.window_blocks = window_blocks
        self.poll_seconds = poll_seconds
        self.max_wait_seconds = max_wait_seconds
        self._heights: deque[int] = deque()

    def _count(self, height: int) -> tuple[int, int]:
        while self._heights and self._heights[0] <= height - self.window_blocks:
            self._heights.popleft()
        return sum(1 for h in self._heights if h == height), len(self._heights)

    def has_room(self, height: int) -> bool:
        """True when one more placement at `height` stays within both limits."""
        in_block, in_window = self._count(height)
        return in_block < self.per_block and in_window < self.per_window

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
