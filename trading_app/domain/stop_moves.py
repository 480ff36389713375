"""Moving the stop of a position that scales out: break-even after a level fills, and trailing.

Pure arithmetic on the tick (through `domain.quantize`); `domain.scale_out` re-exports it and the
engine decides when to call it. A stop only ever tightens, and only by at least `min_step`: every
move is a new stateful order on dYdX, allowed 2 per block and 20 per 100 blocks per account
(`max_stateful_orders_per_n_blocks`, v4-chain proto/dydxprotocol/clob/block_rate_limit_config.proto,
values from protocol/testing/genesis.sh).
"""

from __future__ import annotations

from decimal import Decimal
from typing import TYPE_CHECKING

from trading_app.domain.enums import PositionSide
from trading_app.domain.quantize import PriceRounding, quantize_price

if TYPE_CHECKING:
    from trading_app.domain.scale_out import ScalePlan

__all__ = ["break_even_stop", "min_step", "trail_stop", "worth_moving"]

_HUNDRED = Decimal(100)
_ZERO = Decimal(0)


def break_even_stop(
    side: PositionSide, entry: Decimal, entry_fee_per_unit: Decimal, exit_fee_rate: Decimal, tick: Decimal
) -> Decimal:
    """The stop at which closing the rest nets zero after fees.

    A long sells at P and pays the taker fee r*P, so it nets zero when P*(1 - r) = E + f:
    P = (E + f) / (1 - r), rounded UP to the tick; a short buys back at P paying r*P, so
    P = (E - f) / (1 + r), rounded DOWN. Rounding is away from a loss. The result can be beyond
    the current price (fees larger than the move so far): the caller checks before placing it.

    Args:
        side: The position's direction.
        entry: The average entry price.
        entry_fee_per_unit: The entry's fees divided by its size (negative for a rebate).
        exit_fee_rate: The taker fee rate of the stop's fill (0.0005 for 5 bps), in [0, 1).
        tick: The market's tick size.

    Raises:
        ValueError: a non-positive entry or a fee rate outside [0, 1).
        RiskRejected: INVALID_PRICE when the price is not positive.
    """
    if not entry.is_finite() or entry <= 0:
        raise ValueError(f"entry must be positive, got {entry}")
    if not exit_fee_rate.is_finite() or not _ZERO <= exit_fee_rate < 1:
        raise ValueError(f"exit fee rate must be in [0, 1), got {exit_fee_rate}")
    if not entry_fee_per_unit.is_finite():
        raise ValueError(f"entry fee per unit must be finite, got {entry_fee_per_unit}")
    if side is PositionSide.LONG:
        return quantize_price((entry + entry_fee_per_unit) / (1 - exit_fee_rate), tick, PriceRounding.UP)
    return quantize_price((entry - entry_fee_per_unit) / (1 + exit_fee_rate), tick, PriceRounding.DOWN)


def _distance(plan: ScalePlan, price: Decimal) -> Decimal:
    if plan.trail is not None:
        return plan.trail
    if plan.trail_pct is not None:
        return price * plan.trail_pct / _HUNDRED
    raise ValueError("the plan has no trailing stop")


def trail_stop(side: PositionSide, best: Decimal, plan: ScalePlan, tick: Decimal) -> Decimal:
    """The trailing stop for the best price seen since trailing started.

    `best - distance` for a long, `best + distance` for a short, on the tick rounded away from the
    best price (never tighter than asked); the distance is `trail`, or `best * trail_pct / 100`.

    Raises:
        ValueError: the plan has no trailing stop.
        RiskRejected: INVALID_PRICE when the stop would not be a positive price.
    """
    distance = _distance(plan, best)
    if side is PositionSide.LONG:
        return quantize_price(best - distance, tick, PriceRounding.DOWN)
    return quantize_price(best + distance, tick, PriceRounding.UP)


def min_step(plan: ScalePlan, price: Decimal, tick: Decimal) -> Decimal:
    """The smallest stop move worth an order: a quarter of the trail distance, at least one tick.

    Every move is a cancel and a new stateful order, and dYdX allows about 20 stateful
    placements per 100 blocks per account (see the module's docstring); a quarter keeps a
    trailing stop within 25 % of its distance of ideal for a quarter of the moves' cost.
    Without a trailing distance it is one tick.
    """
    if not plan.trailing:
        return tick
    quarter = _distance(plan, price) / 4
    return max(quantize_price(quarter, tick, PriceRounding.UP), tick)


def worth_moving(
    side: PositionSide, current: Decimal | None, candidate: Decimal, *, min_step: Decimal
) -> bool:
    """Whether to move the stop from `current` to `candidate`: only tightening (a long's stop up,
    a short's down), by at least `min_step`. With no stop yet (`current` None) any candidate is."""
    if current is None:
        return True
    gain = candidate - current if side is PositionSide.LONG else current - candidate
    return gain > 0 and gain >= min_step
