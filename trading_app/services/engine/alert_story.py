"""The story of one alert, for the trader who sent it: what arrived, what the engine made of it,
the orders it placed and the time of every phase.

Read-only and scoped to one user: another user's alert id is simply not found. Nothing here is
recomputed: the sizing is what the risk step recorded at the time (`signal_events`), the orders
are the rows the engine wrote. The body is the one stored (masked at the door) and is masked
once more before it leaves; no credential is ever read.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal

from sqlalchemy import or_
from sqlmodel import col, select

from trading_app.db.engine import autocommit_scope
from trading_app.db.models import Order, Position, Signal, SignalEvent
from trading_app.domain.masking import mask_body
from trading_app.domain.story import Phase, Step, phase_of, timeline


@dataclass(frozen=True)
class OrderLine:
    """One order placed for the alert (or for the position it opened or closed)."""

    id: int
    position_id: int | None
    role: str
    order_type: str
    side: str
    size: Decimal
    price: Decimal | None
    trigger_price: Decimal | None
    status: str
    filled_size: Decimal
    avg_fill_price: Decimal | None
    client_id: int
    venue_order_id: str | None
    tx_hash: str | None
    created_at: datetime
    updated_at: datetime
    # the market's grid from the order's position (None: shown as stored); a fill's average price
    # is an exact average of several fills and is shown on the tick
    tick_size: Decimal | None = None
    step_size: Decimal | None = None
    level: int | None = None  # a scaled position's take-profit level (None: every other order)


@dataclass(frozen=True)
class AlertStory:
    """Everything about one alert. `parsed` and `sizing` are None when there was none (an alert
    refused before it parsed; one that never reached the risk step)."""

    id: int
    received_at: datetime
    status: str
    action: str | None
    market: str | None
    reason: str | None
    position_id: int | None
    payload: str
    content_type: str | None
    source_ip: str | None
    paper: bool
    parsed: dict[str, str] | None
    sizing: dict[str, object] | None
    orders: list[OrderLine]
    timeline: list[Step]


def _detail(text: str | None) -> dict[str, object]:
    if not text:
        return {}
    try:
        value = json.loads(text)
    except ValueError:
        return {}
    return value if isinstance(value, dict) else {}


def _parsed(text: str | None) -> dict[str, str] | None:
    value = _detail(text)
    # the take-profit levels and split are lists ("3, 5"), everything else a string
    shown = {str(k): ", ".join(map(str, v)) if isinstance(v, list) else str(v) for k, v in value.items()}
    return shown or None


def _line(row: Order, grids: dict[int, tuple[Decimal | None, Decimal | None]]) -> OrderLine:
    tick, step = grids.get(row.position_id or 0, (None, None))
    return OrderLine(
        id=row.id or 0,
        position_id=row.position_id,
        role=row.role,
        order_type=row.order_type,
        side=row.side,
        size=row.size,
        price=row.price,
        trigger_price=row.trigger_price,
        status=row.status,
        filled_size=row.filled_size,
        avg_fill_price=row.avg_fill_price,
        client_id=row.client_id,
        venue_order_id=row.venue_order_id,
        tx_hash=row.tx_hash,
        created_at=row.created_at,
        updated_at=row.updated_at,
        tick_size=tick,
        step_size=step,
        level=row.level,
    )


async def alert_story(address: str, signal_id: int) -> AlertStory | None:
    """The story of the user's alert `signal_id`; None when the user has no such alert.

    Args:
        address: the signed-in user (checksum address); nobody else's rows are read.
        signal_id: the alert's id.
    """
    async with autocommit_scope() as session:
        signal = (
            await session.exec(select(Signal).where(Signal.id == signal_id, Signal.user_address == address))
        ).first()
        if signal is None:
            return None
        events = (
            await session.exec(
                select(SignalEvent)
                .where(SignalEvent.signal_id == signal_id, SignalEvent.user_address == address)
                .order_by(col(SignalEvent.at), col(SignalEvent.id))
            )
        ).all()
        opened = (
            await session.exec(
                select(Position.id).where(Position.signal_id == signal_id, Position.user_address == address)
            )
        ).all()
        position_ids = {p for p in opened if p is not None}
        if signal.position_id is not None:
            position_ids.add(signal.position_id)  # a close or a reverse: the position it acted on
        grid_rows = (
            await session.exec(
                select(Position).where(col(Position.id).in_(position_ids), Position.user_address == address)
            )
        ).all()
        grids = {p.id: (p.tick_size, p.step_size) for p in grid_rows if p.id is not None}
        orders = (
            await session.exec(
                select(Order)
                .where(
                    Order.user_address == address,
                    or_(col(Order.signal_id) == signal_id, col(Order.position_id).in_(position_ids)),
                )
                .order_by(col(Order.created_at), col(Order.id))
            )
        ).all()
    steps = []
    for event in events:
        phase = phase_of(event.phase)
        if phase is not None:
            steps.append(Step(phase, event.at, _detail(event.detail)))
    sized = [s for s in steps if s.phase is Phase.RISK_PASSED]
    return AlertStory(
        id=signal.id or 0,
        received_at=signal.received_at,
        status=signal.status,
        action=signal.action,
        market=signal.market,
        reason=signal.reason,
        position_id=signal.position_id,
        payload=mask_body(signal.raw_body),
        content_type=signal.content_type,
        source_ip=signal.source_ip,
        paper=signal.paper,
        parsed=_parsed(signal.parsed),
        sizing=dict(sized[-1].detail) if sized else None,
        orders=[_line(o, grids) for o in orders],
        timeline=timeline(signal.received_at, signal.stored_at, signal.status, signal.reason, steps),
    )


__all__ = ["AlertStory", "OrderLine", "alert_story"]
