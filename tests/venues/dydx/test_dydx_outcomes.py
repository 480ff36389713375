"""DydxVenue decides an order's outcome from what the chain guarantees, never from an absence.

Each test replays, on the fake chain (tests/fakes/dydx_*: CheckTx apart from DeliverTx, a mempool
with a TTL, short-term orders indexed only once they fill), a case the old venue got wrong:
an IOC that found no liquidity read PENDING for ever; a close that found none was never sent again;
a stop dropped from the mempool or refused in DeliverTx counted as live; a fresh process re-sent ids
the chain had already used. Tests that depend on ShortBlockWindow run with 20 (up to v9.4) and 40.
"""

from __future__ import annotations

from decimal import Decimal as D

import pytest

from tests.fakes.dydx_world import OWNER, DydxWorld
from trading_app.domain.enums import OrderStatus, OrderType, Side
from trading_app.venues.base import OrderRef
from trading_app.venues.dydx import parse
from trading_app.venues.errors import OrderNotFound, VenueTemporaryError

SIZE = D("0.01")
WINDOWS = pytest.mark.parametrize("dydx_world", [20, 40], indirect=True)


def _to(world: DydxWorld, height: int) -> None:
    world.node.advance(max(0, height - world.exchange.height))


def _sends(world: DydxWorld, client_id: int) -> list[dict]:
    return [b for b in world.node.broadcasts if b.get("type_url", "").endswith("MsgPlaceOrder")
            and b["msg"].order.order_id.client_id == client_id]


async def _long(world: DydxWorld, venue, entry_id: int = 1, stop_id: int = 2):
    entry = await venue.place_market_order("ETH-USD", Side.BUY, SIZE, worst_price=D("3100.0"),
                                           client_id=entry_id)
    stop = await venue.place_stop_loss("ETH-USD", Side.SELL, SIZE, D("2850.0"), worst_price=D("2700.0"),
                                       client_id=stop_id, good_til_seconds=3600)
    world.node.advance()
    assert (await venue.order_status(entry)).status is OrderStatus.FILLED
    return entry, stop


# -- short-term orders: decided once their good-til-block has passed and been indexed ---------------

@WINDOWS
async def test_market_entry_without_liquidity_expires_with_nothing_filled(dydx_world):
    dydx_world.exchange.lag_blocks = 2
    dydx_world.exchange.set_book("ETH-USD", bids=[], asks=[(D("3200.0"), D("5"))])  # all above the limit
    venue = dydx_world.venue()
    ref = await venue.place_market_order("ETH-USD", Side.BUY, SIZE, worst_price=D("3100.0"), client_id=1)
    _to(dydx_world, ref.good_til_block + 1)  # the chain is past the GTB, the indexer (2 behind) is not
    report = await venue.order_status(ref)
    assert report.status is OrderStatus.PENDING and report.filled == 0
    dydx_world.node.advance()  # the indexer has now processed the GTB: the order can never fill
    report = await venue.order_status(ref)
    assert (report.status, report.filled) == (OrderStatus.EXPIRED, 0)
    assert (report.side, report.size) == (Side.BUY, SIZE)
    assert await venue.fills() == [] and dydx_world.exchange.positions == {}


@WINDOWS
async def test_partly_filled_ioc_reports_its_fills_once_its_good_til_block_has_passed(dydx_world):
    dydx_world.exchange.set_book("ETH-USD", bids=[], asks=[(D("3000.0"), D("0.004")), (D("3200.0"), D("5"))])
    venue = dydx_world.venue()
    ref = await venue.place_market_order("ETH-USD", Side.BUY, SIZE, worst_price=D("3100.0"), client_id=2)
    dydx_world.node.advance()
    early = await venue.order_status(ref)
    assert early.status is OrderStatus.PENDING and early.filled == D("0.004")  # a floor, not an outcome
    _to(dydx_world, ref.good_til_block)
    report = await venue.order_status(ref)
    assert report.status is OrderStatus.EXPIRED and report.filled == D("0.004")
    assert report.avg_fill_price == D("3000") and report.fee == D("0.004") * 3000 * D("0.0005")
    assert dydx_world.exchange.position(OWNER, 0, "ETH-USD") == D("0.004")
    dydx_world.check_protection = False


@WINDOWS
@pytest.mark.parametrize("told", [True, False])
async def test_a_ref_without_its_good_til_block_gets_a_bound_and_is_decided_by_it(dydx_world, told):
    # the caller crashed between sending and storing the ref; a venue not told the window assumes 40
    dydx_world.exchange.set_book("ETH-USD", bids=[], asks=[])
    venue = dydx_world.venue(short_block_window=dydx_world.short_block_window if told else None)
    sent = await venue.place_market_order("ETH-USD", Side.BUY, SIZE, worst_price=D("3100.0"), client_id=3)
    height = dydx_world.exchange.height
    report = await venue.order_status(OrderRef(3, "ETH-USD", OrderType.MARKET))
    window = dydx_world.short_block_window if told else 40
    assert report.status is OrderStatus.PENDING and report.ref.good_til_block == height + 1 + window
    assert report.ref.good_til_block >= sent.good_til_block  # any copy ever sent is covered
    _to(dydx_world, report.ref.good_til_block - 1)
    assert (await venue.order_status(report.ref)).status is OrderStatus.PENDING
    dydx_world.node.advance()
    final = await venue.order_status(report.ref)
    assert final.status is OrderStatus.EXPIRED and final.filled == 0


@WINDOWS
async def test_a_close_that_found_no_liquidity_is_sent_again(dydx_world):
    venue = dydx_world.venue()
    await _long(dydx_world, venue)
    dydx_world.exchange.set_book("ETH-USD", bids=[], asks=[])  # nobody to sell to
    close = await venue.place_market_order("ETH-USD", Side.SELL, SIZE, worst_price=D("2900.0"), client_id=30,
                                           reduce_only=True)
    _to(dydx_world, close.good_til_block)
    assert (await venue.order_status(close)).status is OrderStatus.EXPIRED
    dydx_world.exchange.set_book("ETH-USD")  # liquidity is back: flatten retries under the same id
    again = await venue.place_market_order("ETH-USD", Side.SELL, SIZE, worst_price=D("2900.0"), client_id=30,
                                           reduce_only=True)
    assert len(_sends(dydx_world, 30)) == 2 and again.good_til_block > close.good_til_block
    dydx_world.node.advance()
    assert (await venue.order_status(again)).status is OrderStatus.FILLED
    assert dydx_world.exchange.position(OWNER, 0, "ETH-USD") == 0


async def test_reduce_only_with_nothing_to_reduce_ends_without_a_fill(dydx_world):
    venue = dydx_world.venue()
    ref = await venue.place_market_order("ETH-USD", Side.SELL, SIZE, worst_price=D("2900.0"), client_id=31,
                                         reduce_only=True)
    assert [b["code"] for b in _sends(dydx_world, 31)] == [2001]  # refused at CheckTx: never existed
    _to(dydx_world, ref.good_til_block)
    report = await venue.order_status(ref)
    assert report.status is OrderStatus.EXPIRED and report.filled == 0


async def test_an_undercollateralized_entry_is_accepted_then_expires_unfilled(dydx_world):
    dydx_world.exchange.set_book("ETH-USD", bids=[], asks=[(D("3000.1"), D("1000"))])
    venue = dydx_world.venue()
    # 200 ETH needs 12,000 USDC of initial margin; the subaccount has 10,000
    ref = await venue.place_market_order("ETH-USD", Side.BUY, D("200"), worst_price=D("3100.0"), client_id=32)
    assert [b["code"] for b in _sends(dydx_world, 32)] == [0]  # CheckTx does not check collateral
    _to(dydx_world, ref.good_til_block)
    report = await venue.order_status(ref)
    assert report.status is OrderStatus.EXPIRED and report.filled == 0


# -- ids the chain has used are never sent again ----------------------------------------------------

@WINDOWS
async def test_an_id_the_chain_has_seen_is_never_sent_again(dydx_world):
    venue = dydx_world.venue()
    entry, stop = await _long(dydx_world, venue, 10, 11)
    dydx_world.node.advance()
    dydx_world.exchange.set_price("ETH-USD", D("2840"))
    dydx_world.node.advance(2)  # the stop triggers, then fills: flat, and the stop is gone from state
    assert (await venue.order_status(stop)).status is OrderStatus.FILLED
    # the entry's fill amount has left chain state: the chain itself would now fill the id again
    _to(dydx_world, entry.good_til_block + dydx_world.short_block_window + 1)
    fresh = dydx_world.venue()  # a restarted process: no memory of either order
    again = await fresh.place_market_order("ETH-USD", Side.BUY, SIZE, worst_price=D("3100.0"), client_id=10)
    stop_again = await fresh.place_stop_loss("ETH-USD", Side.SELL, SIZE, D("2850.0"), worst_price=D("2700.0"),
                                             client_id=11, good_til_seconds=3600)
    assert len(_sends(dydx_world, 10)) == 1 and len(_sends(dydx_world, 11)) == 1  # nothing sent
    assert again.good_til_block == entry.good_til_block and stop_again.venue_order_id == stop.venue_order_id
    dydx_world.node.advance()
    assert dydx_world.exchange.position(OWNER, 0, "ETH-USD") == 0
    assert not [o for o in dydx_world.exchange.orders.values() if o.live]
    assert (await fresh.order_status(again)).status is OrderStatus.FILLED


async def test_an_indexer_far_behind_refuses_to_send_a_short_term_id(dydx_world):
    dydx_world.exchange.lag_blocks = 11  # a fill it has not shown may have left chain state soon
    venue = dydx_world.venue()
    with pytest.raises(VenueTemporaryError):
        await venue.place_market_order("ETH-USD", Side.BUY, SIZE, worst_price=D("3100.0"), client_id=12)
    assert _sends(dydx_world, 12) == []


# -- stateful orders: placed once committed, never once their mempool deadline passed --------------

async def test_a_stop_dropped_from_the_mempool_is_not_found_after_its_deadline(dydx_world):
    venue = dydx_world.venue()
    entry = await venue.place_market_order("ETH-USD", Side.BUY, SIZE, worst_price=D("3100.0"), client_id=40)
    dydx_world.node.fail_next("hold")  # accepted at CheckTx, never proposed
    stop = await venue.place_stop_loss("ETH-USD", Side.SELL, SIZE, D("2850.0"), worst_price=D("2700.0"),
                                       client_id=41, good_til_seconds=3600)
    assert [b["code"] for b in _sends(dydx_world, 41)] == [0]
    dydx_world.node.advance()
    assert (await venue.order_status(entry)).status is OrderStatus.FILLED
    assert (await venue.order_status(stop)).status is OrderStatus.PENDING  # in doubt, not protection
    _to(dydx_world, stop.commit_by - 1)
    assert (await venue.order_status(stop)).status is OrderStatus.PENDING
    dydx_world.node.advance()
    assert [tx.tx_hash for tx in dydx_world.node.mempool.dropped] == [stop.tx_hash]
    with pytest.raises(OrderNotFound):
        await venue.order_status(stop)
    # it never existed: the same client id is sent again and is placed this time
    again = await venue.place_stop_loss("ETH-USD", Side.SELL, SIZE, D("2850.0"), worst_price=D("2700.0"),
                                        client_id=41, good_til_seconds=3600)
    assert len(_sends(dydx_world, 41)) >= 2 and again.tx_hash != stop.tx_hash
    dydx_world.node.advance()
    assert (await venue.order_status(again)).status is OrderStatus.UNTRIGGERED


@pytest.mark.parametrize("cause", ["cancelled_in_block", "equity_fell"])
async def test_a_stop_refused_in_deliver_tx_is_rejected(dydx_world, cause):
    venue = dydx_world.venue()
    if cause == "cancelled_in_block":  # DeliverTx-only: an id cancelled earlier in the same block
        dydx_world.node.fail_next("deliver", codespace="clob", code=3008, log="Stateful order was previously "
                                  "cancelled and therefore cannot be placed")
    stop = await venue.place_stop_loss("ETH-USD", Side.SELL, SIZE, D("2850.0"), worst_price=D("2700.0"),
                                       client_id=50, good_til_seconds=3600)
    assert [b["code"] for b in _sends(dydx_world, 50)] == [0]  # CheckTx accepted it
    if cause == "equity_fell":  # state changed between CheckTx and DeliverTx
        dydx_world.exchange.equity_tier_limit = 0
    dydx_world.node.advance()
    report = await venue.order_status(stop)
    code = "3008" if cause == "cancelled_in_block" else "10001"
    assert report.status is OrderStatus.REJECTED and code in report.removal_reason
    assert (report.side, report.size, report.reduce_only) == (Side.SELL, SIZE, True)


async def test_a_stop_resent_after_a_lost_answer_is_one_order(dydx_world):
    dydx_world.node.timeout_sleep = 0.6
    venue = dydx_world.venue(signer=dydx_world.signer(resends=0), rpc_timeout=0.3)
    dydx_world.node.fail_next("timeout")  # processed; the answer is lost
    with pytest.raises(VenueTemporaryError):
        await venue.place_stop_loss("ETH-USD", Side.SELL, SIZE, D("2850.0"), worst_price=D("2700.0"),
                                    client_id=60, good_til_seconds=3600)
    ref = await venue.place_stop_loss("ETH-USD", Side.SELL, SIZE, D("2850.0"), worst_price=D("2700.0"),
                                      client_id=60, good_til_seconds=3600)  # the caller's retry
    # the same bytes again (the cache answers, so new ones are tried) or new bytes at once: the sequence
    # is used, and with the next one the chain refuses the id itself
    assert [b["code"] for b in _sends(dydx_world, 60)] in ([0, 19, 32, 3005], [0, 32, 3005])
    assert ref.commit_by is not None
    dydx_world.node.advance()
    assert sum(1 for o in dydx_world.exchange.orders.values() if o.key[2] == 60 and o.live) == 1
    assert (await venue.order_status(ref)).status is OrderStatus.UNTRIGGERED


def test_indexer_statuses_map_without_removal_reason():
    base = {"side": "SELL", "size": "0.01", "totalFilled": "0",
            "goodTilBlockTime": "2030-01-01T00:00:00.000Z"}
    status = lambda **kw: parse.order_status({**base, **kw}, D(0))  # noqa: E731
    assert status(status="ERROR") is OrderStatus.REJECTED  # declared, never written: not working
    assert status(status="CANCELED", updatedAt="2029-12-31T00:00:00.000Z") is OrderStatus.CANCELED
    assert status(status="CANCELED", updatedAt="2030-01-01T00:00:01.000Z") is OrderStatus.EXPIRED
    assert status(status="BEST_EFFORT_OPENED") is OrderStatus.OPEN
    assert status(status="UNTRIGGERED") is OrderStatus.UNTRIGGERED
