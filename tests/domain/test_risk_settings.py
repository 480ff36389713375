"""The risk defaults' one field list (`domain.risk_settings`): every holder of these values carries
exactly these fields, and the conversions between them lose nothing."""

from __future__ import annotations

import dataclasses
from decimal import Decimal as D

from trading_app.db.models import TradingAccount
from trading_app.domain.enums import SizeMode
from trading_app.domain.intents import RiskLimits
from trading_app.domain.risk_settings import RISK_FIELDS, RiskSettings
from trading_app.services.accounts.account import AccountOverview
from trading_app.services.accounts.risk import parse_risk
from trading_app.services.engine.entry_facts import risk_limits

TRADER = RiskSettings(
    size_mode=SizeMode.RISK_PCT,
    size_value=D("0.75"),
    max_open_positions=4,
    max_leverage=D("3"),
    max_notional_usd=D("25000"),
    daily_loss_limit_usd=None,
    slippage_pct=D("0.4"),
    same_market_policy="reverse",
)


def test_every_holder_of_the_risk_defaults_has_every_field() -> None:
    assert RISK_FIELDS[0] == "size_mode" and len(RISK_FIELDS) == 8
    assert set(RISK_FIELDS) <= set(TradingAccount.__table__.columns.keys())  # type: ignore[attr-defined]
    assert set(RISK_FIELDS) <= {f.name for f in dataclasses.fields(AccountOverview)}


def test_a_row_round_trips_through_its_columns() -> None:
    row = TradingAccount(address="0x1", **TRADER.columns())
    assert row.size_mode == "risk_pct"
    assert RiskSettings.of(row) == TRADER


def test_the_form_texts_parse_back_to_the_same_settings() -> None:
    texts = TRADER.texts()
    assert (
        texts["daily_loss_limit_usd"] == ""
        and texts["size_value"] == "0.75"
        and texts["size_mode"] == "risk_pct"
    )
    assert RiskSettings.of(parse_risk(texts)) == TRADER


def test_the_engine_sees_the_saved_values() -> None:
    limits = TRADER.limits()
    assert (limits.size_mode, limits.size_value, limits.max_leverage) == (
        SizeMode.RISK_PCT,
        D("0.75"),
        D("3"),
    )
    assert limits.slippage_pct == D("0.4") and limits.daily_loss_limit_usd is None
    row = TradingAccount(address="0x1", **TRADER.columns())
    assert limits == risk_limits(row)  # the engine's own reading of the row agrees


def test_a_new_accounts_defaults_are_the_engines_defaults() -> None:
    assert RiskSettings.of(TradingAccount(address="0x1")).limits() == RiskLimits()
