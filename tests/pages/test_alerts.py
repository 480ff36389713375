"""The alert log's state: newest first, paged backwards and forwards, one trader's alerts only, named as
the trader wrote them, updated by push."""

from __future__ import annotations

import pytest

from tests.api.webhook_support import TV_IP, make_hook
from tests.conftest import reset_app_caches
from tests.fakes.indexer import FakeIndexer
from tests.pages.support import ALICE, BOB, link, memory_app, run, seen, sign_in
from tests.services.engine_support import make_signal
from trading_app.domain.clock import utcnow
from trading_app.pages.alerts import PAGE_SIZE, AlertsState
from trading_app.services.intake.inbox import IncomingAlert, receive_alert
from trading_app.services.notify.notifier import get_notifier


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


async def test_a_refused_alert_reaches_the_open_alert_log_by_push(
    pg_url: str, fake_indexer: FakeIndexer, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("PAPER_PRICE_SOURCE", fake_indexer.url)
    reset_app_caches()
    hook = await make_hook()
    alice, bob = await sign_in(hook.address), await sign_in(BOB)
    async with memory_app() as app:
        await link(app, "alice-1", alice)
        await link(app, "bob-1", bob)
        assert (await run(app, "alice-1", alice, AlertsState, "load")).rows == []

        alert = IncomingAlert(hook.uuid, hook.text(market="xyzceausdt.p").encode(), utcnow(), TV_IP)
        receipt = await receive_alert(alert)
        await get_notifier().drain(5)

        # the tab's feed moved (its watcher re-reads the page), nobody else's did
        assert (await seen(app, "alice-1"))[:2] == (1, "Alert rejected")
        assert (await seen(app, "bob-1"))[0] == 0
        [row] = (await run(app, "alice-1", alice, AlertsState, "refresh")).rows
    assert row["id"] == str(receipt.signal_id) and row["status"] == "REJECTED"
    # what the trader sent, and why in plain words with the code second
    assert (row["action"], row["market"], row["traded_as"]) == ("BUY", "xyzceausdt.p", "")
    assert row["reason"] == "This market is not listed on your venue: xyzceausdt.p (read as XYZCEA-USD)"
    assert row["reason_code"] == "unknown_market"


async def test_an_accepted_alert_shows_what_was_sent_and_what_it_trades_as(pg_url: str) -> None:
    alice = await sign_in(ALICE)
    await make_signal(ALICE, {"action": "buy", "market": "BINANCE:BTCUSDT.P", "size": "0.01"})
    async with memory_app() as app:
        [row] = (await run(app, "alice-1", alice, AlertsState, "load")).rows
    assert (row["action"], row["market"], row["traded_as"]) == ("LONG", "BINANCE:BTCUSDT.P", "as BTC-USD")
    assert (row["reason"], row["reason_code"]) == ("", "")
