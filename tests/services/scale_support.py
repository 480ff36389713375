"""Scaled positions written straight into the tables, as the scaling-out engine leaves them: a plan
on the position, one TAKE_PROFIT order per level (`orders.level`), the initial stop-loss order, and
`stop_moves` rows. The read side (dashboard, API, Telegram) is tested against these."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from decimal import Decimal

from trading_app.db.engine import session_scope
from trading_app.db.models import Order, Position, StopMove

D = Decimal
T0 = datetime(2026, 3, 2, 12, 0, 0, tzinfo=UTC)
PLAN = {
    "kind": "tp",
    "targets": ["97500", "99000"],
    "split": ["50", "50"],
    "be_after_tp": 1,
    "trail_pct": "1",
    "trail": None,
    "trail_after_tp": 2,
}
_client_ids = iter(range(10_000, 10_000_000))


async def add_position(
    user: str, *, plan: dict | str | None = PLAN, market: str = "BTC-USD", **fields
) -> int:
    """An OPEN long of 0.010 BTC at 97,262.0 (tick 0.1, step 0.001), stop now at `sl_price`."""
    values = {
        "network": "paper",
        "side": "LONG",
        "size": D("0.010"),
        "entry_price": D("97262"),
        "tp_price": D("99000"),
        "sl_price": D("96000"),
        "status": "OPEN",
        "opened_at": T0,
        "tick_size": D("0.1"),
        "step_size": D("0.001"),
        **fields,
    }
    stored = plan if isinstance(plan, str) or plan is None else json.dumps(plan)
    async with session_scope() as session:
        row = Position(user_address=user, market=market, scale_plan=stored, **values)
        session.add(row)
    assert row.id is not None
    return row.id


async def add_order(user: str, position_id: int, role: str, status: str, **fields) -> int:
    """One protective order of the position (a reduce-only SELL of a long)."""
    values = {
        "network": "paper",
        "market": "BTC-USD",
        "order_type": "TAKE_PROFIT_MARKET" if role == "TAKE_PROFIT" else "STOP_MARKET",
        "side": "SELL",
        "size": D("0.005"),
        "reduce_only": True,
        "created_at": T0,
        "updated_at": T0,
        **fields,
    }
    async with session_scope() as session:
        row = Order(
            user_address=user,
            position_id=position_id,
            role=role,
            status=status,
            client_id=next(_client_ids),
            **values,
        )
        session.add(row)
    assert row.id is not None
    return row.id


async def add_move(
    user: str,
    position_id: int,
    reason: str,
    old: str,
    new: str,
    outcome: str = "MOVED",
    seconds: int = 67,
    detail: str | None = None,
) -> None:
    """A stop move `seconds` after T0 (67 s: 12:01:07)."""
    at = T0 + timedelta(seconds=seconds)
    async with session_scope() as session:
        session.add(
            StopMove(
                user_address=user,
                position_id=position_id,
                reason=reason,
                old_price=D(old),
                new_price=D(new),
                size=D("0.005"),
                outcome=outcome,
                detail=detail,
                created_at=at,
                updated_at=at,
            )
        )


async def scaled_after_tp1(user: str, **fields) -> int:
    """The brief's picture: TP1 97,500.0 filled, TP2 99,000.0 waiting, the stop moved from 96,000.0
    to break-even 97,262.0 at 12:01:07."""
    pid = await add_position(user, sl_price=D("97262"), **fields)
    await add_order(user, pid, "STOP_LOSS", "CANCELED", trigger_price=D("96000"), size=D("0.010"))
    await add_order(
        user,
        pid,
        "TAKE_PROFIT",
        "FILLED",
        level=1,
        trigger_price=D("97500"),
        filled_size=D("0.005"),
        avg_fill_price=D("97500"),
    )
    await add_order(user, pid, "TAKE_PROFIT", "UNTRIGGERED", level=2, trigger_price=D("99000"))
    await add_order(
        user, pid, "STOP_LOSS", "UNTRIGGERED", trigger_price=D("97262"), created_at=T0 + timedelta(seconds=67)
    )
    await add_move(user, pid, "BREAK_EVEN", "96000", "97262")
    return pid
