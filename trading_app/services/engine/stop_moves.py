"""Moving a position's stop-loss: resized after a take-profit level, to break-even, trailing.

A move never leaves the position without a stop: the new stop is recorded (a `stop_moves` row
PLACING and its order row, one transaction), sent, and only once the venue shows it on the book
(UNTRIGGERED) is the old one cancelled and `positions.sl_price` moved (MOVED). On paper that is
one monitor tick; on dYdX the new stop's transaction commits a block later, so the old stop is
cancelled at the next tick. Both stops are reduce-only: if the price reaches them in between, the
venue caps the second at what is left (nothing), so there is never a double close.

dYdX limits stateful placements per account (`Venue.order_budget`); a trailing move is optional, so
it is made only while the budget keeps room for protection that must be placed (a stop after a
fill), and is otherwise DEFERRED; a deferral that outlives `MOVE_LATE` is reported once. A move the
venue refuses is FAILED and reported; the old stop stays.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from datetime import timedelta
from decimal import Decimal

from sqlmodel import col, select

from trading_app.db.engine import session_scope
from trading_app.db.models import Order, Position, StopMove
from trading_app.domain import pnl
from trading_app.domain.clock import utcnow
from trading_app.domain.enums import OrderRole, OrderStatus, OrderType, PositionSide, Side
from trading_app.domain.ids import MAX_ATTEMPT
from trading_app.domain.quantize import slippage_bound
from trading_app.domain.scale_out import break_even_stop, min_step, trail_stop, worth_moving
from trading_app.services.engine.level_fills import book_levels
from trading_app.services.engine.order_flow import cancel_quietly, first_report, send_with_retries, settle
from trading_app.services.engine.order_rows import OrderPlan, new_row_in, ref_of
from trading_app.services.engine.scaling import Scaled, filled_levels, live_status
from trading_app.services.engine.trader import Trader, update_position
from trading_app.services.notify import stop_notices
from trading_app.services.notify.scale_messages import StopMoved, StopMoveLate
from trading_app.venues.base import MarketSpec, OrderReport
from trading_app.venues.errors import OrderRejected, VenueError

log = logging.getLogger(__name__)

MOVE_LATE = timedelta(seconds=60)  # a wanted move not made by then is reported (once)
RETRY_REFUSED = timedelta(seconds=60)  # after the venue refused a new stop, the next try waits this long
TRAIL_RESERVE = 2  # placements a trailing move leaves in the budget for a stop that must be placed
PROTECTION_TTL_SECONDS = 28 * 24 * 3600  # as protection.PROTECTION_TTL_SECONDS (re-placed before)

BREAK_EVEN, TRAIL, RESIZE = "BREAK_EVEN", "TRAIL", "RESIZE"
PLACING, MOVED, DEFERRED, FAILED = "PLACING", "MOVED", "DEFERRED", "FAILED"


@dataclass(frozen=True)
class Want:
    """Where the stop should be now and why (None: it is where it should be)."""

    price: Decimal
    size: Decimal
    reason: str


async def manage_stop(
    trader: Trader,
    position: Position,
    rows: Sequence[Order],
    live: Sequence[Order],
    exposure: Decimal,
    spec_of: Callable[[str], Awaitable[MarketSpec]],
) -> str | None:
    """One tick of a position's stop: finish a move in flight, book level fills, move if due.

    Args:
        rows: The position's order rows (synced with the venue this tick), oldest first.
        live: Its stop-loss rows that are working on the venue (or in doubt), oldest first.
        exposure: What is open of the position now.
        spec_of: The market's spec for this tick (read once per market).

    Returns:
        What was done, for the monitor's counters (None: nothing).
    """
    if len(live) > 1:
        return await _finish(trader, position, live)
    if not live:
        return None  # no stop at all: protection is placed by `protect`, not moved
    current = live[0]
    stops = [r for r in rows if r.role == OrderRole.STOP_LOSS.value]
    if stops and stops[-1].id != current.id and stops[-1].status == OrderStatus.REJECTED.value:
        await _failed(trader, position, stops[-1], current)
    if not live_status(current):
        return None  # in doubt or triggered: nothing to move it from
    scaled = Scaled.of(position)
    done = filled_levels(scaled, list(rows)) if scaled is not None else 0
    if scaled is not None and done > position.levels_done:
        position = await book_levels(trader, position, scaled, rows, done, exposure)
    want = await _wanted(trader, position, scaled, done, rows, current, exposure, spec_of)
    if want is None:
        return None
    last = await _last_move(trader, position)
    if last is not None and last.outcome == FAILED and utcnow() - last.updated_at < RETRY_REFUSED:
        return None  # refused a moment ago (and reported): not again at every tick
    if not await _room(trader, position, current, want, last):
        return "move_deferred"
    return await _place(trader, position, current, want, await spec_of(position.market))


def _tighter(side: PositionSide, candidate: Decimal, current: Decimal | None) -> bool:
    if current is None:
        return True
    return candidate > current if side is PositionSide.LONG else candidate < current


async def _wanted(
    trader: Trader,
    position: Position,
    scaled: Scaled | None,
    done: int,
    rows: Sequence[Order],
    current: Order,
    exposure: Decimal,
    spec_of: Callable[[str], Awaitable[MarketSpec]],
) -> Want | None:
    side = PositionSide(position.side)
    price = current.trigger_price
    reason = RESIZE
    if scaled is not None and scaled.plan.be_after_tp and done >= scaled.plan.be_after_tp:
        be = _break_even(side, position, rows)
        if be is not None and _tighter(side, be, price):
            price, reason = be, BREAK_EVEN
    if scaled is not None and scaled.plan.trailing and done >= (scaled.plan.trail_after_tp or 0):
        spec = await spec_of(position.market)
        mark = spec.oracle_price
        best = position.trail_best
        if best is None or _tighter(side, mark, best):  # a new best price (tighter = further in profit)
            best = mark
            await update_position(trader, position.id or 0, trail_best=best)
        candidate = trail_stop(side, best, scaled.plan, spec.tick_size)
        step = min_step(scaled.plan, mark, spec.tick_size)
        if price is not None and worth_moving(side, price, candidate, min_step=step):
            price, reason = candidate, TRAIL
    size = current.size - current.filled_size
    if price is None or (price == current.trigger_price and size == exposure):
        return None
    if reason != RESIZE:
        mark = (await spec_of(position.market)).oracle_price
        if not _tighter(side, mark, price):
            # the new stop would be at or through the price now (it fell back after the level): a
            # stop there would fire at once; the current one stays until the price is past it again
            keep = current.trigger_price
            return Want(keep, exposure, RESIZE) if keep is not None and size != exposure else None
    return Want(price, exposure, reason)


def _break_even(side: PositionSide, position: Position, rows: Sequence[Order]) -> Decimal | None:
    """Break-even from the exact entry fills and their fee rate (the exit pays the same rate)."""
    entries = [r for r in rows if r.role == OrderRole.ENTRY.value and r.filled_size > 0 and r.avg_fill_price]
    size = sum((r.filled_size for r in entries), Decimal(0))
    if not entries or size <= 0 or position.tick_size is None:
        return None
    entry = pnl.average_price((r.filled_size, r.avg_fill_price or Decimal(0)) for r in entries)
    fee = sum((r.fee for r in entries), Decimal(0))
    rate = max(fee / (entry * size), Decimal(0)) if entry > 0 else Decimal(0)
    return break_even_stop(side, entry, fee / size, rate, position.tick_size)


async def _last_move(trader: Trader, position: Position) -> StopMove | None:
    async with session_scope() as session:
        return (
            await session.exec(
                select(StopMove)
                .where(StopMove.user_address == trader.user, StopMove.position_id == position.id)
                .order_by(col(StopMove.id).desc())
                .limit(1)
            )
        ).first()


async def _room(
    trader: Trader, position: Position, current: Order, want: Want, last: StopMove | None
) -> bool:
    """Whether the venue's order budget allows the move now (a stop that covers less than what is
    open must be placed whatever the budget: the venue's own limiter then waits for room)."""
    if want.reason == RESIZE and current.size - current.filled_size < want.size:
        return True
    budget = await trader.venue.order_budget()
    if budget is None:
        return True
    reserve = TRAIL_RESERVE if want.reason == TRAIL else 0
    if budget.room >= 1 and budget.window_room >= 1 + reserve:
        return True
    why = f"order budget: {budget.window_room} placements left"
    await _deferred(trader, position, current, want, last, why)
    return False


async def _deferred(
    trader: Trader, position: Position, current: Order, want: Want, last: StopMove | None, why: str
) -> None:
    """One DEFERRED row per wanted move (not one per tick); reported once it is late."""
    now = utcnow()
    late = False
    async with session_scope() as session:
        if last is None or last.outcome != DEFERRED or last.reason != want.reason:
            session.add(_move_row(trader, position, current, want, DEFERRED, detail=why))
        else:
            last.new_price, last.updated_at = want.price, now
            late = now - last.created_at >= MOVE_LATE and not (last.detail or "").startswith("reported")
            if late:
                last.detail = f"reported: {why}"[:200]
            session.add(await session.merge(last))
    if late:
        _tell_late(trader, position, want.reason, want.price, current, why)


def _tell_late(
    trader: Trader, position: Position, reason: str, wanted: Decimal, current: Order, why: str
) -> None:
    trader.tell(
        StopMoveLate(
            network=trader.network,
            market=position.market,
            reason=reason,
            wanted_price=wanted,
            current_price=current.trigger_price,
            why=why,
            tick_size=position.tick_size,
        )
    )


def _move_row(
    trader: Trader,
    position: Position,
    current: Order,
    want: Want,
    outcome: str,
    *,
    order_id: int | None = None,
    detail: str | None = None,
) -> StopMove:
    return StopMove(
        user_address=trader.user,
        position_id=position.id or 0,
        reason=want.reason,
        old_price=current.trigger_price,
        new_price=want.price,
        size=want.size,
        outcome=outcome,
        order_id=order_id,
        detail=detail,
    )


async def _place(trader: Trader, position: Position, current: Order, want: Want, spec: MarketSpec) -> str:
    """Record and send the new stop; finish at once when the venue shows it on the book."""
    side = PositionSide(position.side)
    worst = slippage_bound(want.price, side.exit_side, max(trader.slippage_pct, Decimal(5)), spec.tick_size)
    plan = OrderPlan(
        OrderRole.STOP_LOSS,
        OrderType.STOP_MARKET,
        side.exit_side,
        want.size,
        price=worst,
        trigger_price=want.price,
        reduce_only=True,
    )
    async with session_scope() as session:
        row = await new_row_in(
            session,
            user=trader.user,
            network=trader.network,
            market=position.market,
            position_id=position.id,
            signal_id=position.signal_id or 0,
            attempt=MAX_ATTEMPT + 1,  # a repair id: a signal's own stop-loss ids are for re-placing it
            plan=plan,
        )
        session.add(row)
        await session.flush()
        session.add(_move_row(trader, position, current, want, PLACING, order_id=row.id))
    try:
        ref = await send_with_retries(
            lambda: trader.venue.place_stop_loss(
                position.market,
                side.exit_side,
                want.size,
                want.price,
                worst_price=worst,
                client_id=row.client_id,
                good_til_seconds=PROTECTION_TTL_SECONDS,
            ),
            venue=trader.network,
        )
    except OrderRejected as e:
        row = await settle(row, None, _report(row, OrderStatus.REJECTED))
        await _failed(trader, position, row, current, detail=str(e)[:200])
        return "move_failed"
    except VenueError as e:
        # maybe sent: the row stays PENDING and the monitor asks the venue about it (in doubt)
        log.warning("position %s: stop move in doubt (%s)", position.id, type(e).__name__)
        return "move_pending"
    row = await settle(row, ref, await first_report(trader.venue, ref))
    if live_status(row):
        return await _finish(trader, position, [current, row])
    return "move_pending"


def _report(row: Order, status: OrderStatus) -> OrderReport:
    return OrderReport(ref=ref_of(row), status=status, side=Side(row.side), size=row.size)


async def _finish(trader: Trader, position: Position, live: Sequence[Order]) -> str:
    """A move in flight: once the newest stop is on the book, the older ones go."""
    newest = live[-1]
    if not live_status(newest):
        return "move_pending"  # not confirmed yet: both stay (reduce-only: never a double close)
    for old in live[:-1]:
        if not await cancel_quietly(trader.venue, old):
            return "move_pending"  # the old one could not be cancelled now: next tick
    async with session_scope() as session:
        move = (
            await session.exec(
                select(StopMove).where(StopMove.user_address == trader.user, StopMove.order_id == newest.id)
            )
        ).first()
        if move is not None:
            move.outcome, move.updated_at = MOVED, utcnow()
            session.add(move)
    await update_position(trader, position.id or 0, sl_price=newest.trigger_price)
    reason = move.reason if move is not None else RESIZE
    if reason != RESIZE and stop_notices.should_tell(reason, trader.user, position.id or 0, utcnow()):
        trader.tell(
            StopMoved(
                network=trader.network,
                market=position.market,
                side=position.side,
                reason=reason,
                old_price=live[-2].trigger_price,
                new_price=newest.trigger_price or Decimal(0),
                size=newest.size,
                tick_size=position.tick_size,
                step_size=position.step_size,
                moves=stop_notices.moves(trader.user, position.id or 0),
            )
        )
    return "stop_moved"


async def _failed(trader: Trader, position: Position, row: Order, current: Order, detail: str = "") -> None:
    """The venue refused the new stop: the move is FAILED (once) and the trader told; the old stays."""
    async with session_scope() as session:
        move = (
            await session.exec(
                select(StopMove).where(
                    StopMove.user_address == trader.user,
                    StopMove.order_id == row.id,
                    StopMove.outcome == PLACING,
                )
            )
        ).first()
        if move is None:
            return
        move.outcome, move.updated_at = FAILED, utcnow()
        move.detail = (detail or "the venue refused the new stop")[:200]
        session.add(move)
    _tell_late(trader, position, move.reason, move.new_price, current, move.detail)


__all__ = ["MOVE_LATE", "TRAIL_RESERVE", "manage_stop"]
