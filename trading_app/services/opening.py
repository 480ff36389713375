"""Open a protected position for a signal, and close one: the trading engine's two moves."""

from __future__ import annotations

import logging
from datetime import UTC, datetime
from decimal import Decimal

from trading_app.db.engine import session_scope
from trading_app.db.models import Position, Signal, TradingAccount
from trading_app.db.trading import active_positions, count_active, get_position, orders_of, realized_since
from trading_app.db.types import utcnow
from trading_app.domain.enums import (
    CloseReason,
    OrderRole,
    OrderStatus,
    OrderType,
    PositionSide,
    PositionStatus,
    SizeMode,
)
from trading_app.domain.errors import RiskRejected
from trading_app.domain.lifecycle import ORDER, is_terminal
from trading_app.domain.risk import AccountFacts, RiskLimits, build_intent, validate_protection
from trading_app.domain.signals import ParsedSignal
from trading_app.services import messages
from trading_app.services.brackets import Trader, close_books, flatten, place_entry, protect, update_position
from trading_app.services.orders import OrderPlan

log = logging.getLogger(__name__)


def risk_limits(account: TradingAccount | None) -> RiskLimits:
    """The engine's view of a user's saved risk settings."""
    if account is None:
        return RiskLimits()
    return RiskLimits(
        size_mode=SizeMode(account.size_mode),
        size_value=account.size_value,
        max_open_positions=account.max_open_positions,
        max_leverage=account.max_leverage,
        max_notional_usd=account.max_notional_usd,
        daily_loss_limit_usd=account.daily_loss_limit_usd,
        slippage_pct=account.slippage_pct,
    )


async def _account_facts(trader: Trader) -> AccountFacts:
    snapshot = await trader.venue.account()
    start_of_day = datetime.now(UTC).replace(hour=0, minute=0, second=0, microsecond=0)
    async with session_scope() as session:
        open_count = await count_active(session, trader.user, trader.network)
        today = await realized_since(session, trader.user, trader.network, start_of_day)
        live = await active_positions(session, trader.user, trader.network)
    notional = sum((p.size * (p.entry_price or Decimal(0)) for p in live), Decimal(0))
    return AccountFacts(equity=snapshot.equity, open_positions=open_count, realized_pnl_today=today,
                        open_notional_usd=notional)


async def open_position(
    trader: Trader, signal: Signal, parsed: ParsedSignal, *, side: PositionSide | None = None,
    resume: Position | None = None,
) -> Position:
    """Open (or continue opening) the position of `signal`: entry, then SL, then TP.

    Raises:
        RiskRejected: the entry was refused before anything was sent.
        VenueError: the venue failed before the entry filled (nothing is left open).
    """
    spec = await trader.venue.market(parsed.market)
    if resume is None:
        intent = build_intent(parsed, spec, risk_limits(trader.account), await _account_facts(trader), side=side)
        async with session_scope() as session:
            position = Position(
                user_address=trader.user, signal_id=signal.id, network=trader.network, market=intent.market,
                side=intent.side.value, size=Decimal(0), tp_price=intent.take_profit, sl_price=intent.stop_loss,
                status=PositionStatus.OPENING.value,
            )
            session.add(position)
        plan = OrderPlan(OrderRole.ENTRY, intent.order_type, intent.entry_side, intent.size,
                         price=intent.limit_price if intent.order_type is OrderType.LIMIT else intent.worst_price)
    else:
        position = resume
        if position.status != PositionStatus.OPENING.value:
            return position  # already past the entry: nothing left for the signal to do
        async with session_scope() as session:
            entry = next(o for o in await orders_of(session, trader.user, position.id or 0)
                         if o.role == OrderRole.ENTRY.value)
        plan = OrderPlan(OrderRole.ENTRY, OrderType(entry.order_type), PositionSide(position.side).entry_side,
                         entry.size, price=entry.price)
    return await _after_entry(trader, position, plan, spec)


async def _after_entry(trader: Trader, position: Position, plan: OrderPlan, spec: object) -> Position:
    entry = await place_entry(trader, position, plan, spec)  # type: ignore[arg-type]
    if not is_terminal(ORDER, entry.status) and entry.status != OrderStatus.PARTIALLY_FILLED.value:
        return position  # a resting limit entry: the monitor protects it when it fills
    if entry.filled_size <= 0:
        return await update_position(trader, position.id or 0, status=PositionStatus.FAILED, closed_at=utcnow())
    fill_price = entry.avg_fill_price or spec.oracle_price  # type: ignore[attr-defined]
    position = await update_position(trader, position.id or 0, size=entry.filled_size, entry_price=fill_price, fees=entry.fee)
    side = PositionSide(position.side)
    try:  # the fill may have slipped past a protection level: then it cannot be placed as asked
        validate_protection(side, fill_price, position.sl_price, position.tp_price)
    except RiskRejected as e:
        return await flatten(trader, position, spec, CloseReason.PROTECTION_FAILED,  # type: ignore[arg-type]
                             failed_order="stop-loss" if "stop" in e.reason.value else "take-profit",
                             detail=str(e))
    position = await protect(trader, position, spec)  # type: ignore[arg-type]
    if position.status != PositionStatus.OPENING.value:
        return position  # flattened
    position = await update_position(trader, position.id or 0, status=PositionStatus.OPEN)
    trader.tell(messages.PositionOpened(network=trader.network, market=position.market, side=position.side,
                                        size=position.size, entry=position.entry_price, tp=position.tp_price,
                                        sl=position.sl_price))
    return position


async def close_position_for(
    trader: Trader, position: Position, reason: CloseReason, *, signal_id: int | None = None
) -> Position:
    """Flatten a live position at market and close its books (its TP/SL are cancelled).

    A position still OPENING (a resting limit entry) has its entry cancelled instead.
    """
    spec = await trader.venue.market(position.market)
    if position.status == PositionStatus.OPENING.value:
        from trading_app.services.orders import cancel_quietly

        async with session_scope() as session:
            orders = await orders_of(session, trader.user, position.id or 0)
        for order in orders:
            await cancel_quietly(trader.venue, order)
        if position.size <= 0:
            return await update_position(trader, position.id or 0, status=PositionStatus.FAILED, closed_at=utcnow())
        position = await update_position(trader, position.id or 0, status=PositionStatus.OPEN)
    if position.status in (PositionStatus.CLOSED.value, PositionStatus.FAILED.value):
        return position
    return await flatten(trader, position, spec, reason)


async def close_all(trader: Trader) -> list[Position]:
    """Close every live position of the trader on their network."""
    async with session_scope() as session:
        live = await active_positions(session, trader.user, trader.network)
    return [await close_position_for(trader, p, CloseReason.MANUAL) for p in live]


__all__ = ["close_all", "close_books", "close_position_for", "open_position", "risk_limits"]
