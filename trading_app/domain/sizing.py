"""Position sizes and protection prices, before they are put on a market's grid.

Everything returned here is exact but off-grid: `domain.risk` quantizes it through
`domain.quantize` when it builds the final intent, so rounding happens in one place.
Percentages are percent (2 means 2 %).
"""

from __future__ import annotations

from decimal import Decimal

from trading_app.domain.enums import PositionSide, SizeMode
from trading_app.domain.errors import RejectReason, RiskRejected

_HUNDRED = Decimal(100)


def _positive(value: Decimal, what: str, reason: RejectReason) -> None:
    if not value.is_finite() or value <= 0:
        raise RiskRejected(reason, f"{what} must be positive, got {value}")


def position_size(
    mode: SizeMode,
    value: Decimal,
    *,
    entry_price: Decimal,
    equity: Decimal,
    stop_price: Decimal | None = None,
) -> Decimal:
    """Size in base units for one sizing mode.

    - FIXED: `value` base units;
    - USD: `value` USD of notional at `entry_price`;
    - EQUITY_PCT: `value` percent of equity as notional;
    - RISK_PCT: lose `value` percent of equity if the stop is hit:
      `equity * value / 100 / |entry_price - stop_price|`.

    Args:
        mode: How `value` is meant.
        value: The amount in the mode's unit.
        entry_price: Expected entry price.
        equity: Account equity in USD (only read by the equity modes).
        stop_price: The stop-loss price (RISK_PCT only).

    Returns:
        The size, not yet rounded to the market's step.

    Raises:
        RiskRejected: INVALID_SIZE for a non-positive value, INVALID_PRICE for a bad entry
            price, INSUFFICIENT_EQUITY when an equity mode meets zero or negative equity,
            STOP_REQUIRED for RISK_PCT without a stop, SL_WRONG_SIDE for a zero stop distance.
    """
    _positive(value, f"{mode.value} size", RejectReason.INVALID_SIZE)
    _positive(entry_price, "entry price", RejectReason.INVALID_PRICE)
    if mode is SizeMode.FIXED:
        return value
    if mode is SizeMode.USD:
        return value / entry_price
    if not equity.is_finite() or equity <= 0:
        raise RiskRejected(RejectReason.INSUFFICIENT_EQUITY, f"equity is {equity}")
    budget = equity * value / _HUNDRED
    if mode is SizeMode.EQUITY_PCT:
        return budget / entry_price
    if stop_price is None:
        raise RiskRejected(RejectReason.STOP_REQUIRED, "risk_pct sizing needs a stop-loss")
    distance = abs(entry_price - stop_price)
    if distance == 0:
        raise RiskRejected(RejectReason.SL_WRONG_SIDE, "the stop-loss equals the entry price")
    return budget / distance


def stop_loss_price(
    side: PositionSide, entry_price: Decimal, *, sl: Decimal | None = None, sl_pct: Decimal | None = None
) -> Decimal | None:
    """The stop-loss: the given price, or `sl_pct` percent against the position from entry."""
    if sl is not None:
        return sl
    if sl_pct is None:
        return None
    offset = entry_price * sl_pct / _HUNDRED
    return entry_price - offset if side is PositionSide.LONG else entry_price + offset


def take_profit_price(
    side: PositionSide,
    entry_price: Decimal,
    *,
    tp: Decimal | None = None,
    tp_pct: Decimal | None = None,
    rr: Decimal | None = None,
    stop_price: Decimal | None = None,
) -> Decimal | None:
    """The take-profit: the given price, `tp_pct` percent in favour, or `rr` times the risk.

    With `rr`, `tp = entry + rr * |entry - stop|` for a long and `entry - rr * |entry - stop|`
    for a short.

    Raises:
        RiskRejected: STOP_REQUIRED when `rr` is given without a stop.
    """
    if tp is not None:
        return tp
    if tp_pct is not None:
        offset = entry_price * tp_pct / _HUNDRED
    elif rr is not None:
        if stop_price is None:
            raise RiskRejected(RejectReason.STOP_REQUIRED, "a reward:risk take-profit needs a stop-loss")
        offset = rr * abs(entry_price - stop_price)
    else:
        return None
    return entry_price + offset if side is PositionSide.LONG else entry_price - offset
