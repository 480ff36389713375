"""Scaling out, the pure part: take-profit levels, how the position is split over them, the
break-even stop and the trailing stop.

The engine places every level as an exchange-side reduce-only order and moves the stop; this
module only computes. Prices go on the tick and sizes on the step through `domain.quantize`.

Decisions:
- levels are measured from the average fill like the single target (`domain.levels`): level 1
  is exactly the target `levels_from_fill` gives (nearest tick);
- `split_sizes` never refuses: a level whose share is below one step (or the market's minimum)
  gets 0 and its share goes to the next level, so the trader still gets the trade with fewer
  levels; the last level takes the rest, so the sizes always sum to the position;
- equal parts put the rounding remainder on the first levels (3 levels: 33.34, 33.33, 33.33),
  so the level most likely to fill is never the one that is merged away;
- a stop is moved only to tighten it, and only by at least `min_step`: on dYdX every move is a
  stateful placement, and the chain allows 2 per block and 20 per 100 blocks per account
  (`max_stateful_orders_per_n_blocks` of v4-chain proto/dydxprotocol/clob/block_rate_limit_config.proto,
  values from protocol/testing/genesis.sh), so a stop that followed every tick would exhaust it
  within a minute. The stop moves themselves are `domain.stop_moves`, re-exported here.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from decimal import Decimal, InvalidOperation

from trading_app.domain.enums import PositionSide
from trading_app.domain.errors import RejectReason, RiskRejected
from trading_app.domain.quantize import on_grid_nearest, quantize_price, quantize_size
from trading_app.domain.scale_fields import MAX_LEVELS
from trading_app.domain.signals import ParsedSignal
from trading_app.domain.sizing import take_profit_price
from trading_app.domain.stop_moves import break_even_stop, min_step, trail_stop, worth_moving

__all__ = [
    "STATEFUL_PER_POSITION",
    "ScalePlan",
    "break_even_stop",
    "equal_split",
    "min_step",
    "plan_of",
    "split_sizes",
    "stored_scale_plan",
    "target_prices",
    "trail_stop",
    "worth_moving",
]

_KINDS = ("tp", "tp_pct", "rr")
_HUNDRED = Decimal(100)
_SPLIT_QUANTUM = Decimal("0.01")
_ZERO = Decimal(0)


def equal_split(levels: int) -> tuple[Decimal, ...]:
    """`levels` equal parts of 100 on 0.01, the remainder on the first levels (33.34, 33.33, 33.33)."""
    if levels <= 0:
        return ()
    base = (_HUNDRED / levels).quantize(_SPLIT_QUANTUM, rounding="ROUND_DOWN")
    extra = int((_HUNDRED - base * levels) / _SPLIT_QUANTUM)
    return tuple(base + (_SPLIT_QUANTUM if i < extra else _ZERO) for i in range(levels))


@dataclass(frozen=True)
class ScalePlan:
    """How a position is taken off: the levels as the trader gave them, and the stop's moves.

    Attributes:
        kind: "tp" (prices), "tp_pct" (percent from the fill), "rr" (multiples of the stop
            distance), or None when there is no target.
        targets: The levels as given, level 1 first.
        split: Percent of the position per level, summing to 100 (equal parts filled in).
        be_after_tp: After this level fills the stop moves to break-even; None: never.
        trail_pct, trail: The trailing distance, percent of the best price or a price distance.
        trail_after_tp: The trailing stop starts after this level fills (0: from the start);
            None: no trailing stop.

    Raises:
        ValueError: the fields do not fit together (a programming error or damaged storage).
    """

    kind: str | None
    targets: tuple[Decimal, ...]
    split: tuple[Decimal, ...]
    be_after_tp: int | None = None
    trail_pct: Decimal | None = None
    trail: Decimal | None = None
    trail_after_tp: int | None = None

    def __post_init__(self) -> None:
        if self.kind not in (*_KINDS, None) or (self.kind is None) != (not self.targets):
            raise ValueError(f"kind {self.kind!r} does not fit {len(self.targets)} targets")
        if len(self.targets) > MAX_LEVELS or len(self.split) != len(self.targets):
            raise ValueError(f"{len(self.split)} parts for {len(self.targets)} levels")
        if any(not t.is_finite() or t <= 0 for t in self.targets):
            raise ValueError("targets must be positive")
        if self.split and (any(p <= 0 for p in self.split) or sum(self.split, _ZERO) != _HUNDRED):
            raise ValueError("split parts must be positive and sum to 100")
        if self.be_after_tp is not None and not 1 <= self.be_after_tp <= self.levels:
            raise ValueError(f"be_after_tp {self.be_after_tp} is not a level")
        distances = [d for d in (self.trail_pct, self.trail) if d is not None]
        if len(distances) > 1 or any(not d.is_finite() or d <= 0 for d in distances):
            raise ValueError("give one positive trailing distance")
        if (self.trail_after_tp is None) != (not distances):
            raise ValueError("trail_after_tp goes with a trailing distance")
        if self.trail_after_tp is not None and not 0 <= self.trail_after_tp <= self.levels:
            raise ValueError(f"trail_after_tp {self.trail_after_tp} is not a level")

    @classmethod
    def single(cls, kind: str | None, target: Decimal | None) -> ScalePlan:
        """The plain plan: one level taking the whole position (or none)."""
        if kind is None or target is None:
            return cls(None, (), ())
        return cls(kind, (target,), (_HUNDRED,))

    @property
    def levels(self) -> int:
        """The number of take-profit levels."""
        return len(self.targets)

    @property
    def trailing(self) -> bool:
        """Whether the stop trails the best price at some point."""
        return self.trail_after_tp is not None

    @property
    def managed(self) -> bool:
        """Whether the engine must act after the entry: more than one level, break-even or trailing."""
        return self.levels > 1 or self.be_after_tp is not None or self.trailing

    def to_json(self) -> str:
        """JSON text of strings (and lists of strings): exact, readable back by `from_json`."""
        data: dict[str, object] = {
            "kind": self.kind,
            "targets": [str(t) for t in self.targets],
            "split": [str(p) for p in self.split],
        }
        for name in ("be_after_tp", "trail_pct", "trail", "trail_after_tp"):
            value = getattr(self, name)
            if value is not None:
                data[name] = str(value)
        return json.dumps(data)

    @classmethod
    def from_json(cls, text: str | None) -> ScalePlan:
        """The plan `to_json` wrote; a missing or unreadable text gives the plan with no target."""
        try:
            data = json.loads(text or "")
            return cls(
                kind=data["kind"],
                targets=tuple(Decimal(t) for t in data["targets"]),
                split=tuple(Decimal(p) for p in data["split"]),
                be_after_tp=_opt_int(data.get("be_after_tp")),
                trail_pct=_opt_decimal(data.get("trail_pct")),
                trail=_opt_decimal(data.get("trail")),
                trail_after_tp=_opt_int(data.get("trail_after_tp")),
            )
        except (ValueError, TypeError, KeyError, InvalidOperation):
            return cls(None, (), ())


def _opt_int(raw: object) -> int | None:
    return None if raw is None else int(str(raw))


def _opt_decimal(raw: object) -> Decimal | None:
    return None if raw is None else Decimal(str(raw))


def plan_of(signal: ParsedSignal) -> ScalePlan:
    """The scale plan of a parsed alert (a price target wins over a percent, a percent over `rr`,
    as in `LevelPlan.of`; the format refuses combinations anyway).

    Raises:
        ValueError: the signal's fields do not fit together (it did not come from `parse_signal`).
    """
    kind = next((name for name in _KINDS if getattr(signal, name) is not None), None)
    targets = () if kind is None else (getattr(signal, kind), *signal.tp_more)
    trailing = signal.trail_pct is not None or signal.trail is not None
    return ScalePlan(
        kind=kind,
        targets=targets,
        split=signal.tp_split or equal_split(len(targets)),
        be_after_tp=signal.be_after_tp,
        trail_pct=signal.trail_pct,
        trail=signal.trail if signal.trail_pct is None else None,
        trail_after_tp=(signal.trail_after_tp or 0) if trailing else None,
    )


def stored_scale_plan(parsed_json: str | None) -> ScalePlan:
    """The scale plan of a stored alert (`signals.parsed`, `ParsedSignal.to_dict` as JSON).

    An unreadable scale-out part falls back to the single first level (what `levels.stored_plan`
    reads); unreadable JSON, or no readable target, gives the plan with no target.
    """
    try:
        data = json.loads(parsed_json or "{}")
    except ValueError:
        data = None
    if not isinstance(data, dict):
        return ScalePlan(None, (), ())
    try:
        return plan_of(ParsedSignal.from_dict(data))
    except (ValueError, TypeError, InvalidOperation):
        pass
    for kind in _KINDS:
        try:
            target = Decimal(str(data[kind])) if data.get(kind) is not None else None
        except InvalidOperation:
            target = None
        if target is not None and target.is_finite() and target > 0:
            return ScalePlan.single(kind, target)
    return ScalePlan(None, (), ())


def _beyond(side: PositionSide, price: Decimal, reference: Decimal) -> bool:
    return price > reference if side is PositionSide.LONG else price < reference


def target_prices(
    side: PositionSide, fill: Decimal, tick: Decimal, plan: ScalePlan, stop: Decimal | None
) -> tuple[Decimal, ...]:
    """Every level's price on the tick (nearest), measured from `fill` for `tp_pct` and `rr`.

    Args:
        side: The position's direction.
        fill: The average fill (or, before the trade, the planned entry).
        tick: The market's tick size.
        plan: The levels.
        stop: The stop-loss on the tick (needed by `rr`: the distance is fill to stop).

    Returns:
        The prices, level 1 first; () for a plan with no target.

    Raises:
        RiskRejected: TP_WRONG_SIDE when a level is not beyond the fill, INVALID_PRICE when the
            levels are not strictly in order away from the fill (after rounding) or a price is
            not positive, STOP_REQUIRED for `rr` without a stop.
    """
    prices: list[Decimal] = []
    for number, value in enumerate(plan.targets, start=1):
        raw = take_profit_price(
            side,
            fill,
            tp=value if plan.kind == "tp" else None,
            tp_pct=value if plan.kind == "tp_pct" else None,
            rr=value if plan.kind == "rr" else None,
            stop_price=stop,
        )
        assert raw is not None  # one of the three is always given
        if raw <= 0:
            raise RiskRejected(
                RejectReason.INVALID_PRICE, f"take-profit {number} ({raw}) is not a positive price"
            )
        price = quantize_price(raw, tick)
        if not _beyond(side, price, fill):
            word = "above" if side is PositionSide.LONG else "below"
            # the entry on the tick: before the trade it is an oracle price with more digits
            detail = f"take-profit {number} at {price} is not {word} {on_grid_nearest(fill, tick)}"
            raise RiskRejected(RejectReason.TP_WRONG_SIDE, f"a {side.value.lower()} needs {detail}")
        if prices and not _beyond(side, price, prices[-1]):
            detail = f"take-profit {number} at {price} is not beyond take-profit {number - 1} at {prices[-1]}"
            raise RiskRejected(
                RejectReason.INVALID_PRICE, f"levels must be in order away from the entry: {detail}"
            )
        prices.append(price)
    return tuple(prices)


def split_sizes(
    size: Decimal, split: tuple[Decimal, ...], step: Decimal, *, minimum: Decimal | None = None
) -> tuple[Decimal, ...]:
    """The size of each level's reduce-only order.

    Each level's share (`size * part / 100` plus what earlier levels could not take) is rounded
    down to the step; a share below `minimum` gets 0 and is carried to the next level. The last
    level takes the rest, so the sizes sum exactly to `size`; a rest below `minimum` goes back to
    the last level that has a size (a position smaller than `minimum` goes whole to the last).

    Args:
        size: The position (or what is left of it) on the step.
        split: Percent per level, summing to 100.
        step: The market's step size.
        minimum: The smallest order (default: one step, dYdX's only minimum).

    Returns:
        One size per level, each a multiple of `step` or 0, never negative.

    Raises:
        ValueError: `split` is empty or does not sum to 100, or `size` is not positive.
        RiskRejected: OFF_GRID when `size` is not a multiple of `step`; INVALID_SIZE for a bad step.
    """
    if not split or sum(split, _ZERO) != _HUNDRED or any(p <= 0 for p in split):
        raise ValueError(f"split must be positive parts summing to 100, got {split}")
    if not size.is_finite() or size <= 0:
        raise ValueError(f"size must be positive, got {size}")
    floor = step if minimum is None else max(minimum, step)
    if quantize_size(size, step, minimum=step) != size:
        raise RiskRejected(RejectReason.OFF_GRID, f"size {size} is not a multiple of the step {step}")
    sizes: list[Decimal] = []
    carried = _ZERO
    for part in split[:-1]:
        share = size * part / _HUNDRED + carried
        taken = quantize_size(share, step, minimum=step) if share >= floor else _ZERO
        if taken < floor:
            taken = _ZERO
        sizes.append(taken)
        carried = share - taken
    rest = size - sum(sizes, _ZERO)
    if _ZERO < rest < floor:
        last = max((i for i, s in enumerate(sizes) if s > 0), default=None)
        if last is not None:
            sizes[last] += rest
            rest = _ZERO
    sizes.append(rest)
    return tuple(sizes)


def STATEFUL_PER_POSITION(plan: ScalePlan) -> int:  # noqa: N802 - the name the engine codes against
    """Open stateful orders one position may need at once: every level, the stop, and a second
    stop while one is being moved (placed before the old one is canceled, so it is never naked)."""
    return plan.levels + 2
