"""A position's stop-loss and take-profit: recorded before they are sent, never a position without
its stop-loss.

Order of operations for an entry: persist the position (OPENING) and the entry order -> send the
entry -> the venue settles it -> stop-loss sized to the filled amount -> take-profit -> OPEN. If
the stop-loss cannot be placed, the position is flattened at once (FAILED_PROTECTION -> CLOSED)
and the trader is told. Every step is re-entrant: running it again after a crash continues from
what the database says was done, and what the venue guarantees about each order.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

from sqlalchemy.exc import IntegrityError
from sqlmodel.ext.asyncio.session import AsyncSession

from trading_app.db.core_rows import insert_objects
from trading_app.db.engine import session_scope
from trading_app.db.models import Order, Position
from trading_app.db.trading import orders_of
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
from trading_app.domain.story import Phase
from trading_app.services.engine.claims import entry_filled_in
from trading_app.services.engine.closing import choose_row, flatten
from trading_app.services.engine.order_flow import (
    first_report,
    send_with_retries,
    settle_each_in,
    settle_in,
)
from trading_app.services.engine.order_rows import OrderPlan, ref_of, required_price
from trading_app.services.engine.outcomes import SignalEnd
from trading_app.services.engine.scaling import Scaled, level_left
from trading_app.services.engine.trader import Trader, change_position_in
from trading_app.services.notify import messages
from trading_app.venues.base import MarketSpec, OrderRef, OrderReport
from trading_app.venues.errors import OrderRejected, VenueError

log = logging.getLogger(__name__)

PROTECTION_TTL_SECONDS = 28 * 24 * 3600  # conditional orders are re-placed by the monitor before this


@dataclass
class Opening:
    """What an opening position commits together with its protection.

    The entry's settled state and the position's size go into the transaction that records the
    stop-loss and take-profit rows (before the stop-loss is sent); OPEN and the signal's end go
    into the transaction that stores their venue references.
    """

    entry: Order
    entry_ref: OrderRef | None = None
    entry_report: OrderReport | None = None
    sized: dict[str, Any] = field(default_factory=dict)
    end: SignalEnd | None = None

    async def record_in(self, session: AsyncSession, trader: Trader, position: Position) -> Position:
        """The entry's fill and the position's size, in the caller's transaction."""
        if self.entry_report is not None:
            await settle_in(session, self.entry, ref=self.entry_ref, report=self.entry_report)
        if not self.sized:
            return position
        return await change_position_in(session, trader, position.id or 0, **self.sized)

    async def open_in(self, session: AsyncSession, trader: Trader, position: Position) -> Position:
        """OPEN, and the signal's end, in the caller's transaction."""
        opened = await change_position_in(
            session, trader, position.id or 0, expect=PositionStatus.OPENING.value, status=PositionStatus.OPEN
        )
        if self.end is not None:
            await self.end.commit_in(session, opened)
        elif opened.status == PositionStatus.OPEN.value and opened.signal_id is not None:
            await entry_filled_in(session, trader.user, opened.signal_id)  # a resting entry filled later
        return opened


async def protect(
    trader: Trader,
    position: Position,
    spec: MarketSpec,
    *,
    opening: Opening | None = None,
    known_new: bool = False,
) -> Position:
    """Place the stop-loss, then the take-profit, for the position's current size.

    Both rows are committed in one transaction before the stop-loss is sent; their venue
    references and first reports in one transaction after the take-profit was sent (a crash in
    between leaves rows that the next attempt asks the venue about before sending anything).
    A stop-loss that cannot be placed flattens the position. A take-profit that cannot be
    placed leaves the position open behind its stop-loss and tells the trader.

    Args:
        opening: the entry's settlement and the signal's end when the position is opening.
        known_new: the position has no protection rows yet (saves reading its orders).
    """
    position, chosen, created = await _record_protection(trader, position, spec, opening, known_new)
    placed: list[tuple[Order, OrderRef, OrderReport | None]] = []
    for plan, row, live in chosen:
        if live:
            continue
        try:
            ref = await _send_protection(trader, position, plan, row)
            placed_detail = {"client_id": row.client_id, "venue_order_id": ref.venue_order_id}
            trader.mark(
                position.signal_id,
                Phase.STOP_PLACED if plan.role is OrderRole.STOP_LOSS else Phase.TP_PLACED,
                # the size and (scaled take-profits) the level name the order among its siblings
                {**placed_detail, "trigger_price": row.trigger_price, "size": row.size, "level": row.level},
            )
            # the venue's word right away (paper: resting untriggered); a stateful order on dYdX
            # stays in doubt (PENDING with its tx) until the chain shows it committed
            placed.append((row, ref, await first_report(trader.venue, ref)))
        except VenueError as e:
            if isinstance(e, OrderRejected):  # refused for good: recorded, never sent again under this id
                await _refused(row)
            if plan.role is OrderRole.STOP_LOSS:
                log.error("position %s: stop-loss refused (%s), flattening", position.id, type(e).__name__)
                await _drop_unsent(trader, created)
                return await flatten(
                    trader,
                    position,
                    spec,
                    CloseReason.PROTECTION_FAILED,
                    failed_order="stop-loss",
                    detail=str(e)[:200],
                )
            log.warning("position %s: take-profit refused (%s)", position.id, type(e).__name__)
            trader.tell(
                messages.TradingError(
                    network=trader.network,
                    market=position.market,
                    what_failed="placing the take-profit",
                    action_taken="the position stays open behind its stop-loss",
                    detail=str(e)[:200],
                )
            )
    if not placed and opening is None:
        return position
    async with session_scope() as session:
        await settle_each_in(session, placed)  # the stop-loss and take-profit in one statement
        if opening is not None:
            position = await opening.open_in(session, trader, position)  # its end writes the story
        await trader.timeline.flush_in(session)  # the alert's story so far, in this transaction
    return position


def _protection_plans(
    trader: Trader, position: Position, spec: MarketSpec, existing: list[Order]
) -> list[OrderPlan]:
    """The stop-loss for the position's size, then its take-profit(s).

    A scaled position gets one take-profit per level, each for what is left of its own size (a level
    taken in full gets none); its stop covers the whole open size (`position.size` is what is open
    when the monitor calls).
    """
    side = PositionSide(position.side)
    slip = max(trader.slippage_pct, Decimal(5))

    def plan(role: OrderRole, trigger: Decimal, size: Decimal, level: int | None = None) -> OrderPlan:
        kind = OrderType.STOP_MARKET if role is OrderRole.STOP_LOSS else OrderType.TAKE_PROFIT_MARKET
        worst = slippage_bound(trigger, side.exit_side, slip, spec.tick_size)
        return OrderPlan(
            role,
            kind,
            side.exit_side,
            size,
            price=worst,
            trigger_price=trigger,
            reduce_only=True,
            level=level,
        )

    plans = []
    if position.sl_price is not None:
        plans.append(plan(OrderRole.STOP_LOSS, position.sl_price, position.size))
    scaled = Scaled.of(position)
    if scaled is not None and scaled.multi:
        for level, (price, size) in enumerate(zip(scaled.prices, scaled.sizes, strict=True), start=1):
            left = min(level_left(existing, level, size), position.size)
            if left > 0:
                plans.append(plan(OrderRole.TAKE_PROFIT, price, left, level))
    elif position.tp_price is not None:
        plans.append(plan(OrderRole.TAKE_PROFIT, position.tp_price, position.size))
    return plans


async def _record_protection(
    trader: Trader, position: Position, spec: MarketSpec, opening: Opening | None, known_new: bool
) -> tuple[Position, list[tuple[OrderPlan, Order, bool]], list[Order]]:
    """One transaction: the opening's writes, then the stop-loss and take-profit rows to use
    (row, live) and the rows this call created."""
    for attempt in (1, 2):
        try:
            async with session_scope() as session:
                current = await opening.record_in(session, trader, position) if opening else position
                existing = [] if known_new else await orders_of(session, trader.user, current.id or 0)
                chosen, created = [], []
                for plan in _protection_plans(trader, current, spec, existing):
                    previous = [o for o in existing if o.role == plan.role.value and o.level == plan.level]
                    if plan.role is OrderRole.TAKE_PROFIT and _used_up(previous):
                        continue  # a take-profit gets the signal's own ids only; the stop-loss never runs out
                    row, live = await choose_row(session, trader, current, plan, previous)
                    if row.id is None:
                        created.append(row)
                    chosen.append((plan, row, live))
                await insert_objects(session, created)  # the new rows in one statement
            return current, chosen, created
        except IntegrityError:
            if attempt == 2:
                raise
            known_new = False  # another worker (the monitor) recorded one first: read and use theirs
    raise AssertionError("unreachable")


def _used_up(previous: list[Order]) -> bool:
    """Every one of the signal's own ids for this role was used and the last one is finished."""
    return len(previous) > MAX_ATTEMPT and is_terminal(ORDER, previous[-1].status)


async def _send_protection(trader: Trader, position: Position, plan: OrderPlan, row: Order) -> OrderRef:
    venue = trader.venue
    place = venue.place_stop_loss if plan.role is OrderRole.STOP_LOSS else venue.place_take_profit
    return await send_with_retries(
        lambda: place(
            position.market,
            plan.side,
            row.size,
            required_price(row.trigger_price, plan.trigger_price),
            worst_price=required_price(row.price, plan.price),
            client_id=row.client_id,
            good_til_seconds=PROTECTION_TTL_SECONDS,
        ),
        venue=trader.network,
    )


async def _refused(row: Order) -> None:
    async with session_scope() as session:
        await settle_in(
            session,
            row,
            report=OrderReport(
                ref=ref_of(row), status=OrderStatus.REJECTED, side=Side(row.side), size=row.size
            ),
        )


async def _drop_unsent(trader: Trader, rows: list[Order]) -> None:
    """The stop-loss failed: a take-profit row this call created was never sent (it only goes
    out after the stop-loss), so it is recorded as never working. An older one may be live
    from an earlier attempt: that one is left to the cancel that closing the books does."""
    unsent = [
        r for r in rows if r.status == OrderStatus.PENDING.value and r.role == OrderRole.TAKE_PROFIT.value
    ]
    if not unsent:
        return
    async with session_scope() as session:
        for row in unsent:
            await settle_in(
                session,
                row,
                report=OrderReport(
                    ref=ref_of(row), status=OrderStatus.CANCELED, side=Side(row.side), size=row.size
                ),
            )


__all__ = ["PROTECTION_TTL_SECONDS", "Opening", "protect"]
