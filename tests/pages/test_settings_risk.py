"""The settings page's risk defaults: the form holds exactly the saved fields, shows them as
saved, and saves what the trader typed (Reflex state, real database, no browser)."""

from __future__ import annotations

from sqlmodel import select

from tests.pages.support import ALICE, memory_app, run, sign_in, tab
from trading_app.db.engine import session_scope
from trading_app.db.models import TradingAccount
from trading_app.domain.risk_settings import RISK_FIELDS, RiskSettings
from trading_app.pages.settings import RISK_CHOICES, RISK_INPUTS
from trading_app.pages.settings_state import SettingsState

TYPED = {
    "size_mode": "risk_pct",
    "size_value": "0.75",
    "max_open_positions": "4",
    "max_leverage": "3",
    "max_notional_usd": "25000",
    "daily_loss_limit_usd": "",
    "slippage_pct": "0.4",
    "same_market_policy": "reverse",
}


def test_the_form_has_a_control_for_every_field_and_no_other() -> None:
    assert sorted([*RISK_CHOICES, *RISK_INPUTS]) == sorted(RISK_FIELDS)


async def test_the_form_shows_the_saved_fields_and_saves_what_was_typed(pg_url: str) -> None:
    token = await sign_in(ALICE)
    async with memory_app() as app:
        shown = await run(app, "alice-1", token, SettingsState, "load")
        assert shown.risk_form == {
            "size_mode": "size_usd",
            "size_value": "100",
            "max_open_positions": "10",
            "max_leverage": "5",
            "max_notional_usd": "",
            "daily_loss_limit_usd": "",
            "slippage_pct": "1",
            "same_market_policy": "reject",
        }
        async with tab(app, "alice-1", token, SettingsState) as state:
            for field, text in TYPED.items():
                SettingsState.set_risk_field.fn(state, field, text)
            SettingsState.set_risk_field.fn(state, "risk_error", "not a field")  # ignored
        saved = await run(app, "alice-1", token, SettingsState, "save_risk")
        assert saved.risk_error == "" and saved.risk_form == TYPED
    async with session_scope() as session:
        account = (await session.exec(select(TradingAccount).where(TradingAccount.address == ALICE))).one()
    assert RiskSettings.of(account).texts() == TYPED


async def test_a_refused_value_saves_nothing_and_says_why(pg_url: str) -> None:
    token = await sign_in(ALICE)
    async with memory_app() as app:
        await run(app, "alice-1", token, SettingsState, "load")
        async with tab(app, "alice-1", token, SettingsState) as state:
            SettingsState.set_risk_field.fn(state, "max_leverage", "500")
        refused = await run(app, "alice-1", token, SettingsState, "save_risk")
        assert "Max leverage must be at most 50" in refused.risk_error
        again = await run(app, "alice-1", token, SettingsState, "load")
        assert again.risk_form["max_leverage"] == "5"
