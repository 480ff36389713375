"""Resting limit entries on the paper venue: shown as pending (not open), cancelled by the trader or
on the venue to CANCELLED (not FAILED), their alert CANCELLED too, and a part-filled one protected."""

from __future__ import annotations

from datetime import timedelta

import pytest
from sqlalchemy import update
from sqlmodel import col

from tests.fakes.indexer import FakeIndexer
from tests.services.engine_support import D, make_signal, make_user
from tests.services.monitor_support import (
    move,
    notifications,
    open_position,
    paper,
    paper_order,
    position,
    rows,
)
from trading_app.db.engine import session_scope
from trading_app.db.models import PaperOrder, Position, Signal
from trading_app.domain.clock import utcnow
from trading_app.domain.enums import OrderRole, OrderType, Side
from trading_app.services.accounts.venues import venue_for
from trading_app.services.engine import executor, manual, pending
from trading_app.services.engine.entry_order import LIMIT_TTL_SECONDS
from trading_app.services.engine.order_flow import store_ref
from trading_app.services.engine.order_rows import OrderPlan, record_plan, ref_of
from trading_app.services.engine.trader import Trader
from trading_app.services.monitor.tick import monitor_tick
from trading_app.services.notify.notifier import get_notifier

# far below the 65,000 market: it rests on the book
RESTING = {
    "action": "buy",
    "market": "BTC-USD",
    "size": "0.01",
    "order_type": "limit",
    "price": "60000",
    "sl": "55000",
    "tp": "70000",
}
MARKET = {k: v for k, v in RESTING.items() if k not in ("order_type", "price")}


async def _signal_of(position_id: int) -> Signal:
    async with session_scope() as session:
        row = await session.get(Position, position_id)
        assert row is not None and row.signal_id is not None
        found = await session.get(Signal, row.signal_id)
    assert found is not None
    return found


async def test_a_resting_entry_is_pending_not_open_and_the_trader_cancels_it(
    db_url: str, paper_market: FakeIndexer
) -> None:
    user = await make_user(301)
    resting = await open_position(user, RESTING)
    assert resting.status == "OPENING"
    assert (await _signal_of(resting.id or 0)).status == "EXECUTED"

    [shown] = await pending.list_pending(user)
    assert (shown.id, shown.market, shown.side, shown.order_type) == (resting.id, "BTC-USD", "LONG", "LIMIT")
    assert (shown.size, shown.limit_price, shown.filled) == (D("0.01"), D("60000"), D(0))
    assert shown.expires_at is not None
    assert timedelta(hours=23) < shown.expires_at - utcnow() <= timedelta(hours=24)
    assert shown.to_json()["limit_price"] == "60000"
    # not an open position: neither listed nor counted
    assert await manual.list_positions(user, "open") == []
    assert [v.id for v in await manual.list_positions(user, "pending")] == [resting.id]
    assert (await manual.pnl_summary(user)).open_positions == 0

    view = await pending.cancel_pending(user, resting.id or 0)

    assert (view.status, view.close_reason, view.realized_pnl) == ("CANCELLED", "MANUAL", None)
    after = await position(resting.id or 0)
    assert after.status == "CANCELLED" and after.closed_at is not None and after.size == 0
    entry = (await rows(resting.id or 0))["ENTRY"][0]
    assert entry.status == "CANCELED"
    assert (await paper_order(user, entry.client_id)).status == "CANCELED"
    signal = await _signal_of(resting.id or 0)
    assert signal.status == "CANCELLED" and signal.reason is not None
    assert signal.reason.startswith("entry_cancelled: you cancelled")
    assert await pending.list_pending(user) == []
    # history lists it as cancelled, with no books; it is no trade in the totals
    [closed] = await manual.list_positions(user, "closed")
    assert (closed.id, closed.status) == (resting.id, "CANCELLED")
    assert (await manual.pnl_summary(user)).closed_trades == 0

    with pytest.raises(pending.PositionNotPending):
        await pending.cancel_pending(user, resting.id or 0)
    assert await notifications(user, "entry_cancelled") == []  # the trader did it: no message


async def test_another_traders_pending_entry_is_not_found_and_not_listed(
    sqlite_url: str, paper_market: FakeIndexer
) -> None:
    owner, other = await make_user(302), await make_user(303)
    resting = await open_position(owner, RESTING)
    assert await pending.list_pending(other) == []
    with pytest.raises(manual.PositionNotFound):
        await pending.cancel_pending(other, resting.id or 0)
    with pytest.raises(manual.PositionNotFound):
        await pending.cancel_pending(owner, 10_000_000)
    assert (await position(resting.id or 0)).status == "OPENING"
    await pending.cancel_pending(owner, resting.id or 0)  # tidy: the owner still can


async def test_an_open_position_is_not_pending(sqlite_url: str, paper_market: FakeIndexer) -> None:
    user = await make_user(304)
    opened = await open_position(user, MARKET)
    assert opened.status == "OPEN"
    assert await pending.list_pending(user) == []
    with pytest.raises(pending.PositionNotPending):
        await pending.cancel_pending(user, opened.id or 0)
    assert (await position(opened.id or 0)).status == "OPEN"


async def test_an_entry_cancelled_on_the_venue_is_cancelled_by_the_monitor(
    db_url: str, paper_market: FakeIndexer
) -> None:
    user = await make_user(305)
    resting = await open_position(user, RESTING)
    entry = (await rows(resting.id or 0))["ENTRY"][0]
    await paper(user).cancel(ref_of(entry))  # by hand, on the exchange

    report = await monitor_tick("w1")

    assert report.outcomes.get("entry_cancelled") == 1
    after = await position(resting.id or 0)
    assert (after.status, after.close_reason) == ("CANCELLED", "EXTERNAL")
    signal = await _signal_of(resting.id or 0)
    assert signal.status == "CANCELLED" and "on the exchange" in (signal.reason or "")
    [told] = await notifications(user, "entry_cancelled")
    assert "cancelled on the exchange" in told.text and "BTC-USD" in told.text


async def test_close_all_cancels_pending_entries_too(sqlite_url: str, paper_market: FakeIndexer) -> None:
    user = await make_user(306)
    resting = await open_position(user, RESTING)
    opened = await open_position(user, {**MARKET, "market": "ETH-USD", "sl": "2500", "tp": "3500"})
    done = {v.id: v for v in await manual.close_all(user)}
    assert done[resting.id].status == "CANCELLED" and done[resting.id].close_reason == "MANUAL"
    assert done[opened.id].status == "CLOSED"
    assert (await _signal_of(resting.id or 0)).status == "CANCELLED"


async def test_a_part_filled_entry_cancelled_keeps_the_filled_part_protected(
    db_url: str, paper_market: FakeIndexer
) -> None:
    """An entry that part filled (a thin book) and rests the rest, left OPENING by an execution that
    stopped there: the trader's cancel keeps the filled part, protected, as an OPEN position."""
    user = await make_user(307)
    paper_market.set_book("BTC-USD", bids=[(D("64999"), D("1"))], asks=[(D("65001"), D("0.004"))])
    async with session_scope() as session:
        opening = Position(
            user_address=user,
            signal_id=3070,
            network="paper",
            market="BTC-USD",
            side="LONG",
            status="OPENING",
            sl_price=D("60000"),
            tp_price=D("70000"),
        )
        session.add(opening)
    trader = Trader(
        user=user, network="paper", venue=await venue_for(user, "paper"), account=None, notify=get_notifier()
    )
    plan = OrderPlan(OrderRole.ENTRY, OrderType.LIMIT, Side.BUY, D("0.01"), price=D("65001"))
    row = await record_plan(
        user=user, network="paper", market="BTC-USD", position_id=opening.id, signal_id=3070, attempt=0,
        plan=plan,
    )
    # sent (0.004 taken from the thin book, the rest resting), then the price moves away from the limit
    ref = await trader.venue.place_limit_order(
        "BTC-USD", Side.BUY, D("0.01"), D("65001"), client_id=row.client_id,
        good_til_seconds=LIMIT_TTL_SECONDS,
    )
    move(paper_market, "BTC-USD", "65100")
    await store_ref(row, ref)
    report = await trader.venue.order_status(ref)
    assert (report.status.value, report.filled) == ("PARTIALLY_FILLED", D("0.004"))
    assert [p.id for p in await pending.list_pending(user)] == [opening.id]

    view = await pending.cancel_pending(user, opening.id or 0)

    assert (view.status, view.size, view.entry_price) == ("OPEN", D("0.004"), D("65001"))
    assert await pending.list_pending(user) == []
    orders = await rows(opening.id or 0)
    assert orders["ENTRY"][0].status == "CANCELED"
    stop = orders["STOP_LOSS"][-1]
    assert (stop.status, stop.size, stop.trigger_price) == ("UNTRIGGERED", D("0.004"), D("60000"))
    assert orders["TAKE_PROFIT"][-1].status == "UNTRIGGERED"
    assert (await paper(user).account()).positions["BTC-USD"].size == D("0.004")



async def test_an_entry_whose_good_til_passes_is_cancelled_as_expired(
    sqlite_url: str, paper_market: FakeIndexer
) -> None:
    user = await make_user(308)
    resting = await open_position(user, RESTING)
    entry = (await rows(resting.id or 0))["ENTRY"][0]
    # the exchange's clock passes the order's good-til (a day is too long to wait)
    async with session_scope() as session:
        await session.exec(
            update(PaperOrder)  # type: ignore[call-overload]
            .where(col(PaperOrder.user_address) == user, col(PaperOrder.client_id) == entry.client_id)
            .values(good_til=utcnow() - timedelta(seconds=1))
        )

    report = await monitor_tick("w1")

    assert report.outcomes.get("entry_cancelled") == 1
    after = await position(resting.id or 0)
    assert (after.status, after.close_reason) == ("CANCELLED", "EXPIRED")
    assert (await rows(resting.id or 0))["ENTRY"][0].status == "EXPIRED"
    signal = await _signal_of(resting.id or 0)
    assert signal.status == "CANCELLED" and "expired" in (signal.reason or "")
    [told] = await notifications(user, "entry_cancelled")  # nobody asked for it: the trader is told
    assert "expired" in told.text and "60,000" in told.text
    assert await pending.list_pending(user) == []


async def test_a_market_entry_without_liquidity_still_fails(
    sqlite_url: str, paper_market: FakeIndexer
) -> None:
    """FAILED stays for an entry that never got onto the book (not CANCELLED)."""
    user = await make_user(309)
    paper_market.set_book("BTC-USD", bids=[(D("64999"), D("1"))], asks=[])
    outcome = await executor.execute_signal(await make_signal(user, MARKET))
    assert outcome is not None and outcome.status.value == "FAILED"
    assert outcome.position_id is not None
    assert (await position(outcome.position_id)).status == "FAILED"


async def test_a_close_alert_cancels_a_resting_entry_and_says_who(
    sqlite_url: str, paper_market: FakeIndexer
) -> None:
    user = await make_user(310)
    resting = await open_position(user, RESTING)
    closing = await make_signal(user, {"action": "close", "market": "BTC-USD"})

    outcome = await executor.execute_signal(closing)

    assert outcome is not None and outcome.status.value == "EXECUTED"
    after = await position(resting.id or 0)
    assert (after.status, after.close_reason) == ("CANCELLED", "SIGNAL")
    opener = await _signal_of(resting.id or 0)
    assert opener.status == "CANCELLED" and "a close alert" in (opener.reason or "")
    assert (await paper(user).account()).positions == {}
