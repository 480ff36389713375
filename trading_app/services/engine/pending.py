"""Entries that rest on the book: what the dashboard and the REST API show of them, and their cancel.

A limit entry's position stays OPENING until the order fills; until then it is a *pending entry*,
not an open position (it holds nothing yet). It still reserves one of the account's
`max_open_positions` slots in the risk checks: it can fill at any moment.

A cancel by the trader (`cancel_pending`) cancels the entry on the venue and follows it until the
venue settles it. Nothing filled: the position is CANCELLED (close reason MANUAL) and so is the
alert that opened it. Part of it filled before the cancel: that part is protected by its
stop-loss and take-profit and the position is OPEN, like any partly filled entry.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from decimal import Decimal

from sqlmodel import col, select

from trading_app.db.engine import session_scope
from trading_app.db.models import Order, Position
from trading_app.db.trading import get_position
from trading_app.domain.enums import CloseReason, OrderRole, OrderType, PositionStatus
from trading_app.services.engine import manual
from trading_app.services.engine.entry_order import LIMIT_TTL_SECONDS, EntryInDoubt
from trading_app.services.engine.open_close import cancel_entry
from trading_app.services.notify import events

log = logging.getLogger(__name__)


class PositionNotPending(manual.PositionNotOpen):
    """The position has no resting entry any more (it filled, or it ended)."""


@dataclass(frozen=True)
class PendingView:
    """A resting entry as the dashboard and the API show it."""

    id: int
    network: str
    market: str
    side: str
    order_type: str
    size: Decimal  # ordered
    filled: Decimal
    limit_price: Decimal | None
    tp_price: Decimal | None
    sl_price: Decimal | None
    created_at: datetime
    expires_at: datetime | None
    status: str
    # the market's grid, recorded on the position when it was opened (None: shown as stored)
    tick_size: Decimal | None = None
    step_size: Decimal | None = None

    def to_json(self) -> dict[str, object]:
        """JSON-ready: money as strings (never floats), times as ISO 8601."""
        out: dict[str, object] = {}
        for key, value in self.__dict__.items():
            if isinstance(value, Decimal):
                out[key] = format(value, "f")
            elif isinstance(value, datetime):
                out[key] = value.isoformat()
            else:
                out[key] = value
        return out


def expiry_of(entry: Order) -> datetime | None:
    """When a resting entry's good-til passes: the venue's good-til-time when it told us, else the
    time we asked for (`LIMIT_TTL_SECONDS` after the order was recorded). None for a market entry."""
    if entry.order_type != OrderType.LIMIT.value:
        return None
    if entry.good_til_block_time:
        return datetime.fromtimestamp(entry.good_til_block_time, UTC)
    return entry.created_at + timedelta(seconds=LIMIT_TTL_SECONDS)


async def list_pending(user: str, network: str | None = None) -> list[PendingView]:
    """The user's pending entries (positions still OPENING, with their entry order), newest first.

    Args:
        user: the trader; nobody else's rows are read.
        network: only this network's, when given.
    """
    query = (
        select(Position, Order)
        .join(Order, col(Order.position_id) == col(Position.id))
        .where(
            Position.user_address == user,
            Order.user_address == user,
            Position.status == PositionStatus.OPENING.value,
            Order.role == OrderRole.ENTRY.value,
        )
    )
    if network is not None:
        query = query.where(Position.network == network)
    async with session_scope() as session:
        rows = (await session.exec(query.order_by(col(Position.id).desc(), col(Order.id)))).all()
    seen: set[int] = set()
    views = []
    for position, entry in rows:
        if position.id in seen:
            continue  # one entry per position; the first is the one sent
        seen.add(position.id or 0)
        views.append(
            PendingView(
                id=position.id or 0,
                network=position.network,
                market=position.market,
                side=position.side,
                order_type=entry.order_type,
                size=entry.size,
                filled=entry.filled_size,
                limit_price=entry.price if entry.order_type == OrderType.LIMIT.value else None,
                tp_price=position.tp_price,
                sl_price=position.sl_price,
                created_at=entry.created_at,
                expires_at=expiry_of(entry),
                status=position.status,
                tick_size=position.tick_size,
                step_size=position.step_size,
            )
        )
    return views


async def cancel_pending(user: str, position_id: int) -> manual.PositionView:
    """Cancel one of the user's resting entries (see the module's docstring for what follows).

    Raises:
        PositionNotFound: the user has no such position.
        PositionNotPending: it has no resting entry (already open, closed or cancelled).
        PositionBusy: its entry is being sent or confirmed right now; try again in a moment.
        VenueError: the venue could not be reached (nothing changed).
    """
    async with session_scope() as session:
        position = await get_position(session, user, position_id)
        busy = position is not None and await manual.opening_now(session, user, position)
    if position is None:
        raise manual.PositionNotFound(position_id)
    if position.status != PositionStatus.OPENING.value:
        raise PositionNotPending(f"position {position_id} is {position.status.lower()}, not pending")
    if busy:
        raise manual.PositionBusy(
            f"the entry of position {position_id} is still being placed; cancel it in a few seconds"
        )
    trader = await manual.trader_on(user, position.network)
    try:
        after = await cancel_entry(trader, position, CloseReason.MANUAL)
    except EntryInDoubt as e:
        raise manual.PositionBusy(f"position {position_id}: {e}; cancel it again in a few seconds") from None
    finally:
        await events.positions_changed(user)
    log.info("position %s: pending entry cancelled by its trader, now %s", position_id, after.status)
    return (await manual.views_of([after]))[0]


__all__ = ["PendingView", "PositionNotPending", "cancel_pending", "expiry_of", "list_pending"]
