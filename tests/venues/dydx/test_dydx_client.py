"""Client wrapper: endpoints, deadlines, and no blocking call on the event loop."""

from __future__ import annotations

import asyncio
import time
from decimal import Decimal as D
from types import SimpleNamespace

import pytest

from trading_app.domain.enums import Network, Side
from trading_app.venues.dydx.client import DEFAULT_INDEXERS, DEFAULT_NODES, DydxEndpoints, endpoints_for
from trading_app.venues.errors import RateLimited, VenueTemporaryError, VenueUnavailable


async def _ticks_during(coro) -> int:
    ticks = 0

    async def ticker():
        nonlocal ticks
        while True:
            await asyncio.sleep(0.01)
            ticks += 1

    task = asyncio.create_task(ticker())
    await asyncio.sleep(0)
    try:
        await coro
    finally:
        task.cancel()
    return ticks


async def test_a_slow_node_does_not_block_the_event_loop(dydx_world):
    venue = dydx_world.venue(rpc_timeout=3.0)
    dydx_world.node.slow("GetLatestBlock", 0.5)
    ticks = await _ticks_during(venue.place_market_order("ETH-USD", Side.BUY, D("0.01"),
                                                         worst_price=D("3100.0"), client_id=1))
    assert ticks >= 10  # ~50 expected in 0.5 s; the control below gets at most 2
    dydx_world.node.slow("GetLatestBlock", 0)
    await venue.place_stop_loss("ETH-USD", Side.SELL, D("0.01"), D("2850.0"), worst_price=D("2700.0"),
                                client_id=2, good_til_seconds=3600)  # never leave the entry naked


async def test_control_the_library_call_on_the_loop_does_block(dydx_world):
    # shows the ticker test can fail: 1.1.5's async methods block the loop for the whole call
    venue = dydx_world.venue()
    dydx_world.node.slow("GetLatestBlock", 0.4)
    assert await _ticks_during(venue.client.node.latest_block_height()) <= 2


async def test_a_hung_node_hits_the_default_deadline(dydx_world):
    venue = dydx_world.venue(rpc_timeout=0.2)
    dydx_world.node.slow("GetLatestBlock", 1.5)
    started = time.monotonic()
    with pytest.raises(VenueTemporaryError):
        await venue.client.latest_height()
    assert time.monotonic() - started < 1.0


async def test_node_down_is_venue_unavailable(dydx_world):
    venue = dydx_world.venue()
    dydx_world.node.down()
    with pytest.raises(VenueUnavailable):
        await venue.client.latest_height()


@pytest.mark.breaks_invariants("the indexer is left failing: the venue cannot be read afterwards")
@pytest.mark.parametrize(("status", "error"), [(429, RateLimited), (503, VenueUnavailable)])
async def test_indexer_errors_are_typed(dydx_world, status, error):
    venue = dydx_world.venue()
    dydx_world.indexer.down(status)
    with pytest.raises(error):
        await venue.account()


@pytest.mark.breaks_invariants("the indexer is left slow: the venue cannot be read afterwards")
async def test_indexer_timeout_is_temporary(dydx_world):
    venue = dydx_world.venue()
    venue.client.endpoints = DydxEndpoints(Network.TESTNET, dydx_world.node.url, dydx_world.indexer.url,
                                           indexer_timeout=0.2)
    dydx_world.indexer.slow(0.6)
    with pytest.raises(VenueTemporaryError):
        await venue.account()


def test_endpoints_from_settings_and_defaults():
    empty = SimpleNamespace()
    testnet = endpoints_for(Network.TESTNET, empty)
    assert (testnet.node_url, testnet.indexer_url) == (DEFAULT_NODES[Network.TESTNET],
                                                        DEFAULT_INDEXERS[Network.TESTNET])
    assert not testnet.plaintext and testnet.node_target == "test-dydx-grpc.kingnodes.com:443"
    mainnet = endpoints_for("mainnet", empty)
    assert mainnet.indexer_url == "https://indexer.dydx.trade" and mainnet.node_target.endswith(":443")
    custom = endpoints_for(Network.MAINNET, SimpleNamespace(
        dydx_mainnet_node_url="https://dydx-ops-grpc.kingnodes.com",
        dydx_mainnet_indexer_url="https://indexer.dydx.trade/"))
    assert custom.node_target == "dydx-ops-grpc.kingnodes.com:443" and not custom.plaintext
    assert custom.indexer_url == "https://indexer.dydx.trade"  # the client adds /v4 itself
    plain = endpoints_for(Network.TESTNET, SimpleNamespace(
        dydx_testnet_node_url="http://dydx-testnet-grpc.polkachu.com:23890"))
    assert plain.plaintext and plain.node_target == "dydx-testnet-grpc.polkachu.com:23890"
    with pytest.raises(ValueError):
        endpoints_for(Network.PAPER, empty)
