"""One fake dYdX world for tests: FakeIndexer + DydxExchange + FakeDydxNode, wired together.

    def test_x(dydx_world):
        venue = dydx_world.venue()                    # DydxVenue signed by the owner's mnemonic
        api = dydx_world.venue(api_key=True)          # same owner, permissioned API key
        dydx_world.node.advance(); dydx_world.exchange.set_price("ETH-USD", Decimal("2900"))

The owner account exists on the fake chain and its subaccount 0 holds `usdc` (10,000 by
default). Blocks are produced by hand (`node.advance()`) unless `auto_blocks` is called.
The chain's ShortBlockWindow is 40 (v9.5 on) unless the test asks for 20 (up to v9.4,
v4-chain protocol/x/clob/types/constants.go):

    @pytest.mark.parametrize("dydx_world", [20, 40], indirect=True)

Venues made by `world.venue()` are told the world's window. At teardown the fixture fails a test
that left a position without a live stop-loss or filled one intent twice (`check_protection =
False` turns the first check off).
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

import pytest

from tests.fakes.dydx_exchange import DydxExchange
from tests.fakes.dydx_indexer import install_account_routes
from tests.fakes.dydx_node import FakeDydxNode
from tests.fakes.indexer import FakeIndexer
from trading_app.domain.enums import Network
from trading_app.venues.dydx import DydxEndpoints, DydxVenue, Signer
from trading_app.venues.dydx.ratelimit import BlockRateLimiter

MNEMONIC = (
    "mirror actor skill push coach wait confirm orchard lunch mobile athlete gossip awake "
    "miracle matter bus reopen team ladder lazy list timber render wait"
)
OWNER = "dydx14zzueazeh0hj67cghhf9jypslcf9sh2n5k6art"
API_KEY = "1" * 64


@dataclass
class DydxWorld:
    indexer: FakeIndexer
    exchange: DydxExchange
    node: FakeDydxNode
    owner: str = OWNER
    short_block_window: int = 40
    venues: list[DydxVenue] = field(default_factory=list)
    # checked at teardown: no test may leave a position without its stop-loss
    check_protection: bool = True

    def endpoints(self, rpc_timeout: float = 1.0) -> DydxEndpoints:
        return DydxEndpoints(Network.TESTNET, self.node.url, self.indexer.url, rpc_timeout=rpc_timeout,
                             indexer_timeout=3.0)

    def signer(self, api_key: bool = False, auth_id: int | None = None, **kwargs: Any) -> Signer:
        """A mnemonic signer, or an API-key signer (registering an authenticator unless `auth_id`)."""
        kwargs.setdefault("limiter", BlockRateLimiter(poll_seconds=0.02, max_wait_seconds=3.0))
        kwargs.setdefault("resend_backoff", 0.01)
        if not api_key:
            return Signer.from_mnemonic(MNEMONIC, **kwargs)
        if auth_id is None:
            api_public_key = Signer.from_api_key(API_KEY, OWNER, 0).public_key
            auth_id = self.node.add_authenticator(self.owner, api_public_key)
        return Signer.from_api_key(API_KEY, self.owner, auth_id, **kwargs)

    def venue(self, api_key: bool = False, signer: Signer | None = None, rpc_timeout: float = 1.0,
              **kwargs: Any) -> DydxVenue:
        kwargs.setdefault("short_block_window", self.short_block_window)
        venue = DydxVenue(Network.TESTNET, self.owner, 0, signer or self.signer(api_key),
                          self.endpoints(rpc_timeout), **kwargs)
        self.venues.append(venue)
        return venue

    def auto_blocks(self, interval: float = 0.05) -> None:
        self.node.auto_blocks(interval)

    def assert_protected(self) -> None:
        """Every open position has a live reduce-only stop-loss covering it; no intent entered twice."""
        with self.exchange.lock:
            for (_, _, ticker), pos in self.exchange.positions.items():
                exit_side = "SELL" if pos.size > 0 else "BUY"
                stops = [o for o in self.exchange.orders.values()
                         if o.live and o.condition == "STOP_LOSS" and o.ticker == ticker
                         and o.side == exit_side and o.reduce_only and o.size >= abs(pos.size)]
                assert stops, f"{ticker} position {pos.size} was left without a stop-loss"
        assert self.exchange.double_entries() == [], "an order id was filled under two placements"


@pytest.fixture
def dydx_world(request: pytest.FixtureRequest) -> Iterator[DydxWorld]:
    """A started fake dYdX world whose owner has 10,000 USDC in subaccount 0 (indirect param: the
    chain's ShortBlockWindow)."""
    window = getattr(request, "param", 40)
    with FakeIndexer() as indexer:
        exchange = DydxExchange(indexer, short_block_window=window)
        install_account_routes(indexer, exchange)
        node = FakeDydxNode(exchange).start()
        node.add_account(OWNER, sequence=5, account_number=42)
        exchange.fund(OWNER, 0, Decimal("10000"))
        world = DydxWorld(indexer, exchange, node, short_block_window=window)
        try:
            yield world
            if world.check_protection:
                world.assert_protected()
        finally:
            node.stop()
            for venue in world.venues:
                venue.client._raw_channel.close()
