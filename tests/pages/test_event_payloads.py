"""Regression tests for what the event fuzzer (test_fuzz_events.py) found: a tab's socket may send
any JSON as an event's argument, and every public method of a State is an event a tab may call."""

from __future__ import annotations

import pytest

from tests.pages.support import ALICE, memory_app, run, sign_in
from trading_app.db.engine import session_scope
from trading_app.db.models import User
from trading_app.pages.settings_state import SettingsState
from trading_app.state import AuthState


@pytest.mark.parametrize("handler", ["save_api_key", "save_mnemonic", "save_telegram"])
@pytest.mark.parametrize("form", [None, 2, "text", ["a"]])
async def test_a_form_handler_given_no_form_raises_nothing_and_saves_nothing(
    pg_url: str, handler: str, form: object
) -> None:
    token = await sign_in(ALICE)
    async with memory_app() as app:
        await run(app, "tab-1", token, SettingsState, handler, form)  # type: ignore[arg-type]
    async with session_scope() as session:
        user = await session.get(User, ALICE)
    assert user is not None
    assert user.dydx_credentials_enc is None and user.telegram_token_enc is None


async def test_the_session_check_is_no_event_a_tab_can_call(pg_url: str) -> None:
    # it answered a str, which Reflex refuses as an event's result (an error shown to the trader)
    assert "verified_address" not in AuthState.event_handlers
    assert {"require_login", "logout", "sign_out_everywhere"} <= set(AuthState.event_handlers)
    token = await sign_in(ALICE)
    async with memory_app() as app:
        auth = await run(app, "tab-1", token, AuthState, "require_login")
    assert auth.is_authenticated and auth.display_address == ALICE
