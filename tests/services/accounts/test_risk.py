"""Risk defaults: exact Decimals in, every bound enforced, a bad form changes nothing."""

from __future__ import annotations

from decimal import Decimal

import pytest

from tests.services.settings_support import (
    _close_pools,  # noqa: F401 - autouse fixture
    make_user,
    new_address,
    raw_rows,
)
from trading_app.domain.enums import SizeMode
from trading_app.services.accounts.account import SettingsInvalid, UnknownUser, get_overview
from trading_app.services.accounts.risk import parse_risk, save_risk

GOOD = {
    "size_mode": "risk_pct",
    "size_value": "0.5",
    "max_open_positions": "3",
    "max_leverage": "2.5",
    "max_notional_usd": "2500.75",
    "daily_loss_limit_usd": "150",
    "slippage_pct": "0.35",
}


def test_a_good_form_parses_to_exact_decimals() -> None:
    risk = parse_risk(GOOD)
    assert risk.size_mode is SizeMode.RISK_PCT
    assert risk.size_value == Decimal("0.5") and isinstance(risk.size_value, Decimal)
    assert (risk.max_open_positions, risk.max_leverage) == (3, Decimal("2.5"))
    assert (risk.max_notional_usd, risk.daily_loss_limit_usd) == (Decimal("2500.75"), Decimal("150"))
    assert risk.slippage_pct == Decimal("0.35")


def test_optional_limits_may_be_empty() -> None:
    risk = parse_risk({**GOOD, "max_notional_usd": "", "daily_loss_limit_usd": "  "})
    assert risk.max_notional_usd is None and risk.daily_loss_limit_usd is None


@pytest.mark.parametrize(
    ("field", "value", "words"),
    [
        ("size_mode", "lots", "size mode"),
        ("size_value", "", "required"),
        ("size_value", "0", "greater than 0"),
        ("size_value", "-1", "plain positive number"),
        ("size_value", "1e3", "plain positive number"),
        ("size_value", "NaN", "plain positive number"),
        ("size_value", "0.000000001", "at most 8 decimals"),
        ("size_value", "26", "at most 25"),
        ("max_open_positions", "0", "1 to 100"),
        ("max_open_positions", "101", "1 to 100"),
        ("max_open_positions", "2.5", "whole number"),
        # digits of other scripts: int() takes two of these, str.isdigit() passes all three
        ("max_open_positions", "\u00b2", "whole number"),
        ("max_open_positions", "\u0663", "whole number"),
        ("max_open_positions", "\uff13", "whole number"),
        ("max_leverage", "51", "at most 50"),
        ("max_leverage", "abc", "plain positive number"),
        ("max_notional_usd", "0", "greater than 0"),
        ("daily_loss_limit_usd", "1,000", "plain positive number"),
        ("slippage_pct", "", "required"),
        ("slippage_pct", "10.01", "at most 10"),
    ],
)
def test_each_bad_value_names_its_field(field: str, value: str, words: str) -> None:
    with pytest.raises(SettingsInvalid) as err:
        parse_risk({**GOOD, field: value})
    assert err.value.field == field
    assert words in err.value.message


def test_cross_field_checks() -> None:
    with pytest.raises(SettingsInvalid, match="max leverage"):
        parse_risk({**GOOD, "size_mode": "equity_pct", "size_value": "300", "max_leverage": "2"})
    assert (
        parse_risk({**GOOD, "size_mode": "equity_pct", "size_value": "200", "max_leverage": "2"}).size_value
        == 200
    )
    with pytest.raises(SettingsInvalid, match="max notional"):
        parse_risk({**GOOD, "size_mode": "size_usd", "size_value": "3000", "max_notional_usd": "2500"})


async def test_saved_and_read_back_exactly(db_url: str) -> None:
    address, _ = await make_user()
    await save_risk(address, {**GOOD, "size_mode": "size", "size_value": "0.00000001"})
    view = await get_overview(address)
    assert (view.size_mode, view.size_value) == ("size", Decimal("0.00000001"))
    assert view.max_notional_usd == Decimal("2500.75") and view.slippage_pct == Decimal("0.35")
    assert view.max_open_positions == 3 and view.daily_loss_limit_usd == Decimal("150")


async def test_a_bad_form_changes_nothing(db_url: str) -> None:
    address, _ = await make_user()
    await save_risk(address, GOOD)
    before = await raw_rows(address)
    with pytest.raises(SettingsInvalid):
        await save_risk(address, {**GOOD, "max_leverage": "500", "size_value": "1"})
    assert await raw_rows(address) == before


async def test_only_the_callers_account_changes(db_url: str) -> None:
    alice, _ = await make_user()
    bob, _ = await make_user()
    await get_overview(bob)
    bob_before = await raw_rows(bob)
    await save_risk(alice, GOOD)
    assert await raw_rows(bob) == bob_before
    assert (await get_overview(alice)).size_mode == "risk_pct"
    with pytest.raises(UnknownUser):
        await save_risk(new_address(), GOOD)


async def test_the_same_market_policy_is_validated_saved_and_shown(db_url: str) -> None:
    address, _ = await make_user()
    assert (await get_overview(address)).same_market_policy == "reject"  # the default
    assert parse_risk(GOOD).same_market_policy == "reject"  # a form without the field
    await save_risk(address, {**GOOD, "same_market_policy": "reverse"})
    assert (await get_overview(address)).same_market_policy == "reverse"
    assert (await raw_rows(address))["trading_accounts"]["same_market_policy"] == "reverse"
    before = await raw_rows(address)
    for bad in ("flip", "", "REVERSE"):
        with pytest.raises(SettingsInvalid) as refused:
            await save_risk(address, {**GOOD, "same_market_policy": bad})
        assert refused.value.field == "same_market_policy"
    assert await raw_rows(address) == before
    await save_risk(address, {**GOOD, "same_market_policy": " reject "})
    assert (await get_overview(address)).same_market_policy == "reject"
