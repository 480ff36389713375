"""Pending entries (limit orders resting on the book) as the dashboard shows them, and what close-all
says it did. Pure: service results in, display strings out (no I/O, no Reflex)."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from decimal import Decimal

from trading_app.components import format as fmt
from trading_app.domain.enums import PositionStatus
from trading_app.services.engine.manual import PositionView
from trading_app.services.engine.pending import PendingView

Row = dict[str, str]


def pending_row(view: PendingView, now: datetime) -> Row:
    """One resting entry: market, side, size ordered (and filled), limit price, age and expiry."""
    expires = view.expires_at
    return {
        "id": str(view.id),
        "market": view.market,
        "side": view.side,
        "size": fmt.number(view.size, view.step_size),
        "filled": fmt.number(view.filled, view.step_size) if view.filled > 0 else "",
        "limit": fmt.number(view.limit_price, view.tick_size) if view.limit_price is not None else "Market",
        "tp": fmt.number(view.tp_price, view.tick_size),
        "sl": fmt.number(view.sl_price, view.tick_size),
        "age": fmt.age(view.created_at, now),
        "placed": fmt.when(view.created_at),
        "expires_in": fmt.age(now, expires) if expires is not None and expires > now else fmt.DASH,
        "expires": fmt.when(expires),
        "status": view.status,
    }


def close_all_text(done: Sequence[PositionView]) -> str:
    """What close-all did: positions closed (with their realized PnL) and pending entries cancelled."""
    cancelled = [v for v in done if v.status == PositionStatus.CANCELLED.value]
    closed = [v for v in done if v.status != PositionStatus.CANCELLED.value]
    parts = []
    if closed:
        total = sum((v.realized_pnl for v in closed if v.realized_pnl is not None), Decimal(0))
        what = "position" if len(closed) == 1 else "positions"
        parts.append(f"Closed {len(closed)} {what}: realized {fmt.money(total, signed=True)}.")
    if cancelled:
        what = "pending entry" if len(cancelled) == 1 else "pending entries"
        parts.append(f"Cancelled {len(cancelled)} {what}.")
    return " ".join(parts) or "There was nothing to close."
