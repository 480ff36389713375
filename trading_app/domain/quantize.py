"""The one place sizes and prices are put on a market's grid, and turned into dYdX units.

Everything here is exact `Decimal` arithmetic. The official client multiplies binary
floats and loses a whole step or tick on ordinary values (0.0003 BTC becomes 0.0002,
ETH 32.3 becomes 32.2); nothing in this module ever goes through a float.

Rounding rules:
- sizes round DOWN to the step: we never trade more than asked, and a size that falls
  below the market minimum is refused rather than silently raised to it;
- limit and trigger prices round to the NEAREST tick unless a direction is stated;
- worst prices (slippage bounds) round AWAY from the market: a BUY's worst price up, a
  SELL's down, so rounding never eats into the slippage the trader allowed.

dYdX units live here and nowhere else: this module converts sizes and prices to
quantums and subticks and back, and decides what is on the grid and what fits the
chain. The dYdX venue (`venues/dydx/encoding.py`) calls it and only turns a refusal
into a venue error. The conversions follow the indexer's `protocol-translations.ts`:
`stepSize = stepBaseQuantums * 10^atomicResolution`,
`tickSize = subticksPerTick * 10^(quantumConversionExponent - 6 - atomicResolution)`,
so `quantums = size * 10^-atomicResolution` and
`subticks = price * 10^(atomicResolution - quantumConversionExponent + 6)`.
"""

from __future__ import annotations

from decimal import ROUND_DOWN, Context, Decimal
from enum import StrEnum
from typing import Protocol

from trading_app.domain.enums import Side
from trading_app.domain.errors import RejectReason, RiskRejected

# Wide enough that every division and product below is exact for any sane value
_EXACT = Context(prec=80)
_HUNDRED = Decimal(100)
# USDC has 6 decimals on dYdX: the "+ 6" in the subticks exponent
_QUOTE_DECIMALS = 6
USDC_QUANTUM = Decimal(1).scaleb(-_QUOTE_DECIMALS)
# Order.quantums, Order.subticks and the trigger subticks are uint64 on the chain
# (v4-chain proto/dydxprotocol/clob/order.proto)
MAX_UNITS = 2**64 - 1


class PriceRounding(StrEnum):
    """Direction a price is moved onto the tick grid."""

    NEAREST = "nearest"  # halves go up
    UP = "up"
    DOWN = "down"


class DydxUnits(Protocol):
    """The raw dYdX market fields needed for quantums and subticks (`MarketSpec` has them)."""

    @property
    def atomic_resolution(self) -> int: ...

    @property
    def step_base_quantums(self) -> int: ...

    @property
    def subticks_per_tick(self) -> int: ...

    @property
    def quantum_conversion_exponent(self) -> int: ...


def _require_positive(value: Decimal, what: str, reason: RejectReason) -> None:
    if not isinstance(value, Decimal):
        # a float here means binary rounding already happened upstream
        raise TypeError(f"{what} must be a Decimal, not {type(value).__name__}")
    if not value.is_finite() or value <= 0:
        raise RiskRejected(reason, f"{what} must be a positive finite number, got {value}")


def _snap(value: Decimal, increment: Decimal, mode: PriceRounding) -> Decimal:
    count, remainder = _EXACT.divmod(value, increment)
    round_up = mode is PriceRounding.UP or (mode is PriceRounding.NEAREST and remainder * 2 >= increment)
    if remainder and round_up:
        count += 1
    # show the grid's own precision ("3150.0" on a 0.1 tick), never scientific notation
    places = Decimal(1).scaleb(min(int(increment.as_tuple().exponent), 0))
    return _EXACT.multiply(count, increment).quantize(places, context=_EXACT)


def on_grid(value: Decimal, increment: Decimal) -> bool:
    """Whether `value` is an exact multiple of `increment` (a step or a tick)."""
    if not value.is_finite() or not increment.is_finite() or increment <= 0:
        return False
    return _EXACT.remainder(value, increment) == 0


def quantize_size(size: Decimal, step: Decimal, *, minimum: Decimal | None = None) -> Decimal:
    """Round a size down to a multiple of `step`.

    Args:
        size: The wanted size in base units (e.g. BTC).
        step: The market's step size.
        minimum: The smallest tradable size; defaults to `step` (dYdX has no other minimum).

    Returns:
        The largest multiple of `step` that is <= `size`.

    Raises:
        RiskRejected: INVALID_SIZE for NaN, infinite, zero or negative sizes or steps;
            SIZE_BELOW_MINIMUM when the rounded size is below `minimum`.
    """
    _require_positive(step, "step size", RejectReason.INVALID_SIZE)
    _require_positive(size, "size", RejectReason.INVALID_SIZE)
    result = _snap(size, step, PriceRounding.DOWN)
    floor = step if minimum is None else minimum
    if result < floor:
        detail = f"size {_digits(size)} is below the minimum {floor}"
        raise RiskRejected(RejectReason.SIZE_BELOW_MINIMUM, detail)
    return result


def _digits(size: Decimal) -> str:
    # a size computed from size_usd or risk_pct has ~28 digits; the trader reads three (rounded
    # down, so a size just below the minimum never reads as the minimum)
    short = size.quantize(Decimal(1).scaleb(size.adjusted() - 2), rounding=ROUND_DOWN)
    return f"{short.normalize():f}"


def on_grid_nearest(value: Decimal, increment: Decimal | None) -> Decimal:
    """`value` at the nearest multiple of `increment`, written with the grid's own decimals.

    For numbers that are shown or reported rather than traded: an average entry or exit price
    (stored on the tick), a mark price, a size in an API answer. Unlike `quantize_price` it
    refuses nothing: zero and negative values round the same way (halves away from zero), and
    an unknown or unusable `increment` (None, zero, NaN) leaves the value as it is.

    Args:
        value: Any finite Decimal (a non-finite value is returned unchanged).
        increment: The market's tick (prices) or step (sizes), or the money quantum.

    Returns:
        E.g. `187.50` for 187.4999248 on a 0.01 tick, `3000.0` for 3000 on a 0.1 tick.
    """
    if increment is None or not increment.is_finite() or increment <= 0 or not value.is_finite():
        return value
    snapped = _snap(abs(value), increment, PriceRounding.NEAREST)
    return -snapped if value < 0 and snapped else snapped  # never "-0.00"


def to_usdc(amount: Decimal) -> Decimal:
    """A USD amount on the USDC quantum (6 decimals), the exchange's own precision.

    What a trade really makes is a whole number of USDC quantums (fill prices on the tick times
    sizes on the step, fees in quantums); an amount computed through average prices carries a
    division's tail (`-2.45430600000000000081`), which this removes exactly.
    """
    return on_grid_nearest(amount, USDC_QUANTUM)


def close_size(size: Decimal, step: Decimal) -> Decimal:
    """Round a closing size UP to the step.

    Only for reduce-only orders: the venue caps them at the position, so rounding up can
    never open anything, while rounding down would leave dust open.

    Raises:
        RiskRejected: INVALID_SIZE for NaN, infinite, zero or negative sizes or steps.
    """
    _require_positive(step, "step size", RejectReason.INVALID_SIZE)
    _require_positive(size, "size", RejectReason.INVALID_SIZE)
    return _snap(size, step, PriceRounding.UP)


def quantize_price(price: Decimal, tick: Decimal, rounding: PriceRounding = PriceRounding.NEAREST) -> Decimal:
    """Move a limit or trigger price onto the tick grid.

    Args:
        price: The wanted price.
        tick: The market's tick size.
        rounding: Nearest tick (default), or always up or down.

    Returns:
        A positive multiple of `tick`.

    Raises:
        RiskRejected: INVALID_PRICE for NaN, infinite or non-positive values, or a price
            that rounds to zero.
    """
    _require_positive(tick, "tick size", RejectReason.INVALID_PRICE)
    _require_positive(price, "price", RejectReason.INVALID_PRICE)
    result = _snap(price, tick, rounding)
    if result <= 0:
        raise RiskRejected(RejectReason.INVALID_PRICE, f"price {price} is below one tick ({tick})")
    return result


def round_away_from_market(price: Decimal, side: Side, tick: Decimal) -> Decimal:
    """Snap a worst price onto the grid without narrowing it: BUY rounds up, SELL down.

    A SELL bound below one tick becomes one tick, the most permissive price the venue accepts.

    Raises:
        RiskRejected: INVALID_PRICE for NaN, infinite or non-positive values.
    """
    _require_positive(tick, "tick size", RejectReason.INVALID_PRICE)
    _require_positive(price, "worst price", RejectReason.INVALID_PRICE)
    rounding = PriceRounding.UP if side is Side.BUY else PriceRounding.DOWN
    result = _snap(price, tick, rounding)
    return result if result > 0 else _snap(tick, tick, rounding)


def slippage_bound(reference: Decimal, side: Side, slippage_pct: Decimal, tick: Decimal) -> Decimal:
    """Worst acceptable execution price `slippage_pct` percent beyond `reference`, on the grid.

    Args:
        reference: The price slippage is measured from (oracle price or trigger price).
        side: The order's side: BUY pays up to reference * (1 + pct), SELL accepts down to
            reference * (1 - pct).
        slippage_pct: Percent, 0 <= pct < 100 (1 means 1 %).
        tick: The market's tick size.

    Raises:
        RiskRejected: INVALID_PRICE for a bad reference or tick, INVALID_SETTINGS for a
            slippage outside [0, 100).
    """
    _require_positive(reference, "reference price", RejectReason.INVALID_PRICE)
    if not slippage_pct.is_finite() or not 0 <= slippage_pct < _HUNDRED:
        raise RiskRejected(
            RejectReason.INVALID_SETTINGS, f"slippage must be in [0, 100) percent, got {slippage_pct}"
        )
    factor = (_HUNDRED + slippage_pct if side is Side.BUY else _HUNDRED - slippage_pct) / _HUNDRED
    return round_away_from_market(_EXACT.multiply(reference, factor), side, tick)


def _integral(value: Decimal, what: str) -> int:
    if value != value.to_integral_value():
        raise RiskRejected(RejectReason.OFF_GRID, f"{what} is not a whole number of units")
    return int(value)


def _require_units(market: DydxUnits) -> None:
    # a spec that did not come from the dYdX indexer (paper, hand-built) has zeros here
    if market.step_base_quantums <= 0 or market.subticks_per_tick <= 0:
        raise RiskRejected(RejectReason.UNKNOWN_MARKET, "the market has no dYdX quantum fields")


def _fits(units: int, what: str, reason: RejectReason) -> int:
    if units > MAX_UNITS:
        raise RiskRejected(reason, f"{what} is too large for the chain")
    return units


def to_quantums(size: Decimal, market: DydxUnits) -> int:
    """Exact base quantums for a size already on the step grid.

    Raises:
        RiskRejected: OFF_GRID when the size is not a positive multiple of the step (the
            venue must refuse such values rather than round them); INVALID_SIZE for
            NaN, infinite or non-positive sizes and for sizes beyond the chain's uint64;
            UNKNOWN_MARKET when the market lacks its dYdX quantum fields.
    """
    _require_units(market)
    _require_positive(size, "size", RejectReason.INVALID_SIZE)
    quantums = _integral(size.scaleb(-market.atomic_resolution, context=_EXACT), f"size {size}")
    if quantums % market.step_base_quantums:
        raise RiskRejected(RejectReason.OFF_GRID, f"size {size} is not a multiple of the step")
    return _fits(quantums, f"size {size}", RejectReason.INVALID_SIZE)


def to_subticks(price: Decimal, market: DydxUnits) -> int:
    """Exact subticks for a limit, worst or trigger price already on the tick grid.

    Raises:
        RiskRejected: OFF_GRID when the price is not a positive multiple of the tick;
            INVALID_PRICE for NaN, infinite or non-positive prices and for prices beyond
            the chain's uint64; UNKNOWN_MARKET when the market lacks its dYdX quantum fields.
    """
    _require_units(market)
    _require_positive(price, "price", RejectReason.INVALID_PRICE)
    subticks = _integral(price.scaleb(_subticks_exponent(market), context=_EXACT), f"price {price}")
    if subticks % market.subticks_per_tick:
        raise RiskRejected(RejectReason.OFF_GRID, f"price {price} is not a multiple of the tick")
    return _fits(subticks, f"price {price}", RejectReason.INVALID_PRICE)


def from_quantums(quantums: int, market: DydxUnits) -> Decimal:
    """The size in base units that `quantums` stands for."""
    return _tidy(Decimal(quantums).scaleb(market.atomic_resolution, context=_EXACT))


def from_subticks(subticks: int, market: DydxUnits) -> Decimal:
    """The price in USD that `subticks` stands for."""
    return _tidy(Decimal(subticks).scaleb(-_subticks_exponent(market), context=_EXACT))


def step_size_of(market: DydxUnits) -> Decimal:
    """The step size implied by the raw fields (equals the indexer's `stepSize`)."""
    return from_quantums(market.step_base_quantums, market)


def tick_size_of(market: DydxUnits) -> Decimal:
    """The tick size implied by the raw fields (equals the indexer's `tickSize`)."""
    return from_subticks(market.subticks_per_tick, market)


def _tidy(value: Decimal) -> Decimal:
    # drop trailing zeros but keep plain notation: 65000, not 6.5E+4
    value = value.normalize(context=_EXACT)
    return value if int(value.as_tuple().exponent) <= 0 else value.quantize(Decimal(1), context=_EXACT)


def _subticks_exponent(market: DydxUnits) -> int:
    return market.atomic_resolution - market.quantum_conversion_exponent + _QUOTE_DECIMALS
