"""Profit and loss of positions, average prices, and the dashboard's trade summary.

Conventions: sizes are positive base units, the position's direction is its `PositionSide`;
a fee is positive when paid and negative for a rebate (as in `venues.base.Fill`);
"realized PnL" always means net of the fees of both legs.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from decimal import Decimal
from typing import Protocol

from trading_app.domain.enums import PositionSide

_ZERO = Decimal(0)


def _check_size(size: Decimal) -> None:
    if not size.is_finite() or size < 0:
        raise ValueError(f"size must be a non-negative finite number, got {size}")


def gross_pnl(side: PositionSide, entry_price: Decimal, exit_price: Decimal, size: Decimal) -> Decimal:
    """Price difference times size, before fees: positive when the move favoured the position."""
    _check_size(size)
    move = exit_price - entry_price if side is PositionSide.LONG else entry_price - exit_price
    return move * size


def realized_pnl(
    side: PositionSide,
    entry_price: Decimal,
    exit_price: Decimal,
    size: Decimal,
    *,
    entry_fee: Decimal = _ZERO,
    exit_fee: Decimal = _ZERO,
) -> Decimal:
    """Net result of a closed position (or of the closed part of one).

    Args:
        side: LONG or SHORT.
        entry_price: Average entry fill price.
        exit_price: Average exit fill price.
        size: Size closed, in base units.
        entry_fee: Fees paid on the entry leg (negative for a rebate).
        exit_fee: Fees paid on the exit leg.

    Returns:
        Gross PnL minus both legs' fees, in USD.
    """
    return gross_pnl(side, entry_price, exit_price, size) - entry_fee - exit_fee


def unrealized_pnl(side: PositionSide, entry_price: Decimal, mark_price: Decimal, size: Decimal) -> Decimal:
    """What the open position would make if closed at `mark_price`, before exit fees."""
    return gross_pnl(side, entry_price, mark_price, size)


def average_price(fills: Iterable[tuple[Decimal, Decimal]]) -> Decimal:
    """Size-weighted average price of `(size, price)` fills.

    Raises:
        ValueError: no fills, or a total size of zero.
    """
    total_size = _ZERO
    total_value = _ZERO
    for size, price in fills:
        _check_size(size)
        total_size += size
        total_value += size * price
    if total_size == 0:
        raise ValueError("average price of no size")
    return total_value / total_size


def average_entry(
    current_size: Decimal, current_price: Decimal, add_size: Decimal, add_price: Decimal
) -> Decimal:
    """Entry price after adding `add_size` at `add_price` to a position of the same side."""
    return average_price([(current_size, current_price), (add_size, add_price)])


class ClosedTrade(Protocol):
    """What the summary reads from a closed position (a `positions` row fits)."""

    @property
    def realized_pnl(self) -> Decimal | None: ...

    @property
    def fees(self) -> Decimal: ...


@dataclass(frozen=True)
class TradeSummary:
    """Totals over closed trades. A trade with exactly zero net PnL is neither a win nor a loss."""

    trades: int
    wins: int
    losses: int
    realized_total: Decimal
    fees_total: Decimal

    @property
    def breakeven(self) -> int:
        return self.trades - self.wins - self.losses

    @property
    def win_rate_pct(self) -> Decimal | None:
        """Wins as a percent of all closed trades, to 0.01; None before the first trade."""
        if self.trades == 0:
            return None
        return (Decimal(self.wins) * 100 / self.trades).quantize(Decimal("0.01"))


def summarize(trades: Iterable[ClosedTrade]) -> TradeSummary:
    """Count wins and losses and total realized PnL and fees over closed trades.

    Trades whose books are not complete (`realized_pnl` is None, e.g. a position that
    failed before filling) are skipped.
    """
    count = wins = losses = 0
    realized = fees = _ZERO
    for trade in trades:
        if trade.realized_pnl is None:
            continue
        count += 1
        realized += trade.realized_pnl
        fees += trade.fees
        if trade.realized_pnl > 0:
            wins += 1
        elif trade.realized_pnl < 0:
            losses += 1
    return TradeSummary(trades=count, wins=wins, losses=losses, realized_total=realized, fees_total=fees)
