"""Resuming an entry written by an earlier attempt: follow it, send it only when the venue guarantees it does
not exist, and never late."""

from __future__ import annotations

from datetime import timedelta

import pytest
from sqlmodel import select

from tests.fakes.indexer import FakeIndexer
from tests.services.engine_support import D, make_user
from trading_app.db.engine import session_scope
from trading_app.db.models import Order, PaperOrder, Position
from trading_app.domain.clock import utcnow
from trading_app.domain.enums import OrderRole, OrderType, Side
from trading_app.domain.ids import client_id_for
from trading_app.services.accounts.venues import venue_for
from trading_app.services.engine.entry_order import follow_entry, send_entry
from trading_app.services.engine.order_rows import OrderPlan
from trading_app.services.engine.trader import Trader
from trading_app.services.notify.notifier import get_notifier


async def _setup(n: int, age: timedelta) -> tuple[Trader, Position, OrderPlan, int]:
    user = await make_user(n)
    signal_id = 1000 + n
    plan = OrderPlan(OrderRole.ENTRY, OrderType.MARKET, Side.BUY, D("0.01"), price=D("66000"))
    client_id = client_id_for(signal_id, OrderRole.ENTRY, 0)
    async with session_scope() as session:
        position = Position(
            user_address=user,
            signal_id=signal_id,
            network="paper",
            market="BTC-USD",
            side="LONG",
            status="OPENING",
        )
        session.add(position)
        await session.flush()
        session.add(
            Order(
                user_address=user,
                position_id=position.id,
                signal_id=signal_id,
                network="paper",
                market="BTC-USD",
                role="ENTRY",
                order_type="MARKET",
                side="BUY",
                size=D("0.01"),
                price=D("66000"),
                client_id=client_id,
                status="PENDING",
                created_at=utcnow() - age,
            )
        )
    trader = Trader(
        user=user, network="paper", venue=await venue_for(user, "paper"), account=None, notify=get_notifier()
    )
    return trader, position, plan, client_id


async def place_entry(trader: Trader, position: Position, plan: OrderPlan) -> Order:
    row, ref, report = await send_entry(trader, position, plan)
    return await follow_entry(trader, row, plan, ref, report)


async def _paper_orders(user: str) -> list[PaperOrder]:
    async with session_scope() as session:
        return list((await session.exec(select(PaperOrder).where(PaperOrder.user_address == user))).all())


@pytest.mark.breaks_invariants("the entry alone: its position is never protected here")
async def test_an_entry_the_venue_already_has_is_followed_not_resent(
    sqlite_url: str, paper_market: FakeIndexer
) -> None:
    trader, position, plan, client_id = await _setup(1, timedelta(minutes=5))
    # the earlier attempt reached the venue, then died before writing down the reference
    await trader.venue.place_market_order(
        "BTC-USD", Side.BUY, D("0.01"), worst_price=D("66000"), client_id=client_id
    )
    row = await place_entry(trader, position, plan)
    assert row.status == "FILLED" and row.filled_size == D("0.01")
    assert len(await _paper_orders(trader.user)) == 1


@pytest.mark.breaks_invariants("the entry alone: its position is never protected here")
async def test_a_young_unknown_entry_is_resent_under_its_client_id(
    sqlite_url: str, paper_market: FakeIndexer
) -> None:
    trader, position, plan, client_id = await _setup(2, timedelta(seconds=10))
    row = await place_entry(trader, position, plan)
    assert row.status == "FILLED"
    [order] = await _paper_orders(trader.user)
    assert order.client_id == client_id


async def test_an_old_unknown_entry_is_given_up_never_sent_late(
    sqlite_url: str, paper_market: FakeIndexer
) -> None:
    # older than an alert may be (WEBHOOK_MAX_LAG_SECONDS, 300): the market has moved on since
    trader, position, plan, _ = await _setup(3, timedelta(minutes=10))
    row = await place_entry(trader, position, plan)
    assert row.status == "EXPIRED" and row.filled_size == 0
    assert await _paper_orders(trader.user) == []


def test_an_order_without_a_price_is_refused_not_sent_at_zero() -> None:
    from trading_app.services.engine.order_rows import required_price
    from trading_app.venues.errors import OrderRejected

    assert required_price(None, D("2950")) == D("2950")
    assert required_price(D("3010"), D("2950")) == D("3010")
    with pytest.raises(OrderRejected):
        required_price(None, None)
