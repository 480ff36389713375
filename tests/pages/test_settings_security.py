"""The settings page's security switches, through the real handlers (Reflex state, real database):
the TradingView-only allowlist of the webhook, and "Sign out everywhere"."""

from __future__ import annotations

from tests.api.webhook_support import TV_IP, client, make_hook
from tests.fakes.indexer import FakeIndexer
from tests.pages.support import ALICE, BOB, memory_app, run, sign_in
from trading_app.db.engine import session_scope
from trading_app.pages.settings_state import SettingsState
from trading_app.pages.settings_webhook import TRADINGVIEW_ADDRESSES
from trading_app.services.auth.sessions import create_session, session_address
from trading_app.state import AuthState


async def _session(address: str) -> str:
    async with session_scope() as session:
        token, _ = await create_session(session, address)
    return token


async def test_the_allowlist_switch_is_what_the_webhook_honours(
    pg_url: str, paper_market: FakeIndexer
) -> None:
    assert TRADINGVIEW_ADDRESSES == "34.212.75.30, 52.32.178.7, 52.89.214.238, 54.218.53.128"
    hook = await make_hook()  # a signed-up trader, allowlist off
    token = await _session(hook.address)
    async with memory_app() as app, client(ip="203.0.113.9") as other, client(ip=TV_IP) as tradingview:
        shown = await run(app, "tab-1", token, SettingsState, "load")
        assert shown.webhook_allowlist is False
        assert (await other.post(hook.path, content=hook.text())).status_code == 202

        state = await run(app, "tab-1", token, SettingsState, "set_webhook_allowlist", True)
        assert state.webhook_allowlist is True
        assert (await run(app, "tab-2", token, SettingsState, "load")).webhook_allowlist is True  # saved
        r = await other.post(hook.path, content=hook.text())
        assert r.status_code == 403 and r.json()["error"] == "source_not_allowed"
        assert (await tradingview.post(hook.path, content=hook.text())).status_code == 202

        state = await run(app, "tab-1", token, SettingsState, "set_webhook_allowlist", False)
        assert state.webhook_allowlist is False
        assert (await other.post(hook.path, content=hook.text())).status_code == 202

        # a tab without a session changes nothing
        await run(app, "stranger", None, SettingsState, "set_webhook_allowlist", True)
        assert (await other.post(hook.path, content=hook.text())).status_code == 202


async def test_sign_out_everywhere_ends_every_session_of_the_trader_only(pg_url: str) -> None:
    here, laptop, phone = await sign_in(ALICE), await sign_in(ALICE), await sign_in(ALICE)
    bob = await sign_in(BOB)
    async with memory_app() as app:
        auth = await run(app, "alice-1", here, AuthState, "sign_out_everywhere")
        assert auth.is_authenticated is False and auth.display_address == ""
        # the other devices' next event finds their session over
        assert (await run(app, "alice-2", laptop, AuthState, "require_login")).is_authenticated is False
        assert [await session_address(t) for t in (here, laptop, phone)] == [None, None, None]
        assert await session_address(bob) == BOB
        assert (await run(app, "bob-1", bob, AuthState, "require_login")).is_authenticated is True
