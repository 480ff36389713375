"""A revoked session sends the tab to /login from whichever handler notices it first.

Every handler a protected page runs on load or on its live refresh re-checks the session, and the
check clears the tab's `AuthState` when the session is gone. The shell then shows its "Checking
your session…" spinner instead of the page, which unmounts the page's other refresh timers: a
handler that noticed and did not redirect left the trader on that spinner for good (seen in the
browser test of "sign out everywhere").
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest
import reflex as rx

from tests.pages.support import ALICE, memory_app, sign_in, tab
from trading_app.pages.alert_detail import AlertDetailState
from trading_app.pages.alerts import AlertsState
from trading_app.pages.dashboard_account import FundsState
from trading_app.pages.dashboard_state import DashboardState
from trading_app.pages.history import HistoryState
from trading_app.pages.settings_control import ControlState
from trading_app.pages.settings_state import SettingsState
from trading_app.services.auth.sessions import revoke_all_sessions

PAGES = Path(__file__).resolve().parents[2] / "trading_app" / "pages"
# (state, handler): the pages' on_load lists after the guard, and every `feed_watcher(...)`
GUARDED = [
    (DashboardState, "load"),
    (DashboardState, "refresh"),
    (FundsState, "load"),
    (FundsState, "refresh"),
    (ControlState, "load"),
    (HistoryState, "load"),
    (AlertsState, "load"),
    (AlertsState, "refresh"),
    (AlertDetailState, "load"),
    (AlertDetailState, "refresh"),
    (SettingsState, "load"),
]


async def _answer(state: rx.State, handler: str) -> list[object]:
    result = getattr(type(state), handler).fn(state)
    if hasattr(result, "__aiter__"):
        return [item async for item in result]
    answer = await result
    return answer if isinstance(answer, list) else [answer]


def _redirects_to_login(answer: list[object]) -> bool:
    for item in answer:
        if isinstance(item, rx.event.EventSpec) and item.handler.fn.__qualname__ == "_redirect":
            if any(getattr(value, "_var_value", None) == "/login" for _, value in item.args):
                return True
    return False


def test_every_live_refresh_handler_is_in_the_list() -> None:
    watched = set()
    for source in PAGES.glob("*.py"):
        for state, handler in re.findall(r"feed_watcher\((\w+)\.(\w+)\)", source.read_text()):
            watched.add(handler if state == "S" else f"{state}.{handler}")
    listed = {f"{cls.__name__}.{handler}" for cls, handler in GUARDED} | {h for _, h in GUARDED}
    assert watched and watched <= listed, watched - listed


@pytest.mark.parametrize(("cls", "handler"), GUARDED, ids=lambda v: getattr(v, "__name__", v))
async def test_a_revoked_session_leaves_for_login(pg_url: str, cls: type[rx.State], handler: str) -> None:
    token = await sign_in(ALICE)
    async with memory_app() as app:
        async with tab(app, "tab-1", token, cls) as state:
            assert not _redirects_to_login(await _answer(state, handler))  # signed in: it stays
        assert await revoke_all_sessions(ALICE) == 1
        async with tab(app, "tab-1", token, cls) as state:
            assert _redirects_to_login(await _answer(state, handler))
