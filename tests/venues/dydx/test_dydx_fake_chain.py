"""The fake chain matches, triggers and indexes as dYdX does (so the venue tests can fail).

Orders come from DydxVenue here (its wire format is checked in test_dydx_venue.py); what is
asserted is the fake's own behaviour: blocks, the book, fill amounts, triggers and what the indexer
REST API shows.
"""

from __future__ import annotations

from decimal import Decimal as D

import pytest

from tests.fakes.dydx_world import OWNER, DydxWorld
from trading_app.domain.enums import Side

SIZE = D("0.01")
STATUSES = {"OPEN", "FILLED", "CANCELED", "BEST_EFFORT_CANCELED", "UNTRIGGERED", "BEST_EFFORT_OPENED"}


def _row(world: DydxWorld, order_uuid: str) -> dict | None:
    return world.exchange.visible_order(order_uuid)


async def _ioc(venue, client_id: int, side: Side = Side.BUY, size: D = SIZE, worst: str = "3100.0", **kw):
    return await venue.place_market_order("ETH-USD", side, size, worst_price=D(worst), client_id=client_id,
                                          **kw)


async def test_short_term_orders_reach_the_indexer_only_when_they_fill(dydx_world):
    dydx_world.exchange.set_book("ETH-USD", bids=[], asks=[(D("3000.0"), D("0.015")), (D("3300.0"), D("5"))])
    venue = dydx_world.venue()
    full, part, none = (await _ioc(venue, 1), await _ioc(venue, 2), await _ioc(venue, 3))
    assert dydx_world.exchange.positions == {}  # nothing fills at CheckTx: matches are in the next block
    dydx_world.node.advance(30)
    rows = [_row(dydx_world, ref.venue_order_id) for ref in (full, part, none)]
    assert [(r["status"], r["totalFilled"]) for r in rows[:2]] == [("FILLED", "0.01"), ("CANCELED", "0.005")]
    assert rows[2] is None  # an IOC that never filled: 404 for good
    assert all("removalReason" not in r for r in rows[:2])  # REST order objects never carry it
    listed = await venue.client.get("/v4/orders", {"address": OWNER, "subaccountNumber": 0})
    assert {o["clientId"] for o in listed} == {"1", "2"} and {o["status"] for o in listed} <= STATUSES
    assert dydx_world.exchange.position(OWNER, 0, "ETH-USD") == D("0.015")
    dydx_world.check_protection = False


async def test_conditional_orders_trigger_in_end_blocker_and_fill_in_the_next_block(dydx_world):
    venue = dydx_world.venue()
    await _ioc(venue, 10)
    stop = await venue.place_stop_loss("ETH-USD", Side.SELL, SIZE, D("2990.0"), worst_price=D("2700.0"),
                                       client_id=11, good_til_seconds=3600)
    far = await venue.place_stop_loss("ETH-USD", Side.SELL, SIZE, D("2980.0"), worst_price=D("2700.0"),
                                      client_id=12, good_til_seconds=3600)
    dydx_world.node.advance()
    assert _row(dydx_world, stop.venue_order_id)["status"] == "UNTRIGGERED"
    # a trade at 2900 in this block; the oracle stays at 3000. Trade prices count clamped to the
    # oracle +- 5 x 1000 ppm = [2985, 3015]: 2985 fires the 2990 stop, not the 2980 one
    dydx_world.exchange.set_book("ETH-USD", bids=[(D("2900.0"), D("0.005")), (D("2800.0"), D("5"))], asks=[])
    await _ioc(venue, 13, Side.SELL, D("0.005"), worst="2900.0")
    dydx_world.node.advance()
    assert _row(dydx_world, stop.venue_order_id)["status"] == "OPEN"  # triggered
    assert _row(dydx_world, far.venue_order_id)["status"] == "UNTRIGGERED"
    assert dydx_world.exchange.position(OWNER, 0, "ETH-USD") == D("0.005")
    dydx_world.node.advance()  # matched in the next block, cut to the position (reduce-only)
    row = _row(dydx_world, stop.venue_order_id)
    assert (row["status"], row["totalFilled"]) == ("CANCELED", "0.005")  # an IOC's partial fill
    assert dydx_world.exchange.position(OWNER, 0, "ETH-USD") == 0
    await venue.cancel(far)
    dydx_world.node.advance()
    assert _row(dydx_world, far.venue_order_id)["status"] == "CANCELED"


async def test_an_oracle_move_acts_only_in_a_block(dydx_world):
    venue = dydx_world.venue()
    await _ioc(venue, 20)
    stop = await venue.place_stop_loss("ETH-USD", Side.SELL, SIZE, D("2850.0"), worst_price=D("2700.0"),
                                       client_id=21, good_til_seconds=3600)
    dydx_world.node.advance()
    dydx_world.exchange.set_price("ETH-USD", D("2800"))
    await venue.order_status(stop)  # reads change nothing
    assert _row(dydx_world, stop.venue_order_id)["status"] == "UNTRIGGERED"
    dydx_world.node.advance(2)
    assert _row(dydx_world, stop.venue_order_id)["status"] == "FILLED"


async def test_the_indexer_shows_a_block_only_once_it_has_processed_it(dydx_world):
    dydx_world.node.advance(3)
    dydx_world.exchange.lag_blocks = 3
    venue = dydx_world.venue()
    ref = await _ioc(venue, 30)
    height = dydx_world.node.advance()
    assert int((await venue.client.get("/v4/height"))["height"]) == height - 3
    assert _row(dydx_world, ref.venue_order_id) is None and await venue.fills() == []
    sub = (await venue.client.get(f"/v4/addresses/{OWNER}/subaccountNumber/0"))["subaccount"]
    assert sub["openPerpetualPositions"] == {} and sub["latestProcessedBlockHeight"] == str(height - 3)
    dydx_world.node.advance(3)
    assert _row(dydx_world, ref.venue_order_id)["status"] == "FILLED" and len(await venue.fills()) == 1
    dydx_world.check_protection = False


async def test_indexer_shapes_and_the_wrapper_bugs_it_reproduces(dydx_world):
    from dydx_v4_client.indexer.rest.indexer_client import IndexerClient
    from httpx import HTTPStatusError

    venue = dydx_world.venue()
    await _ioc(venue, 1)
    take = await venue.place_take_profit("ETH-USD", Side.SELL, SIZE, D("3300.0"), worst_price=D("3135.0"),
                                         client_id=2, good_til_seconds=3600)
    await venue.place_stop_loss("ETH-USD", Side.SELL, SIZE, D("2850.0"), worst_price=D("2700.0"),
                                client_id=3, good_til_seconds=3600)
    dydx_world.node.advance()  # two stateful placements per block
    await venue.place_market_order("BTC-USD", Side.SELL, D("0.0003"), worst_price=D("60000"), client_id=4)
    await venue.place_stop_loss("BTC-USD", Side.BUY, D("0.0003"), D("67000"), worst_price=D("70000"),
                                client_id=5, good_til_seconds=3600)
    dydx_world.node.advance()
    indexer = IndexerClient(dydx_world.indexer.url, api_timeout=3)
    order = await indexer.account.get_order(take.venue_order_id)
    assert set(order) == SAMPLE_ORDER_KEYS
    assert (order["type"], order["status"], order["timeInForce"]) == ("TAKE_PROFIT", "UNTRIGGERED", "IOC")
    # 1.1.5 sends ticker=, which /v4/fills ignores: both markets come back
    fills = (await indexer.account.get_subaccount_fills(OWNER, 0, ticker="ETH-USD"))["fills"]
    assert {f["market"] for f in fills} == {"ETH-USD", "BTC-USD"}
    # 1.1.5 renders booleans as True, which the indexer's validator refuses
    with pytest.raises(HTTPStatusError):
        await indexer.account.get_subaccount_orders(OWNER, 0, return_latest_orders=True)


# keys of the docs' sample order (v4-documentation, trigger orders): the fake serves the same shape
SAMPLE_ORDER_KEYS = {
    "id", "subaccountId", "clientId", "clobPairId", "side", "size", "totalFilled", "price", "type", "status",
    "timeInForce", "reduceOnly", "orderFlags", "goodTilBlockTime", "createdAtHeight", "clientMetadata",
    "triggerPrice", "updatedAt", "updatedAtHeight", "postOnly", "ticker", "subaccountNumber",
}
