"""A position's final books: exit price, fees on both legs and realized PnL from its fills, the
protection it leaves behind cancelled, all committed in one transaction, and the trader told.

`close_books` does it for one position; the monitor's mass-fill path (`services.monitor.fills`)
does it for all of an account's filled positions at once from the same pieces.
"""

from __future__ import annotations

from decimal import Decimal

from sqlmodel.ext.asyncio.session import AsyncSession

from trading_app.db.engine import session_scope
from trading_app.db.models import Order, Position
from trading_app.db.trading import orders_of
from trading_app.domain import pnl
from trading_app.domain.clock import utcnow
from trading_app.domain.enums import CloseReason, OrderRole, PositionSide, PositionStatus
from trading_app.domain.quantize import on_grid_nearest, to_usdc
from trading_app.services.engine.order_flow import cancel_and_report, settle_in
from trading_app.services.engine.outcomes import SignalEnd
from trading_app.services.engine.trader import Trader, change_position_in
from trading_app.services.notify import messages


async def close_books(
    trader: Trader,
    position: Position,
    reason: CloseReason,
    exit_orders: list[Order],
    *,
    orders: list[Order] | None = None,
    end: SignalEnd | None = None,
) -> Position:
    """Final books from the exit fills: exit price, fees on both legs, realized PnL; cancel leftovers.

    `orders` are the position's rows when the caller has just read them. The leftovers'
    final statuses, the books and `end` are committed in one transaction.
    """
    if position.status == PositionStatus.CLOSED.value:
        return position  # booked already (another closer): never booked twice
    if orders is None:
        async with session_scope() as session:
            orders = await orders_of(session, trader.user, position.id or 0)
    books = final_books(position, exit_orders, orders)
    reports = []
    for leftover in leftovers(orders, exit_orders):
        _, report = await cancel_and_report(trader.venue, leftover)
        if report is not None:
            reports.append((leftover, report))
    async with session_scope() as session:
        for row, report in reports:
            await settle_in(session, row, report=report)
        position = await book_closed_in(session, trader, position, reason, books)
        if end is not None:
            await end.commit_in(session, position)
    tell_closed(trader, position, reason, books)
    return position


def final_books(
    position: Position, exit_orders: list[Order], orders: list[Order]
) -> dict[str, Decimal | None]:
    """The closed position's books from its fills: `exit_price` (on the tick), `realized_pnl`
    (exact, in USDC quantums) and `fees` (both legs); `orders` are all the position's rows."""
    entry_fee = sum((o.fee for o in orders if o.role == OrderRole.ENTRY.value), Decimal(0))
    filled = [(o.filled_size, o.avg_fill_price) for o in exit_orders if o.filled_size and o.avg_fill_price]
    exact_exit = pnl.average_price(filled) if filled else None
    exit_fee = sum((o.fee for o in exit_orders), Decimal(0))
    realized = None
    entry_price = _exact_entry(position, orders)
    if exact_exit is not None and entry_price is not None:
        # what the fills made is a whole number of USDC quantums: the averages' division tail goes
        realized = to_usdc(
            pnl.realized_pnl(
                PositionSide(position.side),
                entry_price,
                exact_exit,
                position.size,
                entry_fee=entry_fee,
                exit_fee=exit_fee,
            )
        )
    return {
        # stored and shown on the tick, like the entry; the PnL above comes from the exact fills
        "exit_price": None if exact_exit is None else on_grid_nearest(exact_exit, position.tick_size),
        "realized_pnl": realized,
        "fees": entry_fee + exit_fee,
    }


def leftovers(orders: list[Order], exit_orders: list[Order]) -> list[Order]:
    """The stop-loss and take-profit rows a closed position leaves to cancel (live or not: a
    finished one costs no venue call, `cancel_and_report` skips it)."""
    exit_ids = {o.id for o in exit_orders}
    return [
        o
        for o in orders
        if o.id not in exit_ids and o.role in (OrderRole.STOP_LOSS.value, OrderRole.TAKE_PROFIT.value)
    ]


async def book_closed_in(
    session: AsyncSession,
    trader: Trader,
    position: Position,
    reason: CloseReason,
    books: dict[str, Decimal | None],
) -> Position:
    """Inside the caller's transaction: the position CLOSED with its `final_books`, only while it
    still has the status it was read with (else it is returned as it now is, unchanged)."""
    return await change_position_in(
        session,
        trader,
        position.id or 0,
        expect=position.status,
        status=PositionStatus.CLOSED,
        closed_at=utcnow(),
        close_reason=reason.value,
        **books,
    )


def tell_closed(
    trader: Trader, position: Position, reason: CloseReason, books: dict[str, Decimal | None]
) -> None:
    """Tell the trader a position closed with its `final_books` (a flatten after a failed
    protection told already)."""
    if reason is CloseReason.PROTECTION_FAILED:
        return
    trader.tell(
        messages.PositionClosed(
            network=trader.network,
            market=position.market,
            side=position.side,
            size=position.size,
            exit_price=books["exit_price"],
            reason=reason.value,
            realized_pnl=books["realized_pnl"],
            fees=books["fees"] or Decimal(0),
            entry=position.entry_price,
            tick=position.tick_size,
            step=position.step_size,
        )
    )


def _exact_entry(position: Position, orders: list[Order]) -> Decimal | None:
    """The exact average entry of the entry fills: the position stores it rounded to the tick, and the
    books must equal what the venue's fills say (the money audit checks it)."""
    entries = [
        (o.filled_size, o.avg_fill_price)
        for o in orders
        if o.role == OrderRole.ENTRY.value and o.filled_size > 0 and o.avg_fill_price
    ]
    if len(entries) == 1:
        return entries[0][1]  # as the venue reported it (no re-division)
    return pnl.average_price(entries) if entries else position.entry_price


__all__ = ["book_closed_in", "close_books", "final_books", "leftovers", "tell_closed"]
