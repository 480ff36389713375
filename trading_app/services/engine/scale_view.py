"""What the trader sees of scaling out: each take-profit level, the current stop and its history.

Read side only, scoped to one user: the engine writes the rows (the plan on `positions.scale_plan`,
one TAKE_PROFIT order per level with `orders.level`, one `stop_moves` row per decision), this module
turns them into a `ScaleView` per position for the dashboard, `GET /api/user/positions` and
Telegram's /positions. All positions of a page are read in two queries (positions with their
protective orders, then their stop moves), never one query per position.
"""

from __future__ import annotations

import json
from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal, InvalidOperation

from sqlalchemy import and_
from sqlmodel import col, select

from trading_app.db.engine import session_scope
from trading_app.db.models import Order, Position, StopMove
from trading_app.domain.enums import OrderRole, OrderStatus
from trading_app.domain.quantize import on_grid_nearest

INITIAL = "INITIAL"  # the reason shown for the first stop (the one placed with the entry)
# how a level's latest order reads for the trader
LEVEL_STATES = ("filled", "part-filled", "waiting", "re-placing", "cancelled")
_ENDED = (OrderStatus.CANCELED.value, OrderStatus.REJECTED.value, OrderStatus.EXPIRED.value)


@dataclass(frozen=True)
class ScalePlan:
    """The alert's plan as stored (`domain.scale_out.ScalePlan.to_json()`), read tolerantly."""

    kind: str | None
    targets: tuple[Decimal, ...]
    split: tuple[Decimal, ...]
    be_after_tp: int | None = None
    trail_pct: Decimal | None = None
    trail: Decimal | None = None
    trail_after_tp: int | None = None
    # each level's price and size fixed at the fill (`services.engine.scaling.Scaled`); empty for a
    # plan stored before that (then an absolute `tp` list is the best guess of the prices)
    prices: tuple[Decimal, ...] = ()

    @property
    def level_prices(self) -> tuple[Decimal, ...]:
        """The price of each level the position has (levels merged at the fill are not counted)."""
        if self.prices:
            return self.prices
        return self.targets if self.kind == "tp" else ()

    @property
    def trails(self) -> bool:
        """Whether the plan has a trailing stop (by percent or by distance)."""
        return self.trail_pct is not None or self.trail is not None


@dataclass(frozen=True)
class LevelView:
    """One take-profit level: its latest order's price, size, filled size and state."""

    n: int
    price: Decimal | None
    size: Decimal | None
    filled: Decimal
    state: str  # one of LEVEL_STATES


@dataclass(frozen=True)
class StopStep:
    """One line of the stop's history: the initial stop, or a move (whatever its outcome)."""

    at: datetime
    old_price: Decimal | None
    new_price: Decimal | None
    reason: str  # INITIAL, BREAK_EVEN, TRAIL, RESIZE
    outcome: str  # MOVED (the initial stop: placed), PLACING, DEFERRED, FAILED
    detail: str | None = None


@dataclass(frozen=True)
class ScaleView:
    """A scaled position as shown: plan, levels, the live stop, break-even, trailing, history."""

    plan: ScalePlan
    levels: tuple[LevelView, ...]
    stop: Decimal | None
    break_even: bool
    trailing: bool
    trail_best: Decimal | None
    history: tuple[StopStep, ...]
    tick_size: Decimal | None = None
    step_size: Decimal | None = None

    @property
    def filled_levels(self) -> int:
        """How many levels are completely filled."""
        return sum(1 for level in self.levels if level.state == "filled")

    def to_json(self) -> dict[str, object]:
        """JSON-ready: prices on the tick and sizes on the step as strings, times as ISO 8601."""
        price, size = self._price, self._size
        plan = self.plan
        return {
            "plan": {
                "kind": plan.kind,
                # as the trader gave them: prices, percents or reward:risk multiples
                "targets": [format(t, "f") for t in plan.targets],
                "prices": [price(t) for t in plan.level_prices],
                "split": [format(s, "f") for s in plan.split],
                "be_after_tp": plan.be_after_tp,
                "trail_pct": format(plan.trail_pct, "f") if plan.trail_pct is not None else None,
                "trail": price(plan.trail),
                "trail_after_tp": plan.trail_after_tp,
            },
            "levels": [
                {
                    "n": lv.n,
                    "price": price(lv.price),
                    "size": size(lv.size),
                    "filled": size(lv.filled),
                    "state": lv.state,
                }
                for lv in self.levels
            ],
            "stop": price(self.stop),
            "break_even": self.break_even,
            "trailing": self.trailing,
            "trail_best": price(self.trail_best),
            "history": [
                {
                    "at": step.at.isoformat(),
                    "from": price(step.old_price),
                    "to": price(step.new_price),
                    "reason": step.reason,
                    "outcome": step.outcome,
                    "detail": step.detail,
                }
                for step in self.history
            ],
        }

    def _price(self, value: Decimal | None) -> str | None:
        return None if value is None else format(on_grid_nearest(value, self.tick_size), "f")

    def _size(self, value: Decimal | None) -> str | None:
        return None if value is None else format(on_grid_nearest(value, self.step_size), "f")


def _decimal(value: object) -> Decimal | None:
    if value is None or isinstance(value, bool | float):
        return None
    try:
        number = Decimal(str(value).strip())
    except InvalidOperation:
        return None
    return number if number.is_finite() else None


def _decimals(values: list[object]) -> tuple[Decimal, ...] | None:
    """Every item as a number, or None when one is not."""
    numbers = [_decimal(v) for v in values]
    return tuple(n for n in numbers if n is not None) if None not in numbers else None


def _int(value: object) -> int | None:
    # the plan stores every value as a string ("1"); a number is read too
    if isinstance(value, str) and value.strip().isdigit():
        return int(value)
    return value if isinstance(value, int) and not isinstance(value, bool) else None


def parse_plan(text: str | None) -> ScalePlan | None:
    """The stored plan, or None when there is none or it cannot be read (then the position is shown
    as a single-target one: a bad row must not break the dashboard)."""
    if not text:
        return None
    try:
        raw = json.loads(text)
    except ValueError:
        return None
    if not isinstance(raw, dict) or not isinstance(raw.get("targets"), list):
        return None
    managed = raw["targets"] or raw.get("be_after_tp") or raw.get("trail_pct") or raw.get("trail")
    if not managed:
        return None  # nothing to show beyond a plain position
    targets = _decimals(raw["targets"])
    prices_raw = raw.get("prices")
    prices = _decimals(prices_raw) if isinstance(prices_raw, list) else ()
    split_raw = raw.get("split")
    split = _decimals(split_raw) if isinstance(split_raw, list) else ()
    if targets is None or split is None or prices is None:
        return None
    kind = raw.get("kind")
    return ScalePlan(
        kind=kind if isinstance(kind, str) else None,
        targets=targets,
        split=split,
        be_after_tp=_int(raw.get("be_after_tp")),
        trail_pct=_decimal(raw.get("trail_pct")),
        trail=_decimal(raw.get("trail")),
        trail_after_tp=_int(raw.get("trail_after_tp")),
        prices=prices,
    )


def _level_state(latest: Order, replaced: bool) -> str:
    status = latest.status
    if status == OrderStatus.FILLED.value:
        return "filled"
    if status == OrderStatus.PARTIALLY_FILLED.value:
        return "part-filled"
    if status in _ENDED:
        return "part-filled" if latest.filled_size > 0 else "cancelled"
    # PENDING: sent, not yet seen live; a level with an earlier order is being re-placed
    if status == OrderStatus.PENDING.value and replaced:
        return "re-placing"
    return "waiting"


def level_views(plan: ScalePlan, take_profits: Sequence[Order]) -> tuple[LevelView, ...]:
    """Each level of the plan from its orders (oldest first): the latest order of a level is its
    current state; a level without an order yet shows the plan's price, waiting."""
    by_level: dict[int, list[Order]] = defaultdict(list)
    prices = plan.level_prices
    for order in take_profits:
        if order.level is not None:
            by_level[order.level].append(order)
        elif len(prices) == 1:  # one target: its order is the plain take-profit, without a level
            by_level[1].append(order)
    views = []
    for n in sorted(set(range(1, len(prices) + 1)) | set(by_level)):
        rows = by_level.get(n)
        if not rows:
            planned = prices[n - 1] if n <= len(prices) else None
            views.append(LevelView(n, planned, None, Decimal(0), "waiting"))
            continue
        latest = rows[-1]
        views.append(
            LevelView(
                n=n,
                price=latest.trigger_price if latest.trigger_price is not None else latest.price,
                size=latest.size,
                filled=latest.filled_size,
                state=_level_state(latest, replaced=len(rows) > 1),
            )
        )
    return tuple(views)


def stop_history(first_stop: Order | None, moves: Iterable[StopMove]) -> tuple[StopStep, ...]:
    """The initial stop (the first STOP_LOSS order's trigger), then every move, oldest first."""
    steps = []
    if first_stop is not None:
        steps.append(StopStep(first_stop.created_at, None, first_stop.trigger_price, INITIAL, "MOVED"))
    for move in sorted(moves, key=lambda m: (m.created_at, m.id or 0)):
        steps.append(
            StopStep(move.created_at, move.old_price, move.new_price, move.reason, move.outcome, move.detail)
        )
    return tuple(steps)


def scale_view(position: Position, orders: Sequence[Order], moves: Sequence[StopMove]) -> ScaleView | None:
    """One position's view from its rows (orders oldest first); None without a readable plan."""
    plan = parse_plan(position.scale_plan)
    if plan is None:
        return None
    take_profits = [o for o in orders if o.role == OrderRole.TAKE_PROFIT.value]
    stops = [o for o in orders if o.role == OrderRole.STOP_LOSS.value]
    history = stop_history(stops[0] if stops else None, moves)
    return ScaleView(
        plan=plan,
        levels=level_views(plan, take_profits),
        stop=position.sl_price,
        break_even=any(m.reason == "BREAK_EVEN" and m.outcome == "MOVED" for m in moves),
        # trailing has started once the monitor keeps a best price (`Position.trail_best`)
        trailing=plan.trails and position.trail_best is not None,
        trail_best=position.trail_best,
        history=history,
        tick_size=position.tick_size,
        step_size=position.step_size,
    )


async def levels_for(user: str, position_ids: Iterable[int]) -> dict[int, ScaleView]:
    """The scale view of each of `user`'s positions among `position_ids` that has a plan.

    Positions of other users, unknown ids and positions without a (readable) plan are left out.
    Two queries whatever the number of positions.
    """
    ids = sorted(set(position_ids))
    if not ids:
        return {}
    roles = (OrderRole.TAKE_PROFIT.value, OrderRole.STOP_LOSS.value)
    query = (
        select(Position, Order)
        .outerjoin(
            Order,
            and_(
                col(Order.position_id) == Position.id,
                col(Order.user_address) == user,
                col(Order.role).in_(roles),
            ),
        )
        .where(
            Position.user_address == user,
            col(Position.id).in_(ids),
            col(Position.scale_plan).is_not(None),
        )
        .order_by(col(Position.id), col(Order.id))
    )
    async with session_scope() as session:
        pairs = (await session.exec(query)).all()
        positions: dict[int, Position] = {}
        orders: dict[int, list[Order]] = defaultdict(list)
        for position, order in pairs:
            positions[position.id or 0] = position
            if order is not None:
                orders[position.id or 0].append(order)
        moves: dict[int, list[StopMove]] = defaultdict(list)
        if positions:
            rows = await session.exec(
                select(StopMove).where(
                    StopMove.user_address == user, col(StopMove.position_id).in_(list(positions))
                )
            )
            for move in rows.all():
                moves[move.position_id].append(move)
    views = {}
    for pid, position in positions.items():
        view = scale_view(position, orders[pid], moves[pid])
        if view is not None:
            views[pid] = view
    return views
