"""apply_reports: several rows' venue reports written together (one statement on PostgreSQL), a row
someone else moved meanwhile read afresh and decided again from what it now is."""

from __future__ import annotations

from decimal import Decimal

import pytest
from sqlalchemy import update

from tests.fakes.indexer import FakeIndexer
from tests.services.engine_support import make_user
from tests.services.monitor_support import open_position, rows
from trading_app.db.engine import session_scope
from trading_app.db.models import Order
from trading_app.domain.enums import OrderStatus, Side
from trading_app.services.engine.order_flow import apply_reports
from trading_app.services.engine.order_rows import ref_of
from trading_app.venues.base import OrderReport

BTC = {"action": "buy", "market": "BTC-USD", "size": "0.01", "sl": "60000", "tp": "70000"}


def _filled(row: Order, price: str) -> OrderReport:
    return OrderReport(
        ref=ref_of(row),
        status=OrderStatus.FILLED,
        side=Side(row.side),
        size=row.size,
        filled=row.size,
        avg_fill_price=Decimal(price),
        fee=Decimal("0.35"),
        trigger_price=row.trigger_price,
        reduce_only=row.reduce_only,
    )


@pytest.mark.breaks_invariants("the reports are made up: the venue never filled these orders")
async def test_rows_are_written_together_and_a_row_that_moved_is_decided_again(
    db_url: str, paper_market: FakeIndexer
) -> None:
    user = await make_user(71)
    p = await open_position(user, BTC)
    found = await rows(p.id)
    sl, tp = found["STOP_LOSS"][-1], found["TAKE_PROFIT"][-1]
    assert sl.status == tp.status == "UNTRIGGERED"
    async with session_scope() as session:  # someone else saw the stop-loss trigger meanwhile
        await session.execute(
            update(Order).where(Order.id == sl.id, Order.user_address == user).values(status="OPEN")
        )

    written = await apply_reports([(sl, _filled(sl, "60000")), (tp, _filled(tp, "70000"))])

    assert [(r.id, r.status, r.avg_fill_price) for r in written] == [
        (sl.id, "FILLED", Decimal("60000")),  # OPEN -> FILLED, decided from the row as it now is
        (tp.id, "FILLED", Decimal("70000")),
    ]
    again = await rows(p.id)
    assert again["STOP_LOSS"][-1].status == "FILLED" and again["STOP_LOSS"][-1].filled_size == sl.size
    assert again["TAKE_PROFIT"][-1].status == "FILLED" and again["TAKE_PROFIT"][-1].fee == Decimal("0.35")
