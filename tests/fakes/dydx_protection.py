"""The fake dYdX chain's stateful-order rules for moving stops (issue 16): the block rate limit, and a
witness for "never a moment without a stop".

`rate_limit_refusal` is x/clob/rate_limit/multi_block_rate_limiter.go for stateful placements: every
placement that reaches this ante decorator (after sequence and signature, before the clob checks:
app/ante.go) adds to the count of every (num_blocks, limit) window, then each window is checked, so
refused and rate-limited attempts count too; counts older than a window leave it (PruneRateLimits in
EndBlocker). Stateful cancels are not counted (rate_limit/order_rate_limiter.go RateLimitCancelOrder).

After the block's matches, after each delivered tx and after EndBlocker (`FakeDydxNode.advance`),
`record_protection` notes every position that no live reduce-only stop-loss on its exit side covers.
On the chain a conditional order protects only while it is in state, UNTRIGGERED, or TRIGGERED and
matching in the next block (x/clob/keeper/untriggered_conditional_orders.go; abci.go
PrepareCheckState); a stop cancelled in a block is gone from that block on
(keeper/msg_server_cancel_orders.go), so cancelling the old stop before the new one is delivered
leaves a stop-less moment even when both land in one block: checking after each tx shows it.
"""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass
from decimal import Decimal
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from tests.fakes.dydx_exchange import DydxExchange


@dataclass(frozen=True)
class StoplessMoment:
    """A block (or a tx delivered in it) after which a position had no stop-loss covering it."""

    height: int
    size: Decimal  # the position's magnitude
    covered: Decimal  # the largest live reduce-only stop-loss on the exit side (0: none at all)


def record_protection(exchange: DydxExchange) -> None:
    """Note, in `exchange.stopless`, every position not covered by a stop-loss now (one per block)."""
    stops: dict[tuple[str, int, str, str], Decimal] = {}
    for o in exchange.orders.values():
        if o.condition == "STOP_LOSS" and o.reduce_only and o.status in ("UNTRIGGERED", "TRIGGERED"):
            key = (o.owner, o.subaccount, o.ticker, o.side)
            stops[key] = max(stops.get(key, Decimal(0)), o.size - o.filled)
    for (owner, subaccount, ticker), pos in exchange.positions.items():
        covered = stops.get((owner, subaccount, ticker, "SELL" if pos.size > 0 else "BUY"), Decimal(0))
        if covered >= abs(pos.size):
            continue
        moments = exchange.stopless.setdefault((owner, subaccount, ticker), [])
        if not moments or moments[-1].height != exchange.height:
            moments.append(StoplessMoment(exchange.height, abs(pos.size), covered))


def rate_limit_refusal(
    placements: deque[tuple[str, int]], limits: list[tuple[int, int]], owner: str
) -> str | None:
    """The 5001 log when `owner`'s placement just appended to `placements` (owner, height) exceeds a
    window of `limits` ((num_blocks, limit); empty: no limit), else None. Prunes what left every window."""
    if not limits:
        return None
    height = placements[-1][1]
    longest = max(blocks for blocks, _ in limits)
    while placements and placements[0][1] <= height - longest:
        placements.popleft()
    mine = [h for o, h in placements if o == owner]
    for blocks, limit in sorted(limits):
        count = sum(1 for h in mine if h > height - blocks)
        if count > limit:
            return (f"Rate of {count} exceeds configured block rate limit of "
                    f"{{NumBlocks:{blocks} Limit:{limit}}} for MaxStatefulOrdersPerNBlocks and {owner}: "
                    "block rate limit exceeded")
    return None
