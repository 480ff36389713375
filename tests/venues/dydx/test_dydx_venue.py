"""DydxVenue specifics beyond the shared contract: what goes on the wire and what is read back.

Outcomes decided from the chain's guarantees (expiry, mempool drops, DeliverTx failures, resends)
are in test_dydx_outcomes.py.
"""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal as D

from v4_proto.dydxprotocol.clob.order_pb2 import Order

from tests.fakes.dydx_world import OWNER, DydxWorld
from trading_app.domain.enums import OrderStatus, OrderType, Side
from trading_app.venues.base import OrderRef
from trading_app.venues.dydx import encoding

SIZE = D("0.01")


def _sent(world: DydxWorld, kind: str) -> list:
    return [b["msg"] for b in world.node.broadcasts if b["code"] == 0 and b["type_url"].endswith(kind)]


async def _protected_long(world: DydxWorld, venue, client_id: int = 1):
    entry = await venue.place_market_order("ETH-USD", Side.BUY, SIZE, worst_price=D("3100.0"),
                                           client_id=client_id)
    stop = await venue.place_stop_loss("ETH-USD", Side.SELL, SIZE, D("2850.0"), worst_price=D("2707.5"),
                                       client_id=client_id + 1, good_til_seconds=7 * 86400)
    return entry, stop


async def test_orders_on_the_wire(dydx_world):
    venue = dydx_world.venue()
    height = dydx_world.exchange.height
    entry, stop = await _protected_long(dydx_world, venue)
    take = await venue.place_take_profit("ETH-USD", Side.SELL, SIZE, D("3300.0"), worst_price=D("3135.0"),
                                         client_id=3, good_til_seconds=7 * 86400)
    market, sl, tp = (m.order for m in _sent(dydx_world, "MsgPlaceOrder"))
    assert market.order_id.order_flags == 0 and market.good_til_block == height + 15 == entry.good_til_block
    assert market.time_in_force == Order.TIME_IN_FORCE_IOC and market.subticks == 3_100_000_000
    assert market.quantums == 10_000_000 and market.order_id.clob_pair_id == 1
    expected = ((sl, Order.CONDITION_TYPE_STOP_LOSS, 2_850_000_000, 2_707_500_000),
                (tp, Order.CONDITION_TYPE_TAKE_PROFIT, 3_300_000_000, 3_135_000_000))
    for order, condition, trigger, worst in expected:
        assert order.order_id.order_flags == 32 and order.condition_type == condition
        assert order.conditional_order_trigger_subticks == trigger and order.subticks == worst
        assert order.reduce_only and order.time_in_force == Order.TIME_IN_FORCE_IOC
    assert sl.good_til_block_time == stop.good_til_block_time
    assert tp.good_til_block_time == take.good_til_block_time
    assert stop.venue_order_id == encoding.order_uuid(OWNER, 0, 2, 1, 32)
    assert stop.tx_hash and stop.commit_by == dydx_world.exchange.height + 40 + 2  # mempool TTL + margin
    assert entry.commit_by is None  # a short-term order has its good-til-block instead
    dydx_world.node.advance()
    assert dydx_world.exchange.by_uuid[stop.venue_order_id].key[2] == 2  # the fake derives the same UUID
    dydx_world.assert_protected()


async def test_cancels_carry_the_required_good_til(dydx_world):
    venue = dydx_world.venue()
    resting = await venue.place_limit_order("ETH-USD", Side.BUY, SIZE, D("2500.0"), client_id=5,
                                            good_til_seconds=3600)
    await venue.cancel(resting)
    short = OrderRef(6, "ETH-USD", OrderType.MARKET, 0, 1, 0, good_til_block=dydx_world.exchange.height + 3)
    await venue.cancel(short)
    stateful, short_term = _sent(dydx_world, "MsgCancelOrder")
    assert stateful.good_til_block_time == resting.good_til_block_time  # the order's own GTBT
    assert stateful.order_id.order_flags == 64 and stateful.order_id.client_id == 5
    assert short_term.good_til_block >= short.good_til_block and short_term.order_id.order_flags == 0
    # placement and cancel are delivered in the same block, in that order
    assert (await venue.order_status(resting)).status is OrderStatus.PENDING
    dydx_world.node.advance()
    assert (await venue.order_status(resting)).status is OrderStatus.CANCELED


async def test_expired_orders_need_no_cancel(dydx_world):
    venue = dydx_world.venue(clock=lambda: 2_000_000_000)
    await venue.cancel(OrderRef(7, "ETH-USD", OrderType.LIMIT, 64, 1, 0, good_til_block_time=1_999_999_999))
    passed = dydx_world.exchange.height
    await venue.cancel(OrderRef(8, "ETH-USD", OrderType.MARKET, 0, 1, 0, good_til_block=passed))
    assert dydx_world.node.calls.count("BroadcastTx") == 0


async def test_indexer_lag_reads_as_pending_then_settles(dydx_world):
    dydx_world.exchange.lag_blocks = 2
    venue = dydx_world.venue()
    entry, stop = await _protected_long(dydx_world, venue)
    report = await venue.order_status(entry)
    assert report.status is OrderStatus.PENDING and report.filled == 0
    assert (report.side, report.size) == (Side.BUY, SIZE)  # described by the placement
    dydx_world.node.advance()  # filled and committed in this block; the indexer is two behind
    assert (await venue.account()).positions == {}  # the indexer has not seen the fill yet
    assert (await venue.order_status(entry)).status is OrderStatus.PENDING
    # the stop's tx is committed (GetTx code 0) before the indexer shows it: placed
    assert (await venue.order_status(stop)).status is OrderStatus.UNTRIGGERED
    dydx_world.node.advance(2)
    report = await venue.order_status(entry)
    assert report.status is OrderStatus.FILLED and report.avg_fill_price == D("3000.1")  # the best ask
    assert (await venue.order_status(stop)).status is OrderStatus.UNTRIGGERED
    assert (await venue.account()).positions["ETH-USD"].size == SIZE
    dydx_world.assert_protected()


async def test_fills_filter_by_market_on_the_wire_and_resolve_client_ids(dydx_world):
    venue = dydx_world.venue()
    await _protected_long(dydx_world, venue, client_id=10)
    await venue.place_market_order("BTC-USD", Side.SELL, D("0.0003"), worst_price=D("64000"), client_id=20)
    await venue.place_stop_loss("BTC-USD", Side.BUY, D("0.0003"), D("67000"), worst_price=D("70000"),
                                client_id=21, good_til_seconds=3600)
    dydx_world.node.advance(2)  # two stateful placements per block
    eth = await venue.fills(market="ETH-USD")
    assert [(f.client_id, f.market) for f in eth] == [(10, "ETH-USD")]
    request = [r for r in dydx_world.indexer.requests if r.path == "/v4/fills"][-1]
    assert request.query["market"] == "ETH-USD" and request.query["marketType"] == "PERPETUAL"
    assert "ticker" not in request.query
    btc = (await venue.fills(market="BTC-USD"))[0]
    assert (btc.size, btc.price, btc.side) == (D("0.0003"), D("65000"), Side.SELL)  # the best bid
    fresh = dydx_world.venue()  # another instance: resolves client ids through /v4/orders/{uuid}
    assert sorted(f.client_id for f in await fresh.fills()) == [10, 20]
    dydx_world.assert_protected()


async def test_account_state_is_one_batched_read(dydx_world):
    venue = dydx_world.venue()
    await _protected_long(dydx_world, venue)
    dydx_world.node.advance()
    before = len(dydx_world.indexer.requests)
    state = await venue.account_state(since=datetime(2020, 1, 1, tzinfo=UTC))
    assert len(dydx_world.indexer.requests) - before == 3
    paths = {r.path for r in dydx_world.indexer.requests[before:]}
    assert paths == {"/v4/orders", "/v4/fills", f"/v4/addresses/{OWNER}/subaccountNumber/0"}
    orders_query = [r for r in dydx_world.indexer.requests[before:] if r.path == "/v4/orders"][0].query
    assert orders_query["status"] == "OPEN,UNTRIGGERED"
    assert [(o.ref.client_id, o.status, o.ref.order_type) for o in state.open_orders] == [
        (2, OrderStatus.UNTRIGGERED, OrderType.STOP_MARKET)]
    assert state.open_orders[0].ref.good_til_block_time is not None  # enough to cancel it later
    assert [f.client_id for f in state.fills] == [1]
    assert state.account.positions["ETH-USD"].size == SIZE
    dydx_world.assert_protected()


async def test_a_subaccount_never_funded_reads_as_empty(dydx_world):
    dydx_world.exchange.subaccount_view.clear()
    account = await dydx_world.venue().account()
    assert account.equity == 0 and account.positions == {}


async def test_a_triggered_stop_closes_the_position(dydx_world):
    venue = dydx_world.venue()
    entry, stop = await _protected_long(dydx_world, venue)
    dydx_world.node.advance()
    dydx_world.exchange.set_price("ETH-USD", D("2840"))
    assert (await venue.order_status(stop)).status is OrderStatus.UNTRIGGERED  # the chain acts in blocks
    dydx_world.node.advance()  # EndBlocker triggers it (the indexer shows it OPEN) ...
    assert (await venue.order_status(stop)).status is OrderStatus.OPEN
    dydx_world.node.advance()  # ... and the next block matches it
    report = await venue.order_status(stop)
    assert report.status is OrderStatus.FILLED and report.avg_fill_price == D("2840")  # the best bid
    assert report.fee > 0 and (await venue.account()).positions == {}
    dydx_world.assert_protected()
