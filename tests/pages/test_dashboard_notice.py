"""The dashboard's close banner goes away: dismissed, or at the first reload a few seconds after it
(the close's own push, a moment later, keeps it)."""

from __future__ import annotations

import asyncio

import pytest

from tests.fakes.indexer import FakeIndexer
from tests.pages.support import ALICE, link, memory_app, run, sign_in
from tests.services.engine_support import make_signal, positions
from trading_app.pages import dashboard_state
from trading_app.pages.dashboard_state import DashboardState
from trading_app.services.engine import executor

LONG_ETH = {"action": "buy", "market": "ETH-USD", "size": "0.01", "sl": "2900", "tp": "3100"}


async def test_the_close_banner_shows_the_grid_and_goes_away(
    pg_url: str, paper_market: FakeIndexer, monkeypatch: pytest.MonkeyPatch
) -> None:
    alice = await sign_in(ALICE)
    await executor.execute_signal(await make_signal(ALICE, LONG_ETH))
    await executor.execute_signal(
        await make_signal(ALICE, {**LONG_ETH, "market": "SOL-USD", "sl": "140", "tp": "160", "size": "1"})
    )
    eth, sol = sorted(await positions(ALICE), key=lambda p: p.market)
    async with memory_app() as app:
        await link(app, "alice-1", alice)
        dash = await run(app, "alice-1", alice, DashboardState, "close_position", str(eth.id))
        # ETH-USD's tick is 0.1: "3,000.0", never "3000" or an average's tail
        assert dash.notice.startswith("Closed ETH-USD long at 3,000.0: realized -$"), dash.notice
        dash = await run(app, "alice-1", alice, DashboardState, "refresh")  # the close's own push
        assert dash.notice != ""
        dash = await run(app, "alice-1", alice, DashboardState, "dismiss_notice")
        assert dash.notice == ""

        dash = await run(app, "alice-1", alice, DashboardState, "close_position", str(sol.id))
        assert dash.notice.startswith("Closed SOL-USD long at 150.00")
        monkeypatch.setattr(dashboard_state, "NOTICE_SECONDS", 0.2)  # not six seconds of a test
        await asyncio.sleep(0.3)
        dash = await run(app, "alice-1", alice, DashboardState, "refresh")  # a later event
        assert dash.notice == ""
