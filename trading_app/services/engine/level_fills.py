"""A take-profit level that filled: told to the trader once, with what it made and what is left.

`positions.levels_done` counts the levels already told; it only moves forward, so a level is told
once even when the monitor's tick runs again (or another worker takes the account over).
"""

from __future__ import annotations

from collections.abc import Sequence
from decimal import Decimal

from trading_app.db.models import Order, Position
from trading_app.domain import pnl
from trading_app.domain.enums import OrderRole, PositionSide
from trading_app.services.engine.scaling import Scaled
from trading_app.services.engine.trader import Trader, update_position
from trading_app.services.notify.scale_messages import LevelFilled

__all__ = ["book_levels"]


async def book_levels(
    trader: Trader, position: Position, scaled: Scaled, rows: Sequence[Order], done: int, exposure: Decimal
) -> Position:
    """Tell each newly filled level once (`levels_done` moves only forward, by one UPDATE).

    Args:
        done: How many levels have filled now.
        exposure: What is left open of the position.
    """
    told = position.levels_done
    position = await update_position(trader, position.id or 0, levels_done=done)
    entries = [r for r in rows if r.role == OrderRole.ENTRY.value and r.filled_size > 0 and r.avg_fill_price]
    entry_size = sum((r.filled_size for r in entries), Decimal(0))
    entry = (
        pnl.average_price((r.filled_size, r.avg_fill_price or Decimal(0)) for r in entries)
        if entries
        else None
    )
    entry_fee = sum((r.fee for r in entries), Decimal(0))
    side = PositionSide(position.side)
    for level in range(told + 1, done + 1):
        mine = [
            r
            for r in rows
            if r.role == OrderRole.TAKE_PROFIT.value and r.level == level and r.filled_size > 0
        ]
        size = sum((r.filled_size for r in mine), Decimal(0))
        if not mine or size <= 0:
            continue
        price = pnl.average_price((r.filled_size, r.avg_fill_price or Decimal(0)) for r in mine)
        made = None
        if entry is not None and entry_size > 0:
            made = pnl.realized_pnl(
                side,
                entry,
                price,
                size,
                entry_fee=entry_fee * size / entry_size,
                exit_fee=sum((r.fee for r in mine), Decimal(0)),
            )
        trader.tell(
            LevelFilled(
                network=trader.network,
                market=position.market,
                side=position.side,
                level=level,
                levels=scaled.levels,
                size=size,
                price=price,
                remaining=exposure,
                realized_pnl=made,
                tick_size=position.tick_size,
                step_size=position.step_size,
            )
        )
    return position
