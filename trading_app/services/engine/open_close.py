"""Open a protected position for a signal, and close one: the trading engine's two moves."""

from __future__ import annotations

import logging
from decimal import Decimal

from sqlalchemy.exc import IntegrityError

from trading_app.db.core_batches import insert_linked, one_statement_links
from trading_app.db.engine import autocommit_scope, session_scope
from trading_app.db.models import Order, Position, Signal
from trading_app.db.trading import orders_of
from trading_app.domain.clock import utcnow
from trading_app.domain.enums import (
    CloseReason,
    OrderRole,
    OrderStatus,
    OrderType,
    PositionSide,
    PositionStatus,
)
from trading_app.domain.errors import RejectReason, RiskRejected
from trading_app.domain.intents import Intent, LevelPlan
from trading_app.domain.levels import levels_from_fill, stored_plan
from trading_app.domain.lifecycle import ORDER, is_terminal
from trading_app.domain.quantize import on_grid_nearest
from trading_app.domain.risk import build_intent, validate_protection
from trading_app.domain.scale_out import ScalePlan, stored_scale_plan
from trading_app.domain.signals import ParsedSignal
from trading_app.domain.story import Phase
from trading_app.services.engine.claims import cancel_executed_in, cancelled_reason
from trading_app.services.engine.closing import flatten
from trading_app.services.engine.entry_facts import (
    StoredFacts,
    account_facts,
    check_order_room,
    risk_limits,
    sizing,
)
from trading_app.services.engine.entry_order import EntryInDoubt, follow_entry, send_entry
from trading_app.services.engine.order_flow import (
    apply_report,
    cancel_and_report,
    differs_from,
    wait_until_done,
)
from trading_app.services.engine.order_rows import OrderPlan, is_sent, new_row
from trading_app.services.engine.outcomes import SignalEnd
from trading_app.services.engine.protection import Opening, protect
from trading_app.services.engine.scaling import fix_levels
from trading_app.services.engine.trader import Trader, change_position_in
from trading_app.services.notify import messages
from trading_app.venues.base import MarketSpec

log = logging.getLogger(__name__)

# a position in one of these is done: nothing is left to close
FINISHED = (PositionStatus.CLOSED.value, PositionStatus.FAILED.value, PositionStatus.CANCELLED.value)


async def open_position(
    trader: Trader,
    signal: Signal,
    parsed: ParsedSignal,
    *,
    side: PositionSide | None = None,
    resume: Position | None = None,
    stored: StoredFacts | None = None,
    end: SignalEnd | None = None,
) -> Position:
    """Open (or continue opening) the position of `signal`: entry, then SL, then TP.

    The position and its entry order are committed in one transaction before the entry is
    sent. `stored` are facts the caller read in this execution (else they are read here);
    `end` joins the transaction that settles the position (OPEN, or FAILED when the entry did
    not fill).

    Raises:
        RiskRejected: the entry was refused before anything was sent.
        EntryInDoubt: the venue has not settled a market entry yet (nothing is decided).
        VenueError: the venue failed before the entry was sent (nothing is left open).
    """
    spec = await trader.venue.market(parsed.market)
    if resume is None:
        facts = await account_facts(trader, stored)
        limits = risk_limits(trader.account)
        trader.timeline.facts = {"equity": facts.equity}
        intent = build_intent(parsed, spec, limits, facts, side=side)
        if intent.scale.managed:
            await check_order_room(trader, intent.scale)
        trader.mark(signal.id, Phase.RISK_PASSED, sizing(parsed, limits, facts, intent, spec))
        plan = OrderPlan(
            OrderRole.ENTRY,
            intent.order_type,
            intent.entry_side,
            intent.size,
            price=intent.limit_price if intent.order_type is OrderType.LIMIT else intent.worst_price,
        )
        try:
            position, entry = await _insert_opening(trader, signal, intent, plan, spec)
        except IntegrityError:
            # another signal opened this market at the same moment: the unique index decided
            raise RiskRejected(
                RejectReason.POSITION_EXISTS, f"a {intent.market} position is already open"
            ) from None
        scale = stored_scale_plan(signal.parsed)
        return await _after_entry(
            trader, position, plan, spec, entry, end, (intent.levels, scale), known_new=True
        )
    position = resume
    if position.status != PositionStatus.OPENING.value:
        return position  # already past the entry: nothing left for the signal to do
    entry = await _entry_of(trader, position)
    plan = OrderPlan(
        OrderRole.ENTRY,
        OrderType(entry.order_type),
        PositionSide(position.side).entry_side,
        entry.size,
        price=entry.price,
    )
    # the stored alert says how its levels were given (the account's default stop as of now)
    levels = stored_plan(signal.parsed, risk_limits(trader.account).default_sl_pct)
    scale = stored_scale_plan(signal.parsed)
    return await _after_entry(trader, position, plan, spec, entry, end, (levels, scale), known_new=False)


async def _entry_of(trader: Trader, position: Position) -> Order:
    async with session_scope() as session:
        return next(
            o
            for o in await orders_of(session, trader.user, position.id or 0)
            if o.role == OrderRole.ENTRY.value
        )


async def _insert_opening(
    trader: Trader, signal: Signal, intent: Intent, plan: OrderPlan, spec: MarketSpec
) -> tuple[Position, Order]:
    """The OPENING position and its entry row, committed together before the entry is sent (on
    PostgreSQL one statement that commits by itself: no BEGIN and COMMIT round trips)."""
    async with autocommit_scope() if one_statement_links() else session_scope() as session:
        position = Position(
            user_address=trader.user,
            signal_id=signal.id,
            network=trader.network,
            market=intent.market,
            side=intent.side.value,
            size=Decimal(0),
            tp_price=intent.take_profit,
            sl_price=intent.stop_loss,
            status=PositionStatus.OPENING.value,
            tick_size=spec.tick_size,
            step_size=spec.step_size,
        )
        entry = new_row(
            user=trader.user,
            network=trader.network,
            market=intent.market,
            position_id=None,  # the position's id, set by the insert
            signal_id=signal.id or 0,
            attempt=0,
            plan=plan,
        )
        await insert_linked(session, position, entry, "position_id")
    return position, entry


async def _after_entry(
    trader: Trader,
    position: Position,
    plan: OrderPlan,
    spec: MarketSpec,
    entry: Order,
    end: SignalEnd | None,
    plans: tuple[LevelPlan, ScalePlan],
    *,
    known_new: bool,
) -> Position:
    levels, scale = plans
    row, ref, report = await send_entry(trader, position, plan, entry)
    opening = Opening(entry=row, end=end)
    if report is not None and is_terminal(ORDER, report.status.value):
        # the venue already answered: its answer is committed with the next step
        opening.entry_ref, opening.entry_report = ref, report
        filled, avg, fee = report.filled, report.avg_fill_price, report.fee
    else:
        row = await follow_entry(trader, row, plan, ref, report)
        opening.entry = row
        if not is_terminal(ORDER, row.status) and row.status != OrderStatus.PARTIALLY_FILLED.value:
            return position  # a resting limit entry: the monitor protects it when it fills
        filled, avg, fee = row.filled_size, row.avg_fill_price, row.fee
    if filled <= 0:
        return await _entry_failed(trader, position, opening)
    # the average of several fills is stored on the tick (the books use the exact fills)
    fill_price = on_grid_nearest(avg or spec.oracle_price, position.tick_size or spec.tick_size)
    opening.sized = {"size": filled, "entry_price": fill_price, "fees": fee}
    trader.mark(position.signal_id, Phase.FILLED, {"size": filled, "price": fill_price, "fee": fee})
    side = PositionSide(position.side)
    try:  # the fill may have slipped past a protection level: then it cannot be placed as asked
        # percent and reward:risk levels are measured from the fill, absolute ones stay
        sl, tp = levels_from_fill(
            side, fill_price, spec.tick_size, levels, (position.sl_price, position.tp_price)
        )
        opening.sized.update(sl_price=sl, tp_price=tp)
        if scale.managed:  # several targets, a break-even or a trailing stop: fixed at the fill
            scaled = fix_levels(scale, side, fill_price, filled, sl, spec.tick_size, spec.step_size)
            tp = scaled.prices[0] if scaled.prices else tp
            opening.sized.update(tp_price=tp, scale_plan=scaled.to_json())
            if scale.trailing and not scale.trail_after_tp:
                opening.sized["trail_best"] = fill_price  # trailing from the start: from the fill
        validate_protection(side, fill_price, sl, tp, spec.tick_size)
    except RiskRejected as e:
        async with session_scope() as session:
            position = await opening.record_in(session, trader, position)
        return await flatten(
            trader,
            position,
            spec,
            CloseReason.PROTECTION_FAILED,
            failed_order="stop-loss" if "stop" in e.reason.value else "take-profit",
            detail=str(e),
            end=end,
        )
    position = await protect(trader, position, spec, opening=opening, known_new=known_new)
    if position.status != PositionStatus.OPEN.value:
        return position  # flattened
    trader.tell(
        messages.PositionOpened(
            network=trader.network,
            market=position.market,
            side=position.side,
            size=position.size,
            entry=position.entry_price,
            tp=position.tp_price,
            sl=position.sl_price,
            tick=position.tick_size or spec.tick_size,
            step=position.step_size or spec.step_size,
        )
    )
    return position


def unfilled_end(entry: Order, cancelled_by: CloseReason | None = None) -> tuple[PositionStatus, str | None]:
    """How an OPENING position whose entry ended without any fill ends: (status, close reason).

    A limit entry cancelled by us (`cancelled_by`: the trader, a close or reverse alert), or that
    was on the book and then cancelled on the venue (EXTERNAL) or expired (EXPIRED), is CANCELLED.
    Anything else (refused by the venue, a market entry without liquidity, never sent) FAILED.
    """
    if entry.order_type != OrderType.LIMIT.value:
        return PositionStatus.FAILED, None
    if cancelled_by is not None:
        return PositionStatus.CANCELLED, cancelled_by.value
    if is_sent(entry) and entry.status == OrderStatus.CANCELED.value:
        return PositionStatus.CANCELLED, CloseReason.EXTERNAL.value
    if is_sent(entry) and entry.status == OrderStatus.EXPIRED.value:
        return PositionStatus.CANCELLED, CloseReason.EXPIRED.value
    return PositionStatus.FAILED, None


async def _entry_failed(
    trader: Trader, position: Position, opening: Opening, cancelled_by: CloseReason | None = None
) -> Position:
    """The venue settled the entry without a fill: the position never opened (one commit with the
    entry's final state and the signal's end). A cancelled resting entry also marks the alert
    that opened it CANCELLED when it was already EXECUTED."""
    status, reason = unfilled_end(opening.entry, cancelled_by)
    async with session_scope() as session:
        await opening.record_in(session, trader, position)
        failed = await change_position_in(
            session,
            trader,
            position.id or 0,
            expect=position.status,
            status=status,
            closed_at=utcnow(),
            close_reason=reason,
        )
        if failed.status == PositionStatus.CANCELLED.value and position.signal_id is not None:
            why = cancelled_reason(reason)
            await cancel_executed_in(session, trader.user, position.signal_id, why, position.id)
        if opening.end is not None:
            await opening.end.commit_in(session, failed)
    if failed.status == PositionStatus.CANCELLED.value and cancelled_by is None:
        # nobody asked: the exchange cancelled it or it expired, so the trader is told
        trader.tell(
            messages.EntryCancelled(
                network=trader.network,
                market=failed.market,
                side=failed.side,
                size=opening.entry.size,
                limit_price=opening.entry.price,
                expired=failed.close_reason == CloseReason.EXPIRED.value,
                tick_size=failed.tick_size,
                step_size=failed.step_size,
            )
        )
    return failed


async def close_position_for(
    trader: Trader,
    position: Position,
    reason: CloseReason,
    *,
    end: SignalEnd | None = None,
) -> Position:
    """Flatten a live position at market and close its books (its TP/SL are cancelled).

    A position still OPENING (a resting limit entry) has its entry cancelled first; whatever the
    venue then says the entry filled is flattened (nothing filled: the position never opened).
    `end` joins the transaction that settles the position.

    Raises:
        EntryInDoubt: the entry's outcome is not settled by the venue yet (nothing is decided).
    """
    spec = await trader.venue.market(position.market)
    if position.status == PositionStatus.OPENING.value:
        entry = await _cancelled_entry(trader, position)
        if entry.filled_size <= 0:
            return await _entry_failed(trader, position, Opening(entry=entry, end=end), reason)
        async with session_scope() as session:  # flattened at once below: no protection placed first
            position = await change_position_in(
                session,
                trader,
                position.id or 0,
                expect=position.status,
                status=PositionStatus.OPEN,
                size=entry.filled_size,
                entry_price=on_grid_nearest(
                    entry.avg_fill_price or spec.oracle_price, position.tick_size or spec.tick_size
                ),
                fees=entry.fee,
            )
    if position.status in FINISHED:
        return position
    return await flatten(trader, position, spec, reason, end=end)


async def cancel_entry(trader: Trader, position: Position, reason: CloseReason) -> Position:
    """Cancel the resting entry of an OPENING position, and settle the position from what filled.

    Nothing filled: CANCELLED with `reason` (and its alert, if EXECUTED, CANCELLED too). Part of
    it filled before the cancel: that part is a position like any other, protected by its
    stop-loss and take-profit and OPEN (never left naked), through the executor's own path.

    Raises:
        EntryInDoubt: the venue has not settled the entry yet (nothing is decided).
    """
    entry = await _cancelled_entry(trader, position)
    if entry.filled_size <= 0:
        return await _entry_failed(trader, position, Opening(entry=entry), reason)
    spec = await trader.venue.market(position.market)
    plan = OrderPlan(
        OrderRole.ENTRY,
        OrderType(entry.order_type),
        PositionSide(position.side).entry_side,
        entry.size,
        price=entry.price,
    )
    parsed = await _parsed_of(trader, position)
    levels = stored_plan(parsed, risk_limits(trader.account).default_sl_pct)
    plans = (levels, stored_scale_plan(parsed))
    return await _after_entry(trader, position, plan, spec, entry, None, plans, known_new=False)


async def _parsed_of(trader: Trader, position: Position) -> str | None:
    """The stored parsed alert that opened `position` (how its levels were given), or None."""
    if position.signal_id is None:
        return None
    async with session_scope() as session:
        signal = await session.get(Signal, position.signal_id)
    return signal.parsed if signal is not None and signal.user_address == trader.user else None


async def _cancelled_entry(trader: Trader, position: Position) -> Order:
    """The entry of an OPENING position, cancelled and followed until the venue settles it."""
    entry = await _entry_of(trader, position)
    _, report = await cancel_and_report(trader.venue, entry)
    if report is not None and differs_from(entry, report):
        entry = await apply_report(entry, report)
    entry = await wait_until_done(trader.venue, entry, keep=trader.keep_claim)
    if not is_terminal(ORDER, entry.status):
        raise EntryInDoubt(
            f"the entry of position {position.id} is not settled by the venue yet", position.id
        )
    return entry


__all__ = [
    "FINISHED",
    "cancel_entry",
    "close_position_for",
    "open_position",
    "unfilled_end",
]
