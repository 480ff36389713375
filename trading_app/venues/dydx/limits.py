"""The chain's limits on stateful orders, read from the clob module, with mainnet genesis as fallback.

Two clob queries (proto/dydxprotocol/clob/query.proto):
- `BlockRateLimitConfiguration`: `max_stateful_orders_per_n_blocks` is the one that applies to
  stateful placements (conditional and long-term), every (num_blocks, limit) pair at once
  (x/clob/rate_limit/order_rate_limiter.go RateLimitPlaceOrder); stateful cancels are not counted
  (RateLimitCancelOrder limits short-term cancels only). An empty list disables the limit.
- `EquityTierLimitConfiguration`: `stateful_order_equity_tiers`, ascending `usd_tnc_required`
  (quote quantums, a dtypes.SerializableInt: Go's big.Int GobEncode bytes) -> the cap on open
  stateful orders for a subaccount whose net collateral reaches it
  (x/clob/keeper/equity_tier_limit.go getEquityTierLimitForSubaccount: the last tier reached; a
  cap of 0, below $20 on mainnet, refuses every stateful order). An empty list disables the cap.
When the node cannot answer, the mainnet genesis values (protocol/testing/mainnet/genesis.json) are
used and the answer says so (`source == "genesis"`).
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from v4_proto.dydxprotocol.clob import query_pb2 as clob_query
from v4_proto.dydxprotocol.clob import query_pb2_grpc as clob_query_grpc

from trading_app.venues.dydx.client import DydxClient
from trading_app.venues.dydx.ratelimit import GENESIS_STATEFUL_LIMITS
from trading_app.venues.errors import VenueError

USDC_QUANTUM_EXPONENT = -6
# mainnet genesis stateful_order_equity_tiers: (net collateral in USD, max open stateful orders)
GENESIS_EQUITY_TIERS: tuple[tuple[Decimal, int], ...] = (
    (Decimal(0), 0), (Decimal(20), 1), (Decimal(100), 5), (Decimal(1000), 10), (Decimal(10000), 100),
    (Decimal(100000), 200),
)
CACHE_SECONDS = 3600.0
RETRY_SECONDS = 300.0  # after a failed read the genesis values stand this long, then the node is asked again


@dataclass(frozen=True)
class ChainLimits:
    """The stateful-order limits one chain enforces.

    Attributes:
        stateful: (num_blocks, limit) pairs for stateful placements, ascending by num_blocks.
        equity_tiers: (net collateral in USD, max open stateful orders), ascending.
        source: "chain" or "genesis".
    """

    stateful: tuple[tuple[int, int], ...]
    equity_tiers: tuple[tuple[Decimal, int], ...]
    source: str

    def max_open_stateful(self, net_collateral: Decimal) -> int | None:
        """The cap on open stateful orders at this net collateral (None: the chain sets none)."""
        if not self.equity_tiers:
            return None
        cap = 0
        for required, limit in self.equity_tiers:
            if net_collateral < required:
                break
            cap = limit
        return cap


GENESIS = ChainLimits(GENESIS_STATEFUL_LIMITS, GENESIS_EQUITY_TIERS, "genesis")


def decode_serializable_int(data: bytes) -> int:
    """A dtypes.SerializableInt (Go big.Int GobEncode: version<<1 | sign, then big-endian magnitude).

    Raises:
        ValueError: bytes that are not a version-1 encoding.
    """
    if not data:
        return 0  # a nil big.Int encodes to nothing
    if data[0] >> 1 != 1:
        raise ValueError(f"unknown big.Int encoding version {data[0] >> 1}")
    magnitude = int.from_bytes(data[1:], "big")
    return -magnitude if data[0] & 1 else magnitude


def from_responses(block_rate: Any, equity: Any) -> ChainLimits:
    """ChainLimits from the two query responses (QueryBlockRateLimitConfigurationResponse,
    QueryEquityTierLimitConfigurationResponse).

    Raises:
        ValueError: a malformed configuration (a zero window or limit, a bad integer).
    """
    pairs = tuple(sorted((int(r.num_blocks), int(r.limit))
                         for r in block_rate.block_rate_limit_config.max_stateful_orders_per_n_blocks))
    if any(blocks < 1 or limit < 1 for blocks, limit in pairs):
        raise ValueError(f"invalid stateful rate limits {pairs}")  # the chain's Validate refuses these
    tiers = tuple(sorted(
        (Decimal(decode_serializable_int(t.usd_tnc_required)).scaleb(USDC_QUANTUM_EXPONENT), int(t.limit))
        for t in equity.equity_tier_limit_config.stateful_order_equity_tiers))
    return ChainLimits(pairs, tiers, "chain")


async def _block_rate(channel: Any) -> Any:
    # NodeClient (1.1.5) has no method for this query: the generated stub is called directly
    request = clob_query.QueryBlockRateLimitConfigurationRequest()
    return clob_query_grpc.QueryStub(channel).BlockRateLimitConfiguration(request)


async def _equity_tiers(channel: Any) -> Any:
    request = clob_query.QueryEquityTierLimitConfigurationRequest()
    return clob_query_grpc.QueryStub(channel).EquityTierLimitConfiguration(request)


# node URL -> (monotonic expiry, limits): shared by every venue of the process (one read per node an hour)
_SHARED: dict[str, tuple[float, ChainLimits]] = {}


class LimitsCache:
    """One network's ChainLimits, read from the node at most once an hour (shared per node URL).

    Args:
        client: The network's node client.
        ttl: Seconds a read from the chain is kept.
        retry: Seconds the genesis fallback is kept after a failed read.
        clock: Monotonic seconds (injectable for tests).
    """

    def __init__(self, client: DydxClient, *, ttl: float = CACHE_SECONDS, retry: float = RETRY_SECONDS,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self.client = client
        self.ttl, self.retry = ttl, retry
        self._clock = clock
        self._key = client.endpoints.node_url

    async def get(self) -> ChainLimits:
        """The chain's limits (cached), or GENESIS when the node cannot say."""
        now = self._clock()
        cached = _SHARED.get(self._key)
        if cached is not None and now < cached[0]:
            return cached[1]
        channel = self.client.node.channel
        try:
            limits = from_responses(await self.client.query(_block_rate, channel),
                                    await self.client.query(_equity_tiers, channel))
            expires = now + self.ttl
        except (VenueError, ValueError):
            limits, expires = GENESIS, now + self.retry
        _SHARED[self._key] = (expires, limits)
        return limits

    def forget(self) -> None:
        """Drop the cached limits: the next `get` asks the node."""
        _SHARED.pop(self._key, None)
