"""The alert log's state: newest first, paged backwards and forwards, one trader's alerts only."""

from __future__ import annotations

from tests.pages.support import ALICE, BOB, memory_app, run, sign_in
from tests.services.engine_support import make_signal
from trading_app.pages.alerts import PAGE_SIZE, AlertsState


async def test_pages_of_one_traders_alerts(pg_url: str) -> None:
    alice, bob = await sign_in(ALICE), await sign_in(BOB)
    ids = [
        await make_signal(
            ALICE, {"secret": f"hunter2-{n:04d}", "action": "buy", "market": "BTC-USD", "size": "0.01"}
        )
        for n in range(PAGE_SIZE + 5)
    ]
    bob_ids = [await make_signal(BOB, {"action": "sell", "market": "ETH-USD", "size": "1"}) for _ in range(2)]
    async with memory_app() as app:
        first = await run(app, "alice-1", alice, AlertsState, "load")
        assert [r["id"] for r in first.rows] == [str(i) for i in reversed(ids[5:])]
        assert (first.page, first.has_older, first.loaded) == (1, True, True)
        assert all("hunter2" not in r["payload"] for r in first.rows)
        assert first.rows[0]["action"] == "LONG" and first.rows[0]["status_text"] == "Accepted"

        older = await run(app, "alice-1", alice, AlertsState, "older")
        assert [r["id"] for r in older.rows] == [str(i) for i in reversed(ids[:5])]
        assert (older.page, older.has_older) == (2, False)
        assert (await run(app, "alice-1", alice, AlertsState, "older")).page == 2  # no page 3
        again = await run(app, "alice-1", alice, AlertsState, "refresh")
        assert again.page == 2 and len(again.rows) == 5

        newer = await run(app, "alice-1", alice, AlertsState, "newer")
        assert (newer.page, newer.rows[0]["id"]) == (1, str(ids[-1]))
        assert (await run(app, "alice-1", alice, AlertsState, "newer")).page == 1

        theirs = await run(app, "bob-1", bob, AlertsState, "load")
        assert [r["id"] for r in theirs.rows] == [str(i) for i in reversed(bob_ids)] and not theirs.has_older

        signed_out = await run(app, "anon-1", None, AlertsState, "load")
        assert signed_out.rows == [] and not signed_out.loaded
