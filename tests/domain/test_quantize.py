"""Grid rounding and dYdX unit conversions, checked against the genesis BTC and ETH markets."""

from __future__ import annotations

from decimal import Decimal as D

import pytest
from hypothesis import given
from hypothesis import strategies as st

from trading_app.domain.enums import Side
from trading_app.domain.errors import RejectReason, RiskRejected
from trading_app.domain.quantize import (
    PriceRounding,
    close_size,
    from_quantums,
    from_subticks,
    on_grid_nearest,
    quantize_price,
    quantize_size,
    round_away_from_market,
    slippage_bound,
    step_size_of,
    tick_size_of,
    to_quantums,
    to_subticks,
    to_usdc,
)
from trading_app.venues.base import MarketSpec

# Raw fields from the mainnet/testnet genesis (dydx-v4.md section 8)
BTC = MarketSpec("BTC-USD", "ACTIVE", D("0.0001"), D("1"), D("65000"), 0, -10, 1_000_000, 100_000, -9)
ETH = MarketSpec("ETH-USD", "ACTIVE", D("0.001"), D("0.1"), D("3150"), 1, -9, 1_000_000, 100_000, -9)


def test_raw_fields_imply_the_published_step_and_tick() -> None:
    assert step_size_of(BTC) == D("0.0001") and str(step_size_of(BTC)) == "0.0001"
    assert tick_size_of(BTC) == D("1") and str(tick_size_of(BTC)) == "1"
    assert step_size_of(ETH) == D("0.001")
    assert tick_size_of(ETH) == D("0.1")


def test_reference_conversions() -> None:
    assert to_subticks(D("65000"), BTC) == 6_500_000_000
    assert to_quantums(D("0.01"), ETH) == 10_000_000
    assert to_subticks(D("3150.0"), ETH) == 3_150_000_000
    assert to_quantums(D("0.0001"), BTC) == 1_000_000


def test_conversions_round_trip() -> None:
    assert str(from_subticks(6_500_000_000, BTC)) == "65000"
    assert from_quantums(10_000_000, ETH) == D("0.01")
    assert from_subticks(to_subticks(D("32.3"), ETH), ETH) == D("32.3")


@pytest.mark.parametrize(
    ("size", "market", "quantums"),
    [(D("0.0003"), BTC, 3_000_000), (D("0.0006"), BTC, 6_000_000), (D("0.007"), ETH, 7_000_000)],
)
def test_sizes_the_float_client_gets_wrong_stay_exact(size: D, market: MarketSpec, quantums: int) -> None:
    assert quantize_size(size, market.step_size) == size
    assert to_quantums(quantize_size(size, market.step_size), market) == quantums


def test_eth_price_that_the_float_client_lowers_stays_on_its_tick() -> None:
    assert quantize_price(D("32.3"), ETH.tick_size) == D("32.3")
    assert to_subticks(D("32.3"), ETH) == 32_300_000


@pytest.mark.parametrize(
    ("size", "expected"),
    [
        (D("0.00019"), D("0.0001")),
        (D("0.123456"), D("0.1234")),
        (D("1"), D("1.0000")),
        (D("0.0001"), D("0.0001")),
    ],
)
def test_size_rounds_down_to_the_step(size: D, expected: D) -> None:
    assert quantize_size(size, BTC.step_size) == expected


def test_size_below_the_minimum_is_refused_not_raised() -> None:
    with pytest.raises(RiskRejected) as e:
        quantize_size(D("0.00009"), BTC.step_size)
    assert e.value.reason is RejectReason.SIZE_BELOW_MINIMUM


@pytest.mark.parametrize(
    ("size", "shown"),
    [
        (D(1) / D("65000.37"), "0.0000153"),  # a $1 size_usd: three digits, not twenty-eight
        (D("0.0000999999"), "0.0000999"),  # never rounded up onto the minimum it is below
        (D("0.00009"), "0.00009"),
    ],
)
def test_a_size_below_the_minimum_is_named_in_three_digits(size: D, shown: str) -> None:
    with pytest.raises(RiskRejected) as e:
        quantize_size(size, BTC.step_size)
    assert e.value.detail == f"size {shown} is below the minimum 0.0001"


def test_explicit_minimum_larger_than_step() -> None:
    with pytest.raises(RiskRejected) as e:
        quantize_size(D("0.0049"), D("0.001"), minimum=D("0.005"))
    assert e.value.reason is RejectReason.SIZE_BELOW_MINIMUM
    assert quantize_size(D("0.0051"), D("0.001"), minimum=D("0.005")) == D("0.005")


@pytest.mark.parametrize("bad", [D("NaN"), D("Infinity"), D("-Infinity"), D("0"), D("-1"), D("sNaN")])
def test_size_refuses_non_finite_and_non_positive(bad: D) -> None:
    for function in (quantize_size, close_size):
        with pytest.raises(RiskRejected) as e:
            function(bad, BTC.step_size)
        assert e.value.reason is RejectReason.INVALID_SIZE


def test_closing_size_rounds_up_so_no_dust_stays_open() -> None:
    assert close_size(D("0.00011"), BTC.step_size) == D("0.0002")
    assert close_size(D("0.0003"), BTC.step_size) == D("0.0003")
    assert close_size(D("0.00001"), BTC.step_size) == D("0.0001")


@pytest.mark.parametrize("bad", [D("NaN"), D("Infinity"), D("0"), D("-3")])
def test_price_refuses_non_finite_and_non_positive(bad: D) -> None:
    with pytest.raises(RiskRejected) as e:
        quantize_price(bad, ETH.tick_size)
    assert e.value.reason is RejectReason.INVALID_PRICE
    with pytest.raises(RiskRejected):
        quantize_price(D("10"), bad)


def test_float_is_a_programming_error() -> None:
    with pytest.raises(TypeError):
        quantize_size(0.0003, BTC.step_size)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("price", "rounding", "expected"),
    [
        (D("3150.04"), PriceRounding.NEAREST, D("3150.0")),
        (D("3150.05"), PriceRounding.NEAREST, D("3150.1")),  # halves go up
        (D("3150.06"), PriceRounding.NEAREST, D("3150.1")),
        (D("3150.01"), PriceRounding.UP, D("3150.1")),
        (D("3150.09"), PriceRounding.DOWN, D("3150.0")),
        (D("3150.1"), PriceRounding.UP, D("3150.1")),
    ],
)
def test_price_rounding_directions(price: D, rounding: PriceRounding, expected: D) -> None:
    assert quantize_price(price, ETH.tick_size, rounding) == expected


def test_price_below_half_a_tick_is_refused() -> None:
    with pytest.raises(RiskRejected) as e:
        quantize_price(D("0.04"), ETH.tick_size)
    assert e.value.reason is RejectReason.INVALID_PRICE


def test_worst_prices_round_away_from_the_market() -> None:
    # 65,432.1 * 1.01 = 66,086.421 -> BUY may pay up to 66,087; SELL 65,432.1 * 0.99 = 64,777.779 -> 64,777
    assert slippage_bound(D("65432.1"), Side.BUY, D("1"), BTC.tick_size) == D("66087")
    assert slippage_bound(D("65432.1"), Side.SELL, D("1"), BTC.tick_size) == D("64777")
    assert round_away_from_market(D("100.01"), Side.BUY, D("0.1")) == D("100.1")
    assert round_away_from_market(D("100.09"), Side.SELL, D("0.1")) == D("100.0")


def test_zero_slippage_is_the_reference_on_the_grid() -> None:
    assert slippage_bound(D("3150.05"), Side.BUY, D("0"), ETH.tick_size) == D("3150.1")
    assert slippage_bound(D("3150.05"), Side.SELL, D("0"), ETH.tick_size) == D("3150.0")


def test_sell_worst_price_never_reaches_zero() -> None:
    assert slippage_bound(D("0.15"), Side.SELL, D("50"), ETH.tick_size) == D("0.1")


@pytest.mark.parametrize("pct", [D("100"), D("-1"), D("NaN"), D("150")])
def test_slippage_outside_range_is_a_settings_error(pct: D) -> None:
    with pytest.raises(RiskRejected) as e:
        slippage_bound(D("100"), Side.BUY, pct, ETH.tick_size)
    assert e.value.reason is RejectReason.INVALID_SETTINGS


@pytest.mark.parametrize(("size", "market"), [(D("0.00015"), BTC), (D("0.0105"), ETH)])
def test_off_grid_size_is_refused_at_the_boundary(size: D, market: MarketSpec) -> None:
    with pytest.raises(RiskRejected) as e:
        to_quantums(size, market)
    assert e.value.reason is RejectReason.OFF_GRID


def test_off_grid_price_is_refused_at_the_boundary() -> None:
    for price in (D("65000.5"), D("65000.000001")):
        with pytest.raises(RiskRejected) as e:
            to_subticks(price, BTC)
        assert e.value.reason is RejectReason.OFF_GRID
    with pytest.raises(RiskRejected) as e:
        to_subticks(D("0"), BTC)
    assert e.value.reason is RejectReason.INVALID_PRICE


def test_units_beyond_the_chains_uint64_are_refused() -> None:
    assert to_quantums(D("1e9"), BTC) == 10**19
    with pytest.raises(RiskRejected) as e:
        to_quantums(D("2e9"), BTC)
    assert e.value.reason is RejectReason.INVALID_SIZE
    with pytest.raises(RiskRejected) as e:
        to_subticks(D("2e14"), BTC)  # 2e19 subticks
    assert e.value.reason is RejectReason.INVALID_PRICE


def test_a_market_without_dydx_fields_has_no_units() -> None:
    bare = MarketSpec("X-USD", "ACTIVE", D("1"), D("1"), D("1"))
    for convert in (to_quantums, to_subticks):
        with pytest.raises(RiskRejected) as e:
            convert(D("1"), bare)
        assert e.value.reason is RejectReason.UNKNOWN_MARKET


positive_sizes = st.decimals(min_value=D("0.0001"), max_value=D("100000"), places=12, allow_nan=False)
steps = st.sampled_from([D("0.0001"), D("0.001"), D("0.01"), D("1"), D("10"), D("0.00025"), D("0.3")])


@given(size=positive_sizes, step=steps)
def test_quantized_size_is_a_multiple_of_step_and_never_larger(size: D, step: D) -> None:
    try:
        result = quantize_size(size, step)
    except RiskRejected as e:
        assert e.reason is RejectReason.SIZE_BELOW_MINIMUM
        assert size < step
        return
    assert result % step == 0
    assert step <= result <= size
    assert size - result < step


@given(price=st.decimals(min_value=D("0.1"), max_value=D("1000000"), places=8), tick=steps)
def test_quantized_price_is_on_the_grid_and_within_half_a_tick(price: D, tick: D) -> None:
    if price * 2 < tick:
        return
    result = quantize_price(price, tick)
    assert result % tick == 0
    assert abs(result - price) * 2 <= tick


@given(
    reference=st.decimals(min_value=D("1"), max_value=D("200000"), places=6),
    pct=st.decimals(min_value=D("0"), max_value=D("20"), places=3),
    side=st.sampled_from(list(Side)),
)
def test_worst_price_never_narrows_the_allowed_slippage(reference: D, pct: D, side: Side) -> None:
    worst = slippage_bound(reference, side, pct, ETH.tick_size)
    assert worst % ETH.tick_size == 0
    if side is Side.BUY:
        assert worst >= reference * (100 + pct) / 100
    else:
        assert worst <= reference * (100 - pct) / 100 or worst == ETH.tick_size


# -- on_grid_nearest: shown and reported numbers ---------------------------------------------------
@pytest.mark.parametrize(
    ("value", "increment", "expected"),
    [
        ("187.499924812030075188", "0.01", "187.50"),  # a partial-fill average, onto the tick
        ("3000", "0.1", "3000.0"),  # the grid's own decimals, no exponent
        ("0.01", "0.001", "0.010"),
        ("97260.64", "0.1", "97260.6"),
        ("97260.65", "0.1", "97260.7"),  # halves away from zero
        ("-2.45430600000000000081", "0.000001", "-2.454306"),
        ("-0.0000004", "0.000001", "0.000000"),  # never "-0.000000"
        ("65000", "5", "65000"),
        ("12.5", None, "12.5"),  # no grid known: unchanged
        ("12.5", "0", "12.5"),
    ],
)
def test_on_grid_nearest(value: str, increment: str | None, expected: str) -> None:
    step = D(increment) if increment is not None else None
    assert str(on_grid_nearest(D(value), step)) == expected


def test_to_usdc_drops_an_average_tail_to_the_quantum() -> None:
    assert str(to_usdc(D("-2.45430600000000000081"))) == "-2.454306"
    assert str(to_usdc(D("30.7416259999999999992"))) == "30.741626"
    assert str(to_usdc(D("12"))) == "12.000000"
