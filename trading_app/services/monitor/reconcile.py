"""One position brought in line with its venue: the decisions the monitor makes every tick.

Input is the account's one batched venue read (`AccountState`) and our order rows, already
synced with it. Everything that acts goes through the engine's own moves (`protection.protect`,
`flatten`, `close_books`, `open_close.open_position`), so a decision taken twice (a retry, a new
owner after a crash) re-sends the same client ids instead of placing new orders.

Decisions, per position:
- our stop-loss / take-profit (or close) fills cover the size -> books closed with their exit
  price and fees, leftovers cancelled, the trader told (TAKE_PROFIT / STOP_LOSS);
- the venue has no such position and other fills (by hand, liquidation) closed it -> books closed
  from those fills (EXTERNAL / LIQUIDATED); with no fill to show for it nothing is closed: an
  indexer that answers "no position" by mistake must never cost a position its stop-loss;
- protection missing (cancelled, expired, never sent) -> re-placed; sized differently from what
  is open (a partial fill, a partial external reduce, an entry that kept filling) -> cancelled
  and re-placed at the open size; a stop-loss that cannot be placed -> flattened;
- a resting entry that filled -> protected and OPEN (the executor's own resume path);
- FAILED_PROTECTION / CLOSING left by a closer that gave up or died -> flatten retried.
A position some other task is working on right now (an executing signal, a close in flight) is
left alone until its grace period passes.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from decimal import Decimal

from sqlmodel import select

from trading_app.db.engine import session_scope
from trading_app.db.models import Order, Position, Signal
from trading_app.domain import pnl
from trading_app.domain.clock import utcnow
from trading_app.domain.enums import (
    CloseReason,
    OrderRole,
    OrderStatus,
    OrderType,
    PositionSide,
    PositionStatus,
    SignalAction,
    SignalStatus,
)
from trading_app.domain.ids import MAX_ATTEMPT
from trading_app.domain.lifecycle import ORDER, is_terminal
from trading_app.domain.quantize import on_grid_nearest
from trading_app.domain.signals import ParsedSignal
from trading_app.services.engine.closing import close_books, flatten
from trading_app.services.engine.entry_order import EntryInDoubt
from trading_app.services.engine.open_close import open_position
from trading_app.services.engine.order_flow import FILL_WAIT_SECONDS, cancel_quietly
from trading_app.services.engine.order_rows import is_sent
from trading_app.services.engine.protection import protect
from trading_app.services.engine.scaling import Scaled, level_left
from trading_app.services.engine.stop_moves import manage_stop
from trading_app.services.engine.trader import Trader, update_position
from trading_app.services.notify import messages
from trading_app.venues.base import AccountState, Fill, MarketSpec, VenuePosition

log = logging.getLogger(__name__)

CLOSER_GRACE = timedelta(seconds=FILL_WAIT_SECONDS + 5)  # a flatten waits this long for its fill
CLOCK_SKEW = timedelta(seconds=5)  # venue fill times vs our clock
LIQUIDATION_FILLS = frozenset({"LIQUIDATED", "LIQUIDATION", "DELEVERAGED", "OFFSETTING"})
LIVE = frozenset({OrderStatus.OPEN.value, OrderStatus.UNTRIGGERED.value, OrderStatus.PARTIALLY_FILLED.value})
EXIT_ROLES = frozenset({OrderRole.STOP_LOSS.value, OrderRole.TAKE_PROFIT.value, OrderRole.CLOSE.value})


@dataclass
class View:
    """One account at one tick: the trader, the venue's batched read, and a market-spec cache."""

    trader: Trader
    state: AccountState
    now: datetime = field(default_factory=utcnow)
    specs: dict[str, MarketSpec] = field(default_factory=dict)

    def held(self, position: Position) -> VenuePosition | None:
        """The venue's position in the market if it is on our side."""
        found = self.state.account.positions.get(position.market)
        if found is None or found.size <= 0 or found.side.value != position.side:
            return None
        return found

    async def spec(self, market: str) -> MarketSpec:
        if market not in self.specs:
            self.specs[market] = await self.trader.venue.market(market)
        return self.specs[market]


def _latest(rows: Sequence[Order], role: OrderRole) -> Order | None:
    mine = [r for r in rows if r.role == role.value]
    return mine[-1] if mine else None


def working(row: Order | None, now: datetime, pending_grace: timedelta) -> bool:
    """Live on the venue, or committed so recently that its sender may still be at it."""
    if row is None:
        return False
    if row.status == OrderStatus.PENDING.value:
        # sent and in doubt (the venue has not settled it): working until the venue says otherwise
        return is_sent(row) or now - row.updated_at < pending_grace
    return row.status in LIVE


def _missing(role: OrderRole, rows: Sequence[Order], now: datetime, pending_grace: timedelta) -> bool:
    """Whether the monitor should (re-)place this protection.

    A stop-loss always: if the venue refuses it again, protect() flattens (and past the signal's
    own ids it takes repair ids: a position is never left without one). A take-profit once it had
    been working and was removed (cancelled, expired, part-filled), or was accepted and then
    refused in the block (a dropped stop-loss before it broke its sequence), within the signal's
    own ids: one the venue refused when it was sent stays refused, or every tick would send it and
    tell the trader again.
    """
    row = _latest(rows, role)
    if working(row, now, pending_grace):
        return False
    if role is OrderRole.STOP_LOSS:
        return True
    if row is not None and row.status == OrderStatus.PENDING.value:
        return True  # it never reached the venue (the venue said so): sent again under its own id
    if row is None or len([r for r in rows if r.role == role.value]) > MAX_ATTEMPT:
        return False
    refused_in_block = row.status == OrderStatus.REJECTED.value and bool(row.tx_hash)
    return refused_in_block or row.status in (OrderStatus.CANCELED.value, OrderStatus.EXPIRED.value)


def _sized(position: Position, size: Decimal) -> Position:
    # a detached copy for the engine's moves, sized to what is really open
    return Position.model_validate({**position.model_dump(), "size": size})


async def reconcile_position(
    view: View, position: Position, rows: Sequence[Order], signal: Signal | None, *, pending_grace: timedelta
) -> str | None:
    """Bring one live position in line with the venue; returns what was done (None: nothing)."""
    status = PositionStatus(position.status)
    if status is PositionStatus.OPENING:
        return await _opening(view, position, rows, signal, pending_grace)
    if _closer_at_work(view, position):
        return None  # its closer is still waiting for the fill
    filled = filled_close(view, position, rows)
    if filled is not None:
        await close_books(view.trader, position, filled.reason, exit_orders=filled.exits)
        return filled.outcome
    exits = [r for r in rows if r.role in EXIT_ROLES and r.filled_size > 0]
    remaining = position.size - sum((r.filled_size for r in exits), Decimal(0))
    held = view.held(position)
    if held is None:
        return await _gone(view, position, exits, remaining)
    exposure = min(remaining, held.size)
    if status is not PositionStatus.OPEN:  # FAILED_PROTECTION or CLOSING whose closer gave up
        reason = (
            CloseReason.PROTECTION_FAILED
            if status is PositionStatus.FAILED_PROTECTION
            else CloseReason.MANUAL
        )
        done = await flatten(view.trader, position, await view.spec(position.market), reason)
        return "flattened" if done.status == PositionStatus.CLOSED.value else "closing"
    return await _protect(view, position, rows, exposure, pending_grace)


@dataclass
class FilledClose:
    """A position its own exit orders (SL, TP, closes) filled in full: its books are to be closed."""

    position: Position
    reason: CloseReason
    exits: list[Order]  # its exit rows with fills
    rows: list[Order]  # all its rows, as the tick synced them

    @property
    def outcome(self) -> str:
        return self.reason.value.lower()


def _closer_at_work(view: View, position: Position) -> bool:
    return position.status in (PositionStatus.CLOSING.value, PositionStatus.FAILED_PROTECTION.value) and (
        view.now - position.updated_at < CLOSER_GRACE
    )


def filled_close(view: View, position: Position, rows: Sequence[Order]) -> FilledClose | None:
    """The first decision of `reconcile_position`, alone: whether the position's exit fills cover its
    size (then its books are closed from them, and nothing else is done for it this tick).

    None for an OPENING position, one whose closer is still at work, or one with size left open.
    """
    status = PositionStatus(position.status)
    if status is PositionStatus.OPENING or _closer_at_work(view, position):
        return None
    exits = [r for r in rows if r.role in EXIT_ROLES and r.filled_size > 0]
    if position.size - sum((r.filled_size for r in exits), Decimal(0)) > 0:
        return None
    return FilledClose(position, _exit_reason(status, exits), exits, list(rows))


def _exit_reason(status: PositionStatus, exits: Sequence[Order]) -> CloseReason:
    if status is PositionStatus.FAILED_PROTECTION:
        return CloseReason.PROTECTION_FAILED
    if any(r.role == OrderRole.CLOSE.value for r in exits):
        return CloseReason.MANUAL  # a close we sent and whose closer did not finish the books
    last = max(exits, key=lambda r: (r.updated_at, r.id or 0))
    return CloseReason.TAKE_PROFIT if last.role == OrderRole.TAKE_PROFIT.value else CloseReason.STOP_LOSS


async def _opening(
    view: View, position: Position, rows: Sequence[Order], signal: Signal | None, pending_grace: timedelta
) -> str | None:
    if signal is not None and signal.status == SignalStatus.EXECUTING.value:
        return None  # its signal is still executing (or in doubt): the executor and the sweep own it
    entry = _latest(rows, OrderRole.ENTRY)
    if signal is None or entry is None:
        return None  # nothing to resume from
    never_reached = entry.status == OrderStatus.PENDING.value and not working(entry, view.now, pending_grace)
    if entry.filled_size <= 0 and not is_terminal(ORDER, entry.status) and not never_reached:
        return None  # a limit entry still resting unfilled (or in doubt)
    action = SignalAction.LONG if position.side == PositionSide.LONG.value else SignalAction.SHORT
    try:
        after = await open_position(
            view.trader, signal, ParsedSignal(action=action, market=position.market), resume=position
        )
    except EntryInDoubt:
        return "in_doubt"
    return {
        PositionStatus.OPEN.value: "opened",
        PositionStatus.FAILED.value: "entry_failed",
        PositionStatus.CANCELLED.value: "entry_cancelled",
    }.get(after.status, "flattened")


async def _protect(
    view: View, position: Position, rows: Sequence[Order], exposure: Decimal, pending_grace: timedelta
) -> str | None:
    entered = sum((r.filled_size for r in rows if r.role == OrderRole.ENTRY.value), Decimal(0))
    if entered > position.size:  # a resting entry kept filling after the position opened
        position = await _grow(view.trader, position, rows)
        held = view.held(position)
        exits = sum((r.filled_size for r in rows if r.role in EXIT_ROLES), Decimal(0))
        exposure = min(position.size - exits, held.size if held else exposure)
    stops = [r for r in rows if r.role == OrderRole.STOP_LOSS.value]
    live_stops = [r for r in stops if working(r, view.now, pending_grace)]
    scaled = Scaled.of(position)
    missing = []
    if (
        position.sl_price is not None
        and not live_stops
        and _missing(OrderRole.STOP_LOSS, rows, view.now, pending_grace)
    ):
        missing.append(OrderRole.STOP_LOSS)
    stale: list[Order] = []
    if scaled is not None and scaled.multi:
        # each level is its own order; one the venue removed before it filled is placed again
        for level in range(1, scaled.levels + 1):
            mine = [r for r in rows if r.role == OrderRole.TAKE_PROFIT.value and r.level == level]
            if level_left(list(rows), level, scaled.sizes[level - 1]) > 0 and (
                not mine or _missing(OrderRole.TAKE_PROFIT, mine, view.now, pending_grace)
            ):
                missing.append(OrderRole.TAKE_PROFIT)
    else:
        tp = _latest(rows, OrderRole.TAKE_PROFIT)
        if position.tp_price is not None and _missing(OrderRole.TAKE_PROFIT, rows, view.now, pending_grace):
            missing.append(OrderRole.TAKE_PROFIT)
        # only an untriggered one: a triggered order is executing and settles by itself. The stop is
        # resized by moving it (`manage_stop`: the new one first), never by cancelling it first
        if tp is not None and tp.status == OrderStatus.UNTRIGGERED.value and tp.size != exposure:
            stale.append(tp)
    if not missing and not stale:
        if position.status != PositionStatus.OPEN.value:
            return None
        return await manage_stop(view.trader, position, rows, live_stops, exposure, view.spec)
    for row in stale:
        if not await cancel_quietly(view.trader.venue, row):
            return "resize_pending"  # still working on the venue: protect() would keep it; next tick
    async with session_scope() as session:
        still = [
            r
            for r in stale
            if (fresh := await session.get(Order, r.id)) is not None and not is_terminal(ORDER, fresh.status)
        ]
    if still:
        return "resize_pending"
    after = await protect(view.trader, _sized(position, exposure), await view.spec(position.market))
    if after.status != PositionStatus.OPEN.value:
        return "flattened"
    if OrderRole.STOP_LOSS in missing and stops:
        view.trader.tell(
            messages.TradingError(
                network=view.trader.network,
                market=position.market,
                what_failed="the stop-loss was no longer on the venue",
                action_taken=(
                    f"placed it again at {messages.fmt_grid(position.sl_price, position.tick_size)} "
                    f"for {messages.fmt_grid(exposure, position.step_size)}"
                ),
            )
        )
    return "resized" if stale else "protected"


async def _grow(trader: Trader, position: Position, rows: Sequence[Order]) -> Position:
    entries = [r for r in rows if r.role == OrderRole.ENTRY.value and r.filled_size > 0 and r.avg_fill_price]
    return await update_position(
        trader,
        position.id or 0,
        size=sum((r.filled_size for r in entries), Decimal(0)),
        entry_price=on_grid_nearest(
            pnl.average_price((r.filled_size, r.avg_fill_price or Decimal(0)) for r in entries),
            position.tick_size,  # stored on the tick; the books use the exact fills
        ),
        fees=sum((r.fee for r in entries), Decimal(0)),
    )


async def _gone(view: View, position: Position, exits: Sequence[Order], remaining: Decimal) -> str | None:
    """The venue has no position: close the books from the fills that closed it, if there are any."""
    async with session_scope() as session:
        ours = set(
            (
                await session.exec(
                    select(Order.client_id).where(
                        Order.user_address == view.trader.user,
                        Order.network == view.trader.network,
                        Order.market == position.market,
                    )
                )
            ).all()
        )
    side = PositionSide(position.side).exit_side
    start = position.opened_at - CLOCK_SKEW

    def foreign(fills: Sequence[Fill]) -> list[Fill]:
        return [
            f
            for f in fills
            if f.market == position.market and f.side == side and f.client_id not in ours and f.time >= start
        ]

    found = _covering(foreign(view.state.fills), remaining)
    if found is None:
        found = _covering(foreign(await view.trader.venue.fills(position.market, since=start)), remaining)
    if found is None:
        log.warning("position %s: not on the venue and no fill closed it; leaving it open", position.id)
        return "unconfirmed"
    liquidated = any(f.fill_type.upper() in LIQUIDATION_FILLS for f, _ in found)
    reason = CloseReason.LIQUIDATED if liquidated else CloseReason.EXTERNAL
    await close_books(view.trader, position, reason, exit_orders=[*exits, _as_order(position, found, side)])
    return reason.value.lower()


def _covering(fills: Sequence[Fill], size: Decimal) -> list[tuple[Fill, Decimal]] | None:
    """The newest fills that add up to `size` (the oldest one counted in part), oldest first."""
    taken: list[tuple[Fill, Decimal]] = []
    need = size
    for f in sorted(fills, key=lambda f: f.time, reverse=True):
        if need <= 0:
            break
        used = min(f.size, need)
        taken.append((f, used))
        need -= used
    return list(reversed(taken)) if need <= 0 else None


def _as_order(position: Position, found: list[tuple[Fill, Decimal]], side: object) -> Order:
    # an unsaved row standing for the venue's exit fills: what close_books needs to book them
    size = sum((used for _, used in found), Decimal(0))
    fee = sum((f.fee * used / f.size for f, used in found), Decimal(0))
    return Order(
        user_address=position.user_address,
        position_id=position.id,
        network=position.network,
        market=position.market,
        role=OrderRole.CLOSE.value,
        order_type=OrderType.MARKET.value,
        side=str(side),
        size=size,
        client_id=found[-1][0].client_id,
        status=OrderStatus.FILLED.value,
        filled_size=size,
        avg_fill_price=pnl.average_price((used, f.price) for f, used in found),
        fee=fee,
    )


__all__ = ["FilledClose", "View", "filled_close", "reconcile_position", "working"]
