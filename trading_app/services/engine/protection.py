"""Entry, protection and flattening of one position: never a position without its stop-loss.

Order of operations for an entry: persist the position (OPENING) and the entry order ->
send the entry -> wait for the fill -> stop-loss sized to the filled amount -> take-profit ->
OPEN. If the stop-loss cannot be placed, the position is flattened at once
(FAILED_PROTECTION -> CLOSED) and the trader is told. Every step is re-entrant: running it
again after a crash continues from what the database says was done.
"""

from __future__ import annotations

import logging
from decimal import Decimal

from sqlalchemy.exc import IntegrityError

from trading_app.db.engine import session_scope
from trading_app.db.models import Order, Position
from trading_app.db.trading import orders_of
from trading_app.db.types import utcnow
from trading_app.domain import pnl
from trading_app.domain.enums import (
    CloseReason,
    OrderRole,
    OrderStatus,
    OrderType,
    PositionSide,
    PositionStatus,
    Side,
)
from trading_app.domain.ids import MAX_ATTEMPT
from trading_app.domain.lifecycle import ORDER, is_terminal
from trading_app.domain.quantize import slippage_bound
from trading_app.services.engine.order_flow import (
    OrderPlan,
    cancel_and_report,
    first_report,
    new_row,
    ref_of,
    required_price,
    send_with_retries,
    settle,
    settle_in,
    wait_until_done,
)
from trading_app.services.engine.trader import Finish, Trader, Write, change_position_in, update_position
from trading_app.services.notify import messages
from trading_app.venues.base import MarketSpec, OrderRef, OrderReport
from trading_app.venues.errors import OrderRejected, VenueError

log = logging.getLogger(__name__)

PROTECTION_TTL_SECONDS = 28 * 24 * 3600  # conditional orders are re-placed by the monitor before this


async def protect(
    trader: Trader, position: Position, spec: MarketSpec, *, before: Write | None = None,
    after: Write | None = None, known_new: bool = False,
) -> Position:
    """Place the stop-loss, then the take-profit, for the position's current size.

    Both rows are committed in one transaction before the stop-loss is sent; their venue
    references in one transaction after the take-profit was sent (a crash in between leaves
    PENDING rows: the next attempt resends them under the same client ids, the stop first).
    A stop-loss that cannot be placed flattens the position. A take-profit that cannot be
    placed leaves the position open behind its stop-loss and tells the trader.

    Args:
        before: more writes for the transaction that records the rows; it may return the
            position as changed there (its size then sizes the orders).
        after: more writes for the transaction that stores the references, only when the
            stop-loss is in place; it may return the position as changed there.
        known_new: the position has no protection rows yet (saves reading its orders).
    """
    position, chosen, created = await _record_protection(trader, position, spec, before, known_new)
    placed: list[tuple[Order, OrderRef]] = []
    for plan, row, live in chosen:
        try:
            if row is None:
                raise OrderRejected(f"no client ids left for another {plan.role.value.lower()} of this "
                                    "position")
            if not live:
                placed.append((row, await _send_protection(trader, position, plan, row)))
        except VenueError as e:
            if plan.role is OrderRole.STOP_LOSS:
                log.error("position %s: stop-loss refused (%s), flattening", position.id, type(e).__name__)
                await _drop_unsent(trader, created)
                return await flatten(trader, position, spec, CloseReason.PROTECTION_FAILED,
                                     failed_order="stop-loss", detail=str(e)[:200])
            log.warning("position %s: take-profit refused (%s)", position.id, type(e).__name__)
            trader.tell(messages.TradingError(
                network=trader.network, market=position.market, what_failed="placing the take-profit",
                action_taken="the position stays open behind its stop-loss", detail=str(e)[:200]))
    if not placed and after is None:
        return position
    async with session_scope() as session:
        for row, ref in placed:
            # accepted means resting untriggered; the monitor's next read corrects anything else
            await settle_in(session, row, ref=ref, status=OrderStatus.UNTRIGGERED)
        changed = await after(session) if after is not None else None
    return changed if isinstance(changed, Position) else position


def _protection_plans(trader: Trader, position: Position, spec: MarketSpec) -> list[OrderPlan]:
    side = PositionSide(position.side)
    plans = []
    levels = ((OrderRole.STOP_LOSS, position.sl_price), (OrderRole.TAKE_PROFIT, position.tp_price))
    for role, trigger in levels:
        if trigger is None:
            continue
        worst = slippage_bound(trigger, side.exit_side, max(trader.slippage_pct, Decimal(5)), spec.tick_size)
        kind = OrderType.STOP_MARKET if role is OrderRole.STOP_LOSS else OrderType.TAKE_PROFIT_MARKET
        plans.append(OrderPlan(role, kind, side.exit_side, position.size, price=worst, trigger_price=trigger,
                               reduce_only=True))
    return plans


async def _record_protection(
    trader: Trader, position: Position, spec: MarketSpec, before: Write | None, known_new: bool
) -> tuple[Position, list[tuple[OrderPlan, Order | None, bool]], list[Order]]:
    """One transaction: `before`, then the stop-loss and take-profit rows to use (row, live),
    and the rows this call created."""
    for attempt in (1, 2):
        try:
            async with session_scope() as session:
                changed = await before(session) if before is not None else None
                current = changed if isinstance(changed, Position) else position
                existing = [] if known_new else await orders_of(session, trader.user, current.id or 0)
                chosen, created = [], []
                for plan in _protection_plans(trader, current, spec):
                    previous = [o for o in existing if o.role == plan.role.value]
                    row, live = _choose(trader, current, plan, previous)
                    if row is not None and row.id is None:
                        session.add(row)
                        created.append(row)
                    chosen.append((plan, row, live))
            return current, chosen, created
        except IntegrityError:
            if attempt == 2:
                raise
            known_new = False  # another worker (the monitor) recorded one first: read and use theirs
    raise AssertionError("unreachable")


def _choose(
    trader: Trader, position: Position, plan: OrderPlan, previous: list[Order]
) -> tuple[Order | None, bool]:
    """The order row to use for `plan.role`: (row, already live on the venue); None: no ids left.

    The latest row of the role is reused while it is PENDING (committed, maybe never sent:
    resent under the same client id) or still working; only a finished one gets a successor,
    under the next attempt's client id (a new, not yet added row).
    """
    latest = previous[-1] if previous else None
    if latest is not None and latest.status == OrderStatus.PENDING.value:
        return latest, False
    if latest is not None and not is_terminal(ORDER, latest.status):
        return latest, True
    if len(previous) > MAX_ATTEMPT:
        return None, False
    return new_row(user=trader.user, network=trader.network, market=position.market, position_id=position.id,
                   signal_id=position.signal_id or 0, attempt=len(previous), plan=plan), False


async def _send_protection(trader: Trader, position: Position, plan: OrderPlan, row: Order) -> OrderRef:
    venue = trader.venue
    place = venue.place_stop_loss if plan.role is OrderRole.STOP_LOSS else venue.place_take_profit
    return await send_with_retries(lambda: place(
        position.market, plan.side, row.size, required_price(row.trigger_price, plan.trigger_price),
        worst_price=required_price(row.price, plan.price), client_id=row.client_id,
        good_til_seconds=PROTECTION_TTL_SECONDS))


async def _drop_unsent(trader: Trader, rows: list[Order]) -> None:
    """The stop-loss failed: a take-profit row this call created was never sent (it only goes
    out after the stop-loss), so it is recorded as never working. An older PENDING one may be
    live from an earlier attempt: that one is left to the cancel that closing the books does."""
    unsent = [r for r in rows
              if r.status == OrderStatus.PENDING.value and r.role == OrderRole.TAKE_PROFIT.value]
    if not unsent:
        return
    async with session_scope() as session:
        for row in unsent:
            await settle_in(session, row, report=OrderReport(
                ref=ref_of(row), status=OrderStatus.CANCELED, side=Side(row.side), size=row.size))


async def flatten(
    trader: Trader, position: Position, spec: MarketSpec, reason: CloseReason, *,
    failed_order: str | None = None, detail: str | None = None, finish: Finish | None = None,
) -> Position:
    """Close the position at market (reduce-only), cancel what protects it, close the books.

    The status change (CLOSING or FAILED_PROTECTION) and the close order's row are committed
    together, before the close is sent. `finish` joins the transaction that closes the books.
    """
    side = PositionSide(position.side)
    worst = slippage_bound(spec.oracle_price, side.exit_side, max(trader.slippage_pct, Decimal(1)), spec.tick_size)
    plan = OrderPlan(OrderRole.CLOSE, OrderType.MARKET, side.exit_side, position.size, price=worst, reduce_only=True)
    target = (PositionStatus.FAILED_PROTECTION if failed_order is not None
              else PositionStatus.CLOSING if position.status == PositionStatus.OPEN.value else None)
    async with session_scope() as session:
        if target is not None:
            position = await change_position_in(session, trader, position.id or 0, expect=position.status,
                                                status=target)
        orders = await orders_of(session, trader.user, position.id or 0)
        row, live = _choose(trader, position, plan, [o for o in orders if o.role == plan.role.value])
        if row is not None and row.id is None:
            session.add(row)
    flattened = False
    try:
        if row is None:
            raise OrderRejected("no client ids left for another close of this position")
        if not live:
            sent = row
            ref = await send_with_retries(lambda: trader.venue.place_market_order(
                position.market, plan.side, plan.size, worst_price=worst, client_id=sent.client_id,
                reduce_only=True))
            report = await first_report(trader.venue, ref)
            row = await settle(row, ref, report)
            row = await wait_until_done(trader.venue, row, first_delay=0.05 if report is not None else 0.0)
        else:
            row = await wait_until_done(trader.venue, row)
        flattened = row.status == OrderStatus.FILLED.value
    except VenueError as e:
        log.error("position %s: flatten failed (%s)", position.id, type(e).__name__)
        detail = detail or str(e)[:200]
    if failed_order is not None:
        trader.tell(messages.ProtectionFailed(network=trader.network, market=position.market, side=position.side,
                                              size=position.size, order=failed_order, flattened=flattened,
                                              detail=detail))
    if not flattened or row is None:
        log.warning("position %s: close order ended %s, position not flat", position.id,
                    row.status if row is not None else "unplaced")
        if position.status == PositionStatus.CLOSING.value:
            position = await update_position(trader, position.id or 0, status=PositionStatus.OPEN)
        return position  # still FAILED_PROTECTION or OPEN: the monitor keeps trying
    return await close_books(trader, position, reason, exit_orders=[row], orders=orders, finish=finish)


async def close_books(
    trader: Trader, position: Position, reason: CloseReason, exit_orders: list[Order], *,
    orders: list[Order] | None = None, finish: Finish | None = None,
) -> Position:
    """Final books from the exit fills: exit price, fees on both legs, realized PnL; cancel leftovers.

    `orders` are the position's rows when the caller has just read them. The leftovers'
    final statuses, the books and `finish` are committed in one transaction.
    """
    if orders is None:
        async with session_scope() as session:
            orders = await orders_of(session, trader.user, position.id or 0)
    entry_fee = sum((o.fee for o in orders if o.role == OrderRole.ENTRY.value), Decimal(0))
    filled = [(o.filled_size, o.avg_fill_price) for o in exit_orders if o.filled_size and o.avg_fill_price]
    exit_price = pnl.average_price(filled) if filled else None
    exit_fee = sum((o.fee for o in exit_orders), Decimal(0))
    fees = entry_fee + exit_fee
    realized = None
    if exit_price is not None and position.entry_price is not None:
        realized = pnl.realized_pnl(PositionSide(position.side), position.entry_price, exit_price, position.size,
                                    entry_fee=entry_fee, exit_fee=exit_fee)
    exit_ids = {o.id for o in exit_orders}
    reports = []
    for leftover in orders:
        if leftover.id not in exit_ids and leftover.role in (OrderRole.STOP_LOSS.value, OrderRole.TAKE_PROFIT.value):
            _, report = await cancel_and_report(trader.venue, leftover)
            if report is not None:
                reports.append((leftover, report))
    async with session_scope() as session:
        for row, report in reports:
            await settle_in(session, row, report=report)
        position = await change_position_in(
            session, trader, position.id or 0, expect=position.status, status=PositionStatus.CLOSED,
            closed_at=utcnow(), exit_price=exit_price, realized_pnl=realized, fees=fees, close_reason=reason.value,
        )
        if finish is not None:
            await finish(session, position)
    if reason is not CloseReason.PROTECTION_FAILED:
        trader.tell(messages.PositionClosed(
            network=trader.network, market=position.market, side=position.side, size=position.size,
            exit_price=exit_price, reason=reason.value, realized_pnl=realized, fees=fees,
            entry=position.entry_price))
    return position


__all__ = ["close_books", "flatten", "protect"]
