"""A position's scale-out plan once its entry filled: the levels fixed at the fill, kept on the row.

The alert's plan (`domain.scale_out.ScalePlan`) says how the trader gave the levels; at the fill the
engine measures every level's price from the average fill and splits the filled size over the
levels on the market's step. Both are stored with the plan in `positions.scale_plan`, so the
monitor re-places a level the venue removed at the same price and size, and never re-computes a
level from a later price. A position without a managed plan (one target, a fixed stop) keeps the
column NULL and behaves as before scaling out existed.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from decimal import Decimal

from trading_app.db.models import Order, Position
from trading_app.domain.enums import OrderRole, OrderStatus, PositionSide
from trading_app.domain.scale_out import ScalePlan, split_sizes, target_prices

__all__ = ["Scaled", "filled_levels", "fix_levels", "level_filled"]


@dataclass(frozen=True)
class Scaled:
    """A managed plan with its level prices and sizes fixed at the fill."""

    plan: ScalePlan
    prices: tuple[Decimal, ...]
    sizes: tuple[Decimal, ...]

    @property
    def levels(self) -> int:
        """How many take-profit orders the position has (levels split to 0 are merged away)."""
        return len(self.prices)

    @property
    def multi(self) -> bool:
        """Several take-profit orders (each with its `level`); one target keeps the plain order."""
        return self.levels > 1

    def to_json(self) -> str:
        """The plan's own JSON with the fixed `prices` and `sizes` added (money as strings)."""
        data = json.loads(self.plan.to_json())
        data["prices"] = [str(p) for p in self.prices]
        data["sizes"] = [str(s) for s in self.sizes]
        return json.dumps(data, separators=(",", ":"))

    @classmethod
    def of(cls, position: Position) -> Scaled | None:
        """The position's stored plan, or None for a plain position (or an unreadable column)."""
        if not position.scale_plan:
            return None
        try:
            data = json.loads(position.scale_plan)
            prices = tuple(Decimal(str(p)) for p in data.get("prices", []))
            sizes = tuple(Decimal(str(s)) for s in data.get("sizes", []))
        except (ValueError, TypeError, ArithmeticError, AttributeError):
            return None
        if len(prices) != len(sizes):
            return None
        return cls(ScalePlan.from_json(position.scale_plan), prices, sizes)


def fix_levels(
    plan: ScalePlan,
    side: PositionSide,
    fill: Decimal,
    size: Decimal,
    stop: Decimal | None,
    tick: Decimal,
    step: Decimal,
) -> Scaled:
    """The levels of `plan` for an entry that filled `size` at `fill` (average, on the tick).

    A level whose share of the size is below one step is merged into the next one (`split_sizes`
    gives it 0) and is not placed.

    Raises:
        RiskRejected: a level is on the wrong side of the fill (it cannot be placed as asked).
    """
    prices = target_prices(side, fill, tick, plan, stop) if plan.targets else ()
    sizes = split_sizes(size, plan.split, step) if prices else ()
    kept = [(p, s) for p, s in zip(prices, sizes, strict=True) if s > 0]
    return Scaled(plan, tuple(p for p, _ in kept), tuple(s for _, s in kept))


def level_filled(rows: list[Order], level: int, size: Decimal) -> bool:
    """Whether the level's orders (all placements of it) filled its whole size."""
    mine = [r for r in rows if r.role == OrderRole.TAKE_PROFIT.value and r.level == level]
    return sum((r.filled_size for r in mine), Decimal(0)) >= size > 0


def filled_levels(scaled: Scaled, rows: list[Order]) -> int:
    """How many levels, counted from the first, have filled (a later level never fills first: the
    levels are in order away from the entry, but count each one anyway)."""
    return sum(1 for n, size in enumerate(scaled.sizes, start=1) if level_filled(rows, n, size))


def level_left(rows: list[Order], level: int, size: Decimal) -> Decimal:
    """What of the level is still to be taken (its size less what its placements filled)."""
    mine = [r for r in rows if r.role == OrderRole.TAKE_PROFIT.value and r.level == level]
    return max(size - sum((r.filled_size for r in mine), Decimal(0)), Decimal(0))


def live_status(row: Order) -> bool:
    """Confirmed on the book and not triggered (the only state in which a stop can be replaced)."""
    return row.status in (OrderStatus.UNTRIGGERED.value, OrderStatus.OPEN.value)
