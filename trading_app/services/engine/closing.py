"""Closing a position: flatten at market until it is flat, then close the books from the fills.

A close is a reduce-only market (IOC) order. One that finds too little liquidity is followed by
another under a fresh client id (a signal's own attempts first, then repair ids), a few times
within one call; the position stays CLOSING (or FAILED_PROTECTION) meanwhile, behind its
stop-loss, and the monitor calls again until it is flat. The trader is told at each step.
"""

from __future__ import annotations

import logging
from decimal import Decimal

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
from trading_app.services.engine.final_books import close_books
from trading_app.services.engine.order_flow import (
    FILL_WAIT_SECONDS,
    first_report,
    send_with_retries,
    settle,
    wait_until_done,
)
from trading_app.services.engine.order_rows import OrderPlan, is_sent, new_row_in, required_price
from trading_app.services.engine.outcomes import InDoubt, SignalEnd
from trading_app.services.engine.trader import Trader, change_position_in
from trading_app.services.notify import messages
from trading_app.venues.base import MarketSpec
from trading_app.venues.errors import VenueError

log = logging.getLogger(__name__)

CLOSE_TRIES = 3  # fresh close orders sent by one flatten call before it leaves the rest to the monitor
EXIT_ROLES = frozenset({OrderRole.STOP_LOSS.value, OrderRole.TAKE_PROFIT.value, OrderRole.CLOSE.value})
_DONE = (PositionStatus.CLOSED.value, PositionStatus.FAILED.value, PositionStatus.CANCELLED.value)


async def choose_row(
    session: AsyncSession, trader: Trader, position: Position, plan: OrderPlan, previous: list[Order]
) -> tuple[Order, bool]:
    """The order row to use for `plan.role`: (row, already live or in doubt on the venue).

    The latest row of the role is reused while it is PENDING and never sent (committed, then a
    crash: sent again under the same client id), and while it is sent but not finished (live, or
    in doubt: it is followed, never sent twice). Only a finished one gets a successor, under the
    next attempt's client id (a new row, not yet added to `session`).
    """
    latest = previous[-1] if previous else None
    if latest is not None and latest.status == OrderStatus.PENDING.value:
        return latest, is_sent(latest)
    if latest is not None and not is_terminal(ORDER, latest.status):
        return latest, True
    row = await new_row_in(
        session,
        user=trader.user,
        network=trader.network,
        market=position.market,
        position_id=position.id,
        signal_id=position.signal_id or 0,
        # the signal's own ids of a role are level 1's: later take-profit levels take repair ids
        attempt=len(previous) + (MAX_ATTEMPT + 1 if (plan.level or 1) > 1 else 0),
        plan=plan,
    )
    return row, False


def remaining_size(position: Position, orders: list[Order]) -> Decimal:
    """What is still open of the position: its size less every exit fill (SL, TP, closes)."""
    exits = sum((o.filled_size for o in orders if o.role in EXIT_ROLES), Decimal(0))
    return position.size - exits


async def flatten(
    trader: Trader,
    position: Position,
    spec: MarketSpec,
    reason: CloseReason,
    *,
    failed_order: str | None = None,
    detail: str | None = None,
    end: SignalEnd | None = None,
) -> Position:
    """Close the position at market (reduce-only) until it is flat; then cancel what protected it
    and close the books.

    The status change (CLOSING or FAILED_PROTECTION) and each close order's row are committed
    before that order is sent. `end` joins the transaction that closes the books.
    """
    side = PositionSide(position.side)
    target = (
        PositionStatus.FAILED_PROTECTION
        if failed_order is not None
        else PositionStatus.CLOSING
        if position.status == PositionStatus.OPEN.value
        else None
    )
    steps: list[str] = []
    orders: list[Order] = []
    for attempt in range(CLOSE_TRIES):
        async with session_scope() as session:
            if attempt == 0 and target is not None:  # with the first close order's row: one commit
                position = await change_position_in(
                    session, trader, position.id or 0, expect=position.status, status=target
                )
            else:  # a closer at work: the monitor gives it CLOSER_GRACE from its latest try
                position = await change_position_in(session, trader, position.id or 0)
            if position.status in _DONE:
                return position  # another closer finished it meanwhile
            if attempt == 0:
                orders = await orders_of(session, trader.user, position.id or 0)
            left = remaining_size(position, orders)
            if left <= 0:
                break
            worst = slippage_bound(
                spec.oracle_price, side.exit_side, max(trader.slippage_pct, Decimal(1)), spec.tick_size
            )
            plan = OrderPlan(
                OrderRole.CLOSE, OrderType.MARKET, side.exit_side, left, price=worst, reduce_only=True
            )
            row, live = await choose_row(
                session, trader, position, plan, [o for o in orders if o.role == OrderRole.CLOSE.value]
            )
            if row.id is None:
                await insert_objects(session, [row])
        try:
            row = await _close_once(trader, position.market, row, live)
        except VenueError as e:
            log.error("position %s: close failed (%s)", position.id, type(e).__name__)
            steps.append(f"the close order could not be sent ({str(e)[:120]})")
            break
        finally:  # the rows as they are now (no second read): this close order in its latest state
            orders = [o for o in orders if o.id != row.id] + [row]
        if not is_terminal(ORDER, row.status):
            steps.append("the close order's outcome is not known yet; it is followed")
            break
        if row.filled_size < row.size:
            steps.append(f"a close order filled {row.filled_size} of {row.size}")
        if remaining_size(position, orders) <= 0:
            break
        try:
            if row.filled_size <= 0 and not await _still_held(trader, position):
                break  # nothing left to reduce on the venue: the monitor books the fills that closed it
            spec = await trader.venue.market(position.market)  # a fresh price for the next try
        except VenueError:
            break
    flat = remaining_size(position, orders) <= 0
    if failed_order is not None:
        trader.tell(
            messages.ProtectionFailed(
                network=trader.network,
                market=position.market,
                side=position.side,
                size=position.size,
                order=failed_order,
                flattened=flat,
                detail=detail,
                step=position.step_size or spec.step_size,
            )
        )
    if not flat:
        log.warning("position %s: not flat yet after %s", position.id, "; ".join(steps) or "its close")
        if steps:
            trader.tell(
                messages.TradingError(
                    network=trader.network,
                    market=position.market,
                    what_failed="closing the position",
                    # after a refused stop-loss there is no stop to stay behind: say only what is true
                    action_taken=(
                        "closing is retried with a fresh order"
                        if failed_order is not None
                        else "it stays protected by its stop-loss; closing is retried with a fresh order"
                    ),
                    detail="; ".join(steps)[:300],
                )
            )
        return position  # still CLOSING or FAILED_PROTECTION: the monitor keeps closing it
    exits = [o for o in orders if o.role in EXIT_ROLES and o.filled_size > 0]
    return await close_books(trader, position, reason, exit_orders=exits, orders=orders, end=end)


class CloseInDoubt(InDoubt):
    """The close order's outcome is not known yet: the close is not decided, it is resumed later."""


def close_in_doubt(orders: list[Order]) -> bool:
    """Whether the position's latest close order is sent and not settled by the venue yet."""
    closes = [o for o in orders if o.role == OrderRole.CLOSE.value]
    if not closes:
        return False
    last = closes[-1]
    return is_sent(last) if last.status == OrderStatus.PENDING.value else not is_terminal(ORDER, last.status)


async def check_close_settled(trader: Trader, position: Position) -> None:
    """Raise CloseInDoubt when a position left open has a close order the venue has not settled: the
    signal that asked for the close is then not decided (it is resumed), neither failed nor done.

    Raises:
        CloseInDoubt: the latest close order is in doubt.
    """
    if position.status in _DONE:
        return
    async with session_scope() as session:
        orders = await orders_of(session, trader.user, position.id or 0)
    if close_in_doubt(orders):
        raise CloseInDoubt(
            f"the close of position {position.id} is not settled by the venue yet", position.id
        )


async def _still_held(trader: Trader, position: Position) -> bool:
    held = (await trader.venue.account()).positions.get(position.market)
    return held is not None and held.size > 0 and held.side.value == position.side


async def _close_once(trader: Trader, market: str, row: Order, live: bool) -> Order:
    """Send one close order (unless it is already out) and follow it until the venue settles it."""
    if live:
        return await wait_until_done(trader.venue, row, keep=trader.keep_claim)
    sent = row
    ref = await send_with_retries(
        lambda: trader.venue.place_market_order(
            market,
            Side(sent.side),
            sent.size,
            worst_price=required_price(sent.price),
            client_id=sent.client_id,
            reduce_only=True,
        ),
        venue=trader.network,
    )
    report = await first_report(trader.venue, ref)
    row = await settle(row, ref, report)
    return await wait_until_done(
        trader.venue,
        row,
        FILL_WAIT_SECONDS,
        first_delay=0.05 if report is not None else 0.0,
        keep=trader.keep_claim,
    )


async def flatten_unbooked(
    trader: Trader, market: str, side: PositionSide, size: Decimal, spec: MarketSpec
) -> Order:
    """Close exposure that no live position of the books accounts for (reduce-only, so it can only
    ever reduce what the venue really holds). The row is committed before the order is sent and
    carries a repair id; it belongs to no position.

    Returns:
        The close order's row as the venue left it.
    """
    worst = slippage_bound(
        spec.oracle_price, side.exit_side, max(trader.slippage_pct, Decimal(1)), spec.tick_size
    )
    plan = OrderPlan(OrderRole.CLOSE, OrderType.MARKET, side.exit_side, size, price=worst, reduce_only=True)
    async with session_scope() as session:
        row = await new_row_in(
            session,
            user=trader.user,
            network=trader.network,
            market=market,
            position_id=None,
            signal_id=0,
            attempt=0,
            plan=plan,
        )
        await insert_objects(session, [row])
    return await _close_once(trader, market, row, live=False)


__all__ = [
    "CLOSE_TRIES",
    "EXIT_ROLES",
    "choose_row",
    "close_books",
    "flatten",
    "flatten_unbooked",
    "remaining_size",
]
