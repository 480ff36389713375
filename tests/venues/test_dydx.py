"""DydxVenue against the shared venue contract, on the fake node + fake indexer.

Three worlds run the whole contract:
- "mnemonic": signed with the owner's secret phrase, indexer without lag;
- "api_key_lagged": a permissioned API key (TxExtension + authenticator) and an indexer that shows
  orders, fills and balances one block late;
- "flaky_node": every second BroadcastTx is processed but answered after the client's deadline, so
  the venue must resend the same signed bytes and never create a second order.
More dYdX-specific behaviour is in tests/venues/dydx/.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Awaitable, Callable
from decimal import Decimal

import pytest

from tests.fakes.dydx_world import API_KEY, OWNER, DydxWorld, dydx_world  # noqa: F401 - fixture
from tests.venues.contract import VenueContract
from trading_app.venues.dydx import DydxVenue, Signer

TICKER, OTHER = "ETH-USD", "BTC-USD"


class DydxDriver:
    """Moves the fake market; `settle()` produces blocks until the indexer shows everything."""

    ticker, other_ticker = TICKER, OTHER

    def __init__(self, world: DydxWorld) -> None:
        self.world = world

    async def price(self) -> Decimal:
        return self.world.indexer.price(self.ticker)

    async def set_price(self, price: Decimal) -> None:
        self.world.exchange.set_price(self.ticker, price)

    async def settle(self) -> None:
        await asyncio.to_thread(self.world.node.advance, 1 + self.world.exchange.lag_blocks)

    async def down(self) -> None:
        self.world.node.down()
        await asyncio.to_thread(self.world.indexer.down)

    async def up(self) -> None:
        self.world.node.up()
        await asyncio.to_thread(self.world.indexer.up)


@pytest.fixture(params=["mnemonic", "api_key_lagged", "flaky_node"])
def dydx_setup(request: pytest.FixtureRequest, dydx_world: DydxWorld) -> tuple[DydxWorld, str]:  # noqa: F811
    # the shared contract leaves some positions open by design; double entries are still checked
    dydx_world.check_protection = False
    if request.param == "api_key_lagged":
        dydx_world.exchange.lag_blocks = 1
    if request.param == "flaky_node":
        dydx_world.node.timeout_sleep = 0.6
        dydx_world.node.flaky(every=2, kind="timeout")
    return dydx_world, request.param


@pytest.fixture
def market_driver(dydx_setup: tuple[DydxWorld, str]) -> DydxDriver:
    return DydxDriver(dydx_setup[0])


@pytest.fixture
async def venue_factory(
    dydx_setup: tuple[DydxWorld, str],
) -> AsyncIterator[Callable[[], Awaitable[DydxVenue]]]:
    """DydxVenues of the one funded fake owner; each has its own signer (and local sequence)."""
    world, kind = dydx_setup
    auth_id = None
    if kind == "api_key_lagged":
        auth_id = world.node.add_authenticator(OWNER, Signer.from_api_key(API_KEY, OWNER, 0).public_key)
    made: list[DydxVenue] = []

    async def factory() -> DydxVenue:
        signer = world.signer(api_key=auth_id is not None, auth_id=auth_id)
        venue = world.venue(signer=signer, rpc_timeout=0.4 if kind == "flaky_node" else 2.0)
        made.append(venue)
        return venue

    yield factory
    for venue in made:
        await venue.close()
    assert world.exchange.double_entries() == [], "a client id was filled under two placements"



class TestDydxContract(VenueContract):
    """The whole venue contract on DydxVenue in each fake world."""
