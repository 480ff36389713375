"""Open a protected position for a signal, and close one: the trading engine's two moves."""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import UTC, datetime
from decimal import Decimal

from sqlalchemy.exc import IntegrityError
from sqlmodel.ext.asyncio.session import AsyncSession

from trading_app.db.engine import session_scope
from trading_app.db.models import ACTIVE_POSITION_STATUSES, Order, Position, Signal, TradingAccount
from trading_app.db.trading import active_positions, orders_of, positions_for_execution
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
from trading_app.domain.errors import RejectReason, RiskRejected
from trading_app.domain.intents import AccountFacts, Intent, RiskLimits
from trading_app.domain.lifecycle import ORDER, is_terminal
from trading_app.domain.risk import build_intent, validate_protection
from trading_app.domain.signals import ParsedSignal
from trading_app.services.engine.entry_order import follow_entry, send_entry
from trading_app.services.engine.order_flow import OrderPlan, new_row, settle_in
from trading_app.services.engine.protection import flatten, protect
from trading_app.services.engine.trader import Finish, Trader, change_position_in, update_position
from trading_app.services.notify import messages
from trading_app.venues.base import MarketSpec, OrderRef, OrderReport

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


@dataclass(frozen=True)
class StoredFacts:
    """What the database says about the trader's exposure (the venue adds the equity)."""

    open_positions: int
    realized_pnl_today: Decimal
    open_notional_usd: Decimal


def start_of_day() -> datetime:
    """Midnight UTC today: the daily loss limit counts from here."""
    return datetime.now(UTC).replace(hour=0, minute=0, second=0, microsecond=0)


def stored_facts(rows: list[Position], network: str, since: datetime) -> StoredFacts:
    """Facts from `positions_for_execution` rows (other rows in the list are ignored)."""
    mine = [p for p in rows if p.network == network]
    live = [p for p in mine if p.status in ACTIVE_POSITION_STATUSES]
    today = [p.realized_pnl for p in mine
             if p.closed_at is not None and p.closed_at >= since and p.realized_pnl is not None]
    return StoredFacts(
        open_positions=len(live), realized_pnl_today=sum(today, Decimal(0)),
        open_notional_usd=sum((p.size * (p.entry_price or Decimal(0)) for p in live), Decimal(0)),
    )


async def _account_facts(trader: Trader, stored: StoredFacts | None) -> AccountFacts:
    snapshot = await trader.venue.account()
    if stored is None:
        since = start_of_day()
        async with session_scope() as session:
            rows = await positions_for_execution(session, trader.user, trader.network, None, since)
        stored = stored_facts(rows, trader.network, since)
    return AccountFacts(equity=snapshot.equity, open_positions=stored.open_positions,
                        realized_pnl_today=stored.realized_pnl_today,
                        open_notional_usd=stored.open_notional_usd)


async def open_position(
    trader: Trader, signal: Signal, parsed: ParsedSignal, *, side: PositionSide | None = None,
    resume: Position | None = None, stored: StoredFacts | None = None, finish: Finish | None = None,
) -> Position:
    """Open (or continue opening) the position of `signal`: entry, then SL, then TP.

    The position and its entry order are committed in one transaction before the entry is
    sent. `stored` are facts the caller read in this execution (else they are read here);
    `finish` joins the transaction that marks the position OPEN.

    Raises:
        RiskRejected: the entry was refused before anything was sent.
        VenueError: the venue failed before the entry filled (nothing is left open).
    """
    spec = await trader.venue.market(parsed.market)
    if resume is None:
        facts = await _account_facts(trader, stored)
        intent = build_intent(parsed, spec, risk_limits(trader.account), facts, side=side)
        plan = OrderPlan(OrderRole.ENTRY, intent.order_type, intent.entry_side, intent.size,
                         price=intent.limit_price if intent.order_type is OrderType.LIMIT else intent.worst_price)
        try:
            position, entry = await _insert_opening(trader, signal, intent, plan)
        except IntegrityError:
            # another signal opened this market at the same moment: the unique index decided
            raise RiskRejected(RejectReason.POSITION_EXISTS,
                               f"a {intent.market} position is already open") from None
        return await _after_entry(trader, position, plan, spec, entry, finish, known_new=True)
    position = resume
    if position.status != PositionStatus.OPENING.value:
        return position  # already past the entry: nothing left for the signal to do
    async with session_scope() as session:
        entry = next(o for o in await orders_of(session, trader.user, position.id or 0)
                     if o.role == OrderRole.ENTRY.value)
    plan = OrderPlan(OrderRole.ENTRY, OrderType(entry.order_type), PositionSide(position.side).entry_side,
                     entry.size, price=entry.price)
    return await _after_entry(trader, position, plan, spec, entry, finish, known_new=False)


async def _insert_opening(
    trader: Trader, signal: Signal, intent: Intent, plan: OrderPlan
) -> tuple[Position, Order]:
    """The OPENING position and its entry row, committed together before the entry is sent."""
    async with session_scope() as session:
        position = Position(
            user_address=trader.user, signal_id=signal.id, network=trader.network, market=intent.market,
            side=intent.side.value, size=Decimal(0), tp_price=intent.take_profit, sl_price=intent.stop_loss,
            status=PositionStatus.OPENING.value,
        )
        session.add(position)
        await session.flush()  # the entry row needs the position's id
        entry = new_row(user=trader.user, network=trader.network, market=intent.market,
                        position_id=position.id, signal_id=signal.id or 0, attempt=0, plan=plan)
        session.add(entry)
    return position, entry


async def _after_entry(
    trader: Trader, position: Position, plan: OrderPlan, spec: MarketSpec, entry: Order,
    finish: Finish | None, *, known_new: bool,
) -> Position:
    row, ref, report = await send_entry(trader, position, plan, entry)
    if report is not None and is_terminal(ORDER, report.status.value):
        # the venue already answered: its answer is committed with the next step
        pending: tuple[OrderRef | None, OrderReport] | None = (ref, report)
        filled, avg, fee = report.filled, report.avg_fill_price, report.fee
    else:
        row = await follow_entry(trader, row, plan, ref, report)
        if not is_terminal(ORDER, row.status) and row.status != OrderStatus.PARTIALLY_FILLED.value:
            return position  # a resting limit entry: the monitor protects it when it fills
        pending, filled, avg, fee = None, row.filled_size, row.avg_fill_price, row.fee
    pid = position.id or 0

    async def entry_done(session: AsyncSession) -> None:
        if pending is not None:
            await settle_in(session, row, ref=pending[0], report=pending[1])

    if filled <= 0:
        async with session_scope() as session:
            await entry_done(session)
            return await change_position_in(session, trader, pid, expect=position.status,
                                            status=PositionStatus.FAILED, closed_at=utcnow())
    fill_price = avg or spec.oracle_price
    sized: dict[str, object] = {"size": filled, "entry_price": fill_price, "fees": fee}
    try:  # the fill may have slipped past a protection level: then it cannot be placed as asked
        validate_protection(PositionSide(position.side), fill_price, position.sl_price, position.tp_price)
    except RiskRejected as e:
        async with session_scope() as session:
            await entry_done(session)
            position = await change_position_in(session, trader, pid, **sized)
        return await flatten(trader, position, spec, CloseReason.PROTECTION_FAILED,
                             failed_order="stop-loss" if "stop" in e.reason.value else "take-profit",
                             detail=str(e))

    async def before(session: AsyncSession) -> Position:
        # the entry's fill and the position's size are committed with the SL/TP rows
        await entry_done(session)
        return await change_position_in(session, trader, pid, **sized)

    async def after(session: AsyncSession) -> Position:
        opened = await change_position_in(session, trader, pid, expect=PositionStatus.OPENING.value,
                                          status=PositionStatus.OPEN)
        if finish is not None:
            await finish(session, opened)
        return opened

    position = await protect(trader, position, spec, before=before, after=after, known_new=known_new)
    if position.status != PositionStatus.OPEN.value:
        return position  # flattened
    trader.tell(messages.PositionOpened(network=trader.network, market=position.market, side=position.side,
                                        size=position.size, entry=position.entry_price, tp=position.tp_price,
                                        sl=position.sl_price))
    return position


async def close_position_for(
    trader: Trader, position: Position, reason: CloseReason, *, signal_id: int | None = None,
    finish: Finish | None = None,
) -> Position:
    """Flatten a live position at market and close its books (its TP/SL are cancelled).

    A position still OPENING (a resting limit entry) has its entry cancelled instead.
    `finish` joins the transaction that closes the books.
    """
    spec = await trader.venue.market(position.market)
    if position.status == PositionStatus.OPENING.value:
        from trading_app.services.engine.order_flow import cancel_quietly

        async with session_scope() as session:
            orders = await orders_of(session, trader.user, position.id or 0)
        for order in orders:
            await cancel_quietly(trader.venue, order)
        if position.size <= 0:
            return await update_position(trader, position.id or 0, status=PositionStatus.FAILED, closed_at=utcnow())
        position = await update_position(trader, position.id or 0, status=PositionStatus.OPEN)
    if position.status in (PositionStatus.CLOSED.value, PositionStatus.FAILED.value):
        return position
    return await flatten(trader, position, spec, reason, finish=finish)


async def close_all(trader: Trader) -> list[Position]:
    """Close every live position of the trader on their network."""
    async with session_scope() as session:
        live = await active_positions(session, trader.user, trader.network)
    return [await close_position_for(trader, p, CloseReason.MANUAL) for p in live]


__all__ = ["StoredFacts", "close_all", "close_position_for", "open_position", "risk_limits",
           "start_of_day", "stored_facts"]
