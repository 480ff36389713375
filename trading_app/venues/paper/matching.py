"""The paper exchange's rules as pure functions: grid checks, fills, triggers, netting, margin.

No I/O here, so every rule can be tested on its own. Sizes are positive; positions are signed
(negative is short).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from decimal import ROUND_HALF_EVEN, Decimal

from trading_app.domain.enums import OrderType, Side
from trading_app.venues.base import MarketSpec
from trading_app.venues.errors import OrderRejected
from trading_app.venues.paper.book import OrderBook

USDC_QUANTUM = Decimal("0.000001")
STORE_QUANTUM = Decimal("1e-18")
DEFAULT_IMF = Decimal("0.05")  # when a market does not say: 20x

Plan = list[tuple[Decimal, Decimal]]  # (price, size) executions


def stored(value: Decimal) -> Decimal:
    """Round a derived figure (average, PnL) to the 18 decimals the Money column keeps.

    Both databases then hold the very same value, so reads agree across SQLite and PostgreSQL.
    """
    return value.quantize(STORE_QUANTUM, ROUND_HALF_EVEN)


def fee_for(price: Decimal, size: Decimal, rate: Decimal) -> Decimal:
    """The fee of one execution, in USDC quanta (1e-6), which is what collateral settles in."""
    return (price * size * rate).quantize(USDC_QUANTUM, ROUND_HALF_EVEN)


def require_on_grid(value: object, unit: Decimal, what: str) -> Decimal:
    """Return `value` if it is a positive Decimal multiple of `unit`.

    Raises:
        OrderRejected: not a Decimal, not positive, or off the grid (it is never rounded here).
    """
    if not isinstance(value, Decimal) or not value.is_finite():
        raise OrderRejected(f"{what} must be a finite Decimal, got {type(value).__name__}")
    if value <= 0:
        raise OrderRejected(f"{what} must be positive, got {value}")
    if value % unit != 0:
        raise OrderRejected(f"{what} {value} is not a multiple of {unit}")
    return value


def within_worst(side: Side, price: Decimal, worst: Decimal) -> bool:
    """A BUY pays at most `worst`; a SELL receives at least `worst`."""
    return price <= worst if side is Side.BUY else price >= worst


def walk_book(side: Side, size: Decimal, worst: Decimal, book: OrderBook) -> Plan:
    """Take liquidity level by level up to `size`, never past `worst`; the rest is not filled."""
    plan: Plan = []
    remaining = size
    for price, available in book.asks if side is Side.BUY else book.bids:
        if remaining <= 0 or not within_worst(side, price, worst):
            break
        take = min(available, remaining)
        plan.append((price, take))
        remaining -= take
    return plan


def oracle_plan(side: Side, size: Decimal, worst: Decimal, oracle: Decimal) -> Plan:
    """Without a book: everything at the oracle price, or nothing if that is past `worst`."""
    return [(oracle, size)] if within_worst(side, oracle, worst) else []


def is_triggered(order_type: OrderType, side: Side, trigger: Decimal, price: Decimal) -> bool:
    """Whether a conditional order fires at `price` (dYdX triggers on the oracle price).

    A stop SELL (protecting a long) fires at or below its trigger, a take-profit SELL at or above;
    BUY orders (protecting a short) mirror that.
    """
    falling = (order_type is OrderType.STOP_MARKET) == (side is Side.SELL)
    return price <= trigger if falling else price >= trigger


def limit_crossed(side: Side, limit: Decimal, price: Decimal) -> bool:
    """A resting BUY fills once the price is at or below its limit; a SELL at or above."""
    return price <= limit if side is Side.BUY else price >= limit


def reducible(position: Decimal, side: Side, size: Decimal) -> Decimal:
    """How much of a reduce-only order may execute: never more than closes the position."""
    if side is Side.SELL and position > 0:
        return min(size, position)
    if side is Side.BUY and position < 0:
        return min(size, -position)
    return Decimal(0)


@dataclass(frozen=True)
class Netted:
    """A position after one execution."""

    size: Decimal
    entry_price: Decimal
    realized_pnl: Decimal


def net(position: Decimal, entry: Decimal, side: Side, size: Decimal, price: Decimal) -> Netted:
    """Apply one execution to a signed position: average in when adding, realize when reducing."""
    delta = size if side is Side.BUY else -size
    new_size = position + delta
    if position == 0 or (position > 0) == (delta > 0):
        average = (abs(position) * entry + size * price) / abs(new_size)
        return Netted(new_size, stored(average), Decimal(0))
    closed = min(size, abs(position))
    direction = 1 if position > 0 else -1
    realized = stored(closed * (price - entry) * direction)
    if new_size == 0:
        return Netted(new_size, Decimal(0), realized)
    flipped = (new_size > 0) != (position > 0)
    return Netted(new_size, price if flipped else entry, realized)


def unrealized(size: Decimal, entry: Decimal, price: Decimal) -> Decimal:
    return size * (price - entry)


def margin_figures(
    collateral: Decimal, positions: Iterable[tuple[str, Decimal, Decimal]], specs: dict[str, MarketSpec]
) -> tuple[Decimal, Decimal, Decimal]:
    """Return (equity, free collateral, total unrealized PnL) at the oracle prices.

    Equity is collateral plus unrealized PnL; free collateral is equity minus the initial margin
    (|size| x oracle x initial margin fraction) of every open position.
    """
    pnl = Decimal(0)
    margin = Decimal(0)
    for ticker, size, entry in positions:
        if size == 0:
            continue
        spec = specs[ticker]
        pnl += unrealized(size, entry, spec.oracle_price)
        margin += abs(size) * spec.oracle_price * (spec.initial_margin_fraction or DEFAULT_IMF)
    equity = collateral + pnl
    return equity, equity - margin, pnl
