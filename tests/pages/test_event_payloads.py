"""Regression tests for what the event fuzzer (test_fuzz_events.py) found: a tab's socket may send
any JSON as an event's argument, and every public method of a State is an event a tab may call."""

from __future__ import annotations

import pytest

from tests.pages.support import ALICE, memory_app, run, sign_in
from trading_app.db.engine import session_scope
from trading_app.db.models import User
from trading_app.pages.settings_state import SettingsState


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

