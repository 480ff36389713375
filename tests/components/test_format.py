"""Display text for money, prices and times: exact Decimal rounding, never a float."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone
from decimal import Decimal as D

from trading_app.components import format as fmt


def test_money_rounds_half_even_to_cents_with_sign_and_separators() -> None:
    assert fmt.money(D("1234.565")) == "$1,234.56"
    assert fmt.money(D("1234.575")) == "$1,234.58"
    assert fmt.money(D("-12.3")) == "-$12.30"
    assert fmt.money(D("12.3"), signed=True) == "+$12.30"
    assert fmt.money(D("-0.001"), signed=True) == "$0.00"  # rounds to zero: no sign, no "-$0.00"
    assert fmt.money(D("0"), signed=True) == "$0.00"
    assert fmt.money(None) == "—"


def test_number_keeps_every_significant_digit_without_exponent() -> None:
    assert fmt.number(D("3000.50")) == "3,000.5"
    assert fmt.number(D("3E+3")) == "3,000"
    assert fmt.number(D("0.000012300")) == "0.0000123"
    assert fmt.number(D("0E-8")) == "0"
    assert fmt.number(None) == "—"


def test_number_on_a_grid_shows_the_tick_or_step_decimals() -> None:
    """The issue's raw decimals: prices on the market's tick, sizes on its step."""
    assert fmt.number(D("187.499924812030075188"), D("0.01")) == "187.50"
    assert fmt.number(D("3412.134482758620689655"), D("0.1")) == "3,412.1"
    assert fmt.number(D("97260.6"), D("0.1")) == "97,260.6"
    assert fmt.number(D("3000"), D("0.1")) == "3,000.0"
    assert fmt.number(D("0.01"), D("0.001")) == "0.010"
    assert fmt.number(D("65000"), D("1")) == "65,000"
    assert fmt.number(None, D("0.1")) == "—"
    assert fmt.number(D("3000.50"), None) == "3,000.5"  # no grid known: exactly as stored


def test_percent_tone_and_label() -> None:
    assert fmt.percent(D("66.6666")) == "66.7%"
    assert fmt.percent(None) == "—"
    assert [fmt.tone(v) for v in (D("0.01"), D("-0.01"), D("0.004"), None)] == ["up", "down", "flat", "none"]
    assert fmt.label("TAKE_PROFIT") == "Take profit"
    assert fmt.label(None) == "—"


def test_when_is_utc_and_age_uses_two_units() -> None:
    paris = timezone(timedelta(hours=1))
    assert fmt.when(datetime(2025, 1, 31, 15, 5, 3, tzinfo=paris)) == "2025-01-31 14:05:03 UTC"
    assert fmt.when(None) == "—"
    now = datetime(2025, 1, 31, 12, 0, tzinfo=UTC)
    cases = {
        timedelta(seconds=45): "45s",
        timedelta(minutes=12, seconds=5): "12m",
        timedelta(hours=3, minutes=5): "3h 5m",
        timedelta(days=2, hours=4, minutes=1): "2d 4h",
        timedelta(seconds=-5): "0s",
    }
    for delta, text in cases.items():
        assert fmt.age(now - delta, now) == text
