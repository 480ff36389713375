"""Every sizing mode, and stop-loss / take-profit prices for both directions."""

from __future__ import annotations

from decimal import Decimal as D

import pytest

from trading_app.domain.enums import PositionSide, SizeMode
from trading_app.domain.errors import RejectReason, RiskRejected
from trading_app.domain.sizing import position_size, stop_loss_price, take_profit_price

LONG, SHORT = PositionSide.LONG, PositionSide.SHORT


def test_fixed_size_is_taken_as_is() -> None:
    assert position_size(SizeMode.FIXED, D("0.0003"), entry_price=D("65000"), equity=D("0")) == D("0.0003")


def test_usd_notional() -> None:
    assert position_size(SizeMode.USD, D("100"), entry_price=D("3125"), equity=D("0")) == D("0.032")


def test_equity_percent_as_notional() -> None:
    # 10 % of 5,000 = 500 USD at 2,500 -> 0.2
    assert position_size(SizeMode.EQUITY_PCT, D("10"), entry_price=D("2500"), equity=D("5000")) == D("0.2")


@pytest.mark.parametrize("stop", [D("2950"), D("3050")])
def test_risk_percent_from_the_stop_distance_either_side(stop: D) -> None:
    # lose 1 % of 10,000 = 100 USD over a 50 USD stop distance -> 2 units
    size = position_size(SizeMode.RISK_PCT, D("1"), entry_price=D("3000"), equity=D("10000"), stop_price=stop)
    assert size == D("2")


def test_risk_percent_without_a_stop_is_refused() -> None:
    with pytest.raises(RiskRejected) as e:
        position_size(SizeMode.RISK_PCT, D("1"), entry_price=D("3000"), equity=D("10000"))
    assert e.value.reason is RejectReason.STOP_REQUIRED


def test_risk_percent_with_a_zero_stop_distance_is_refused() -> None:
    with pytest.raises(RiskRejected) as e:
        position_size(SizeMode.RISK_PCT, D("1"), entry_price=D("3000"), equity=D("1"), stop_price=D("3000"))
    assert e.value.reason is RejectReason.SL_WRONG_SIDE


@pytest.mark.parametrize("mode", [SizeMode.EQUITY_PCT, SizeMode.RISK_PCT])
@pytest.mark.parametrize("equity", [D("0"), D("-5"), D("NaN")])
def test_equity_modes_need_equity(mode: SizeMode, equity: D) -> None:
    with pytest.raises(RiskRejected) as e:
        position_size(mode, D("1"), entry_price=D("3000"), equity=equity, stop_price=D("2900"))
    assert e.value.reason is RejectReason.INSUFFICIENT_EQUITY


@pytest.mark.parametrize("mode", list(SizeMode))
@pytest.mark.parametrize("value", [D("0"), D("-1"), D("Infinity"), D("NaN")])
def test_non_positive_values_are_refused_in_every_mode(mode: SizeMode, value: D) -> None:
    with pytest.raises(RiskRejected) as e:
        position_size(mode, value, entry_price=D("3000"), equity=D("1000"), stop_price=D("2900"))
    assert e.value.reason is RejectReason.INVALID_SIZE


def test_bad_entry_price_is_refused() -> None:
    with pytest.raises(RiskRejected) as e:
        position_size(SizeMode.USD, D("100"), entry_price=D("0"), equity=D("1000"))
    assert e.value.reason is RejectReason.INVALID_PRICE


def test_stop_loss_from_price_or_percent() -> None:
    assert stop_loss_price(LONG, D("3000"), sl=D("2900")) == D("2900")
    assert stop_loss_price(LONG, D("3000"), sl_pct=D("2")) == D("2940")
    assert stop_loss_price(SHORT, D("3000"), sl_pct=D("2")) == D("3060")
    assert stop_loss_price(SHORT, D("3000")) is None


def test_take_profit_from_percent() -> None:
    assert take_profit_price(LONG, D("3000"), tp_pct=D("5")) == D("3150")
    assert take_profit_price(SHORT, D("3000"), tp_pct=D("5")) == D("2850")
    assert take_profit_price(LONG, D("3000"), tp=D("3333")) == D("3333")
    assert take_profit_price(LONG, D("3000")) is None


def test_take_profit_from_reward_to_risk() -> None:
    # tp = entry +- rr * |entry - sl|
    assert take_profit_price(LONG, D("3000"), rr=D("2"), stop_price=D("2950")) == D("3100")
    assert take_profit_price(SHORT, D("3000"), rr=D("1.5"), stop_price=D("3040")) == D("2940")


def test_reward_to_risk_needs_a_stop() -> None:
    with pytest.raises(RiskRejected) as e:
        take_profit_price(LONG, D("3000"), rr=D("2"))
    assert e.value.reason is RejectReason.STOP_REQUIRED
