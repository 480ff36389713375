"""DydxVenue against the shared venue contract, on the fake node + fake indexer.

Three worlds run the whole contract:
- "mnemonic": signed with the owner's secret phrase, indexer without lag, ShortBlockWindow 40;
- "api_key_lagged": a permissioned API key (TxExtension + authenticator, dydx.trade's AnyOf shape),
  an indexer that shows orders, fills and balances one block late, and a chain with
  ShortBlockWindow 20 (protocol up to v9.4) while the venue assumes its default;
- "flaky_node": every second BroadcastTx is processed but answered after the client's deadline, so
  the venue must send the order again and never create a second one; blocks come on their own.
More dYdX-specific behaviour is in tests/venues/dydx/.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Awaitable, Callable
from decimal import Decimal

import pytest

from tests.fakes.dydx_protection import StoplessMoment
from tests.fakes.dydx_world import API_KEY, OWNER, DydxWorld
from tests.venues.contract import VenueContract
from trading_app.venues.dydx import DydxVenue, Signer, encoding

# enough blocks for everything placed so far to be final and indexed: a stateful tx is committed
# in the next block, a triggered order matches in the block after, and a short-term order is
# decided once its good-til-block has passed
SETTLE_BLOCKS = encoding.SHORT_TERM_BLOCKS + 2

TICKER, OTHER = "ETH-USD", "BTC-USD"


class DydxDriver:
    """Moves the fake market; `settle()` produces blocks until the indexer shows everything."""

    ticker, other_ticker = TICKER, OTHER
    stateful_limits = ((1, 2), (100, 20))  # what the fake chain serves: mainnet genesis

    def __init__(self, world: DydxWorld, exact_budget: bool = False) -> None:
        self.world = world
        self.exact_budget = exact_budget  # blocks by hand and every answer arrives: counts are exact
        self._since = 0

    async def watch_stops(self, venue: DydxVenue, ticker: str) -> None:
        self._since = self.world.exchange.height

    async def stopless_moments(self, venue: DydxVenue, ticker: str) -> list[StoplessMoment]:
        moments = self.world.exchange.stopless_moments(venue.owner_address, venue.subaccount, ticker)
        return [m for m in moments if m.height > self._since]

    async def price(self) -> Decimal:
        return self.world.indexer.price(self.ticker)

    async def set_price(self, price: Decimal) -> None:
        self.world.exchange.set_price(self.ticker, price)

    async def settle(self) -> None:
        blocks = SETTLE_BLOCKS + self.world.exchange.lag_blocks
        if not self.world.node.producing:
            await asyncio.to_thread(self.world.node.advance, blocks)
            return
        target = self.world.exchange.height + blocks
        for _ in range(int(blocks * 0.05 / 0.02) + 100):  # blocks come every 0.05 s
            if self.world.exchange.height >= target:
                return
            await asyncio.sleep(0.02)
        raise AssertionError("the fake chain stopped producing blocks")

    async def down(self) -> None:
        self.world.node.down()
        await asyncio.to_thread(self.world.indexer.down)

    async def up(self) -> None:
        self.world.node.up()
        await asyncio.to_thread(self.world.indexer.up)


@pytest.fixture(params=["mnemonic", "api_key_lagged", "flaky_node"])
def dydx_setup(request: pytest.FixtureRequest, dydx_world: DydxWorld) -> tuple[DydxWorld, str]:
    # the shared contract leaves some positions open by design; double entries are still checked
    dydx_world.check_protection = False
    if request.param == "api_key_lagged":
        dydx_world.exchange.lag_blocks = 1
        dydx_world.exchange.short_block_window = 20
    if request.param == "flaky_node":
        # answers lost, copies refused and rate-limited attempts need a chain that moves on
        dydx_world.node.timeout_sleep = 0.6
        dydx_world.node.flaky(every=2, kind="timeout")
        dydx_world.auto_blocks(0.05)
    return dydx_world, request.param


@pytest.fixture
def market_driver(dydx_setup: tuple[DydxWorld, str]) -> DydxDriver:
    return DydxDriver(dydx_setup[0], exact_budget=dydx_setup[1] != "flaky_node")


@pytest.fixture
async def venue_factory(
    dydx_setup: tuple[DydxWorld, str],
) -> AsyncIterator[Callable[[], Awaitable[DydxVenue]]]:
    """DydxVenues of the one funded fake owner; each has its own signer (and local sequence)."""
    world, kind = dydx_setup
    auth_id = None
    if kind == "api_key_lagged":
        auth_id = world.node.add_authenticator(OWNER, Signer.from_api_key(API_KEY, OWNER, 0).public_key,
                                               any_of_messages=True)
    made: list[DydxVenue] = []

    async def factory() -> DydxVenue:
        signer = world.signer(api_key=auth_id is not None, auth_id=auth_id)
        window = None if kind == "api_key_lagged" else world.short_block_window  # None: the default, 40
        venue = world.venue(signer=signer, rpc_timeout=0.4 if kind == "flaky_node" else 2.0,
                            short_block_window=window)
        made.append(venue)
        return venue

    yield factory
    for venue in made:
        await venue.close()
    assert world.exchange.double_entries() == [], "a client id was filled under two placements"



class TestDydxContract(VenueContract):
    """The whole venue contract on DydxVenue in each fake world."""
