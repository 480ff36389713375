"""Entry, protection and flattening of one position: never a position without its stop-loss.

Order of operations for an entry: persist the position (OPENING) and the entry order ->
send the entry -> wait for the fill -> stop-loss sized to the filled amount -> take-profit ->
OPEN. If the stop-loss cannot be placed, the position is flattened at once
(FAILED_PROTECTION -> CLOSED) and the trader is told. Every step is re-entrant: running it
again after a crash continues from what the database says was done.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import timedelta
from decimal import Decimal

from trading_app.db.engine import session_scope
from trading_app.db.models import Order, Position, TradingAccount
from trading_app.db.trading import get_position, orders_of
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
from trading_app.domain.lifecycle import ORDER, POSITION, is_terminal, transition
from trading_app.domain.quantize import slippage_bound
from trading_app.services import messages
from trading_app.services.orders import (
    OrderPlan,
    apply_report,
    cancel_quietly,
    record_plan,
    ref_of,
    send_with_retries,
    store_ref,
    wait_until_done,
)
from trading_app.venues.base import MarketSpec, OrderReport, Venue
from trading_app.venues.errors import OrderNotFound, OrderRejected, VenueError

log = logging.getLogger(__name__)

PROTECTION_TTL_SECONDS = 28 * 24 * 3600  # conditional orders are re-placed by the monitor before this
LIMIT_TTL_SECONDS = 24 * 3600
# an entry row this old was written by an earlier attempt (a crash, a takeover)
RESUME_AFTER = timedelta(seconds=3)
# a short-term dYdX order lives at most ~40 blocks: past this an unknown entry is never resent
ENTRY_RESEND_WINDOW = timedelta(seconds=30)


@dataclass
class Trader:
    """Who is trading where: the user, the network, their venue, settings and how to tell them."""

    user: str
    network: str
    venue: Venue
    account: TradingAccount | None
    notify: object  # TelegramNotifier-like: notify_soon(user, kind, event)

    @property
    def slippage_pct(self) -> Decimal:
        return self.account.slippage_pct if self.account is not None else Decimal(1)

    def tell(self, event: object) -> None:
        self.notify.notify_soon(self.user, event.kind, event)  # type: ignore[attr-defined]


async def update_position(trader: Trader, position_id: int, **changes: object) -> Position:
    """Change one of the trader's positions; a `status` change must follow the lifecycle table."""
    async with session_scope() as session:
        position = await get_position(session, trader.user, position_id, for_update=True)
        assert position is not None
        target = changes.pop("status", None)
        if target is not None and target != position.status:
            position.status = transition(POSITION, position.status, str(target)).value
        for key, value in changes.items():
            setattr(position, key, value)
        position.updated_at = utcnow()
        session.add(position)
    return position


async def place_entry(trader: Trader, position: Position, plan: OrderPlan, spec: MarketSpec) -> Order:
    """Send the entry (idempotently) and wait for it to finish."""
    row = await record_plan(
        user=trader.user, network=trader.network, market=position.market, position_id=position.id,
        signal_id=position.signal_id or 0, attempt=0, plan=plan,
    )
    if row.status == OrderStatus.PENDING.value and utcnow() - row.created_at > RESUME_AFTER:
        row = await _recover_entry(trader, row)
    if row.status == OrderStatus.PENDING.value:
        if plan.order_type is OrderType.LIMIT:
            ref = await send_with_retries(lambda: trader.venue.place_limit_order(
                position.market, plan.side, plan.size, plan.price or Decimal(0),
                client_id=row.client_id, good_til_seconds=LIMIT_TTL_SECONDS))
        else:
            ref = await send_with_retries(lambda: trader.venue.place_market_order(
                position.market, plan.side, plan.size, worst_price=plan.price or Decimal(0),
                client_id=row.client_id))
        row = await store_ref(row, ref)
    if plan.order_type is OrderType.LIMIT:
        return await wait_until_done(trader.venue, row, timeout=2.0)
    return await wait_until_done(trader.venue, row)


async def _recover_entry(trader: Trader, row: Order) -> Order:
    """An entry committed by an earlier attempt: did it reach the venue?

    Resending the same client id is safe only while the first copy could still be live: a
    dYdX short-term order's id is free again once its good-til-block has passed, and a
    resend then would be a second order. So a known order is followed, an unknown young one
    is resent, and an unknown old one is given up (EXPIRED: the signal fails, visibly).
    """
    try:
        report = await trader.venue.order_status(ref_of(row))
    except OrderNotFound:
        report = None
    if report is not None and (report.status is not OrderStatus.PENDING or report.filled > 0):
        return await apply_report(row, report)
    if utcnow() - row.created_at <= ENTRY_RESEND_WINDOW:
        return row
    log.warning("entry %s: unknown to the venue %s after it was recorded; not resent", row.id,
                utcnow() - row.created_at)
    expired = OrderReport(ref=ref_of(row), status=OrderStatus.EXPIRED, side=Side(row.side), size=row.size)
    return await apply_report(row, expired)


async def protect(trader: Trader, position: Position, spec: MarketSpec) -> Position:
    """Place the stop-loss, then the take-profit, for the position's current size.

    A stop-loss that cannot be placed flattens the position. A take-profit that cannot be
    placed leaves the position open behind its stop-loss and tells the trader.
    """
    side = PositionSide(position.side)
    size = position.size
    if position.sl_price is not None:
        try:
            await _place_protection(trader, position, OrderRole.STOP_LOSS, side, size, position.sl_price, spec)
        except VenueError as e:
            log.error("position %s: stop-loss refused (%s), flattening", position.id, type(e).__name__)
            return await flatten(trader, position, spec, CloseReason.PROTECTION_FAILED, failed_order="stop-loss",
                                 detail=str(e)[:200])
    if position.tp_price is not None:
        try:
            await _place_protection(trader, position, OrderRole.TAKE_PROFIT, side, size, position.tp_price, spec)
        except VenueError as e:
            log.warning("position %s: take-profit refused (%s)", position.id, type(e).__name__)
            trader.tell(messages.TradingError(
                network=trader.network, market=position.market, what_failed="placing the take-profit",
                action_taken="the position stays open behind its stop-loss", detail=str(e)[:200]))
    return position


async def _place_protection(
    trader: Trader, position: Position, role: OrderRole, side: PositionSide, size: Decimal,
    trigger: Decimal, spec: MarketSpec,
) -> Order:
    exit_side = side.exit_side
    worst = slippage_bound(trigger, exit_side, max(trader.slippage_pct, Decimal(5)), spec.tick_size)
    kind = OrderType.STOP_MARKET if role is OrderRole.STOP_LOSS else OrderType.TAKE_PROFIT_MARKET
    plan = OrderPlan(role, kind, exit_side, size, price=worst, trigger_price=trigger, reduce_only=True)
    row, live = await _row_for(trader, position, plan)
    if live:
        return row  # already on the venue (a resumed execution): never a second one
    place = trader.venue.place_stop_loss if role is OrderRole.STOP_LOSS else trader.venue.place_take_profit
    ref = await send_with_retries(lambda: place(
        position.market, exit_side, row.size, row.trigger_price or trigger, worst_price=row.price or worst,
        client_id=row.client_id, good_til_seconds=PROTECTION_TTL_SECONDS))
    # accepted means resting untriggered; the monitor's next read corrects anything else
    return await store_ref(row, ref, OrderStatus.UNTRIGGERED)


async def _row_for(trader: Trader, position: Position, plan: OrderPlan) -> tuple[Order, bool]:
    """The order row to use for `plan.role`: (row, already live on the venue).

    The latest row of the role is reused while it is PENDING (committed, maybe never sent:
    resent under the same client id) or still working; only a finished one gets a successor,
    under the next attempt's client id.
    """
    async with session_scope() as session:
        previous = [o for o in await orders_of(session, trader.user, position.id or 0) if o.role == plan.role.value]
    latest = previous[-1] if previous else None
    if latest is not None and latest.status == OrderStatus.PENDING.value:
        return latest, False
    if latest is not None and not is_terminal(ORDER, latest.status):
        return latest, True
    if len(previous) > MAX_ATTEMPT:
        raise OrderRejected(f"no client ids left for another {plan.role.value.lower()} of this position")
    row = await record_plan(user=trader.user, network=trader.network, market=position.market,
                            position_id=position.id, signal_id=position.signal_id or 0,
                            attempt=len(previous), plan=plan, known_new=True)
    return row, False


async def flatten(
    trader: Trader, position: Position, spec: MarketSpec, reason: CloseReason, *,
    failed_order: str | None = None, detail: str | None = None,
) -> Position:
    """Close the position at market (reduce-only), cancel what protects it, close the books."""
    if failed_order is not None:
        position = await update_position(trader, position.id or 0, status=PositionStatus.FAILED_PROTECTION)
    elif position.status == PositionStatus.OPEN.value:
        position = await update_position(trader, position.id or 0, status=PositionStatus.CLOSING)
    side = PositionSide(position.side)
    worst = slippage_bound(spec.oracle_price, side.exit_side, max(trader.slippage_pct, Decimal(1)), spec.tick_size)
    plan = OrderPlan(OrderRole.CLOSE, OrderType.MARKET, side.exit_side, position.size, price=worst, reduce_only=True)
    flattened = False
    try:
        row, live = await _row_for(trader, position, plan)
        if not live:
            ref = await send_with_retries(lambda: trader.venue.place_market_order(
                position.market, plan.side, plan.size, worst_price=worst, client_id=row.client_id,
                reduce_only=True))
            row = await store_ref(row, ref)
        row = await wait_until_done(trader.venue, row)
        flattened = row.status == OrderStatus.FILLED.value
    except VenueError as e:
        log.error("position %s: flatten failed (%s)", position.id, type(e).__name__)
        detail = detail or str(e)[:200]
    if failed_order is not None:
        trader.tell(messages.ProtectionFailed(network=trader.network, market=position.market, side=position.side,
                                              size=position.size, order=failed_order, flattened=flattened,
                                              detail=detail))
    if not flattened:
        if position.status == PositionStatus.CLOSING.value:
            position = await update_position(trader, position.id or 0, status=PositionStatus.OPEN)
        return position  # still FAILED_PROTECTION or OPEN: the monitor keeps trying
    return await close_books(trader, position, reason, exit_orders=[row])


async def close_books(trader: Trader, position: Position, reason: CloseReason, exit_orders: list[Order]) -> Position:
    """Final books from the exit fills: exit price, fees on both legs, realized PnL; cancel leftovers."""
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
    for leftover in orders:
        if leftover.id not in exit_ids and leftover.role in (OrderRole.STOP_LOSS.value, OrderRole.TAKE_PROFIT.value):
            await cancel_quietly(trader.venue, leftover)
    position = await update_position(
        trader, position.id or 0, status=PositionStatus.CLOSED, closed_at=utcnow(), exit_price=exit_price,
        realized_pnl=realized, fees=fees, close_reason=reason.value,
    )
    if reason is not CloseReason.PROTECTION_FAILED:
        trader.tell(messages.PositionClosed(
            network=trader.network, market=position.market, side=position.side, size=position.size,
            exit_price=exit_price, reason=reason.value, realized_pnl=realized, fees=fees,
            entry=position.entry_price))
    return position


__all__ = ["Trader", "close_books", "flatten", "place_entry", "protect", "ref_of", "update_position"]
