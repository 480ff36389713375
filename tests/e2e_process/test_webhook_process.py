"""The TradingView webhook against the real app process (`reflex run --env prod --backend-only`) on
PostgreSQL: HTTP over loopback in, paper positions (priced by a FakeIndexer) and Telegram messages
(to a FakeTelegram) out. The database is read directly to check what the process did.

Restarts: an alert accepted just before the process died (SIGKILL right after the 202), and one
accepted while no process ran at all, are each executed exactly once by the next start, and a
further restart changes nothing.
"""

from __future__ import annotations

import asyncio
import json
import logging
import re
import time
import uuid
from collections import Counter
from collections.abc import AsyncIterator, Callable, Iterator
from decimal import Decimal
from typing import Any

import httpx
import pytest
from sqlalchemy import update

from tests.e2e_process.conftest import Running
from tests.e2e_process.support import (
    JSON,
    LONG_BTC,
    LONG_ETH,
    books,
    finished,
    new_trader,
    orders_of,
    paper_fills_of,
    paper_orders_of,
    positions_of,
    signals_of,
    until,
)
from trading_app.db.engine import session_scope
from trading_app.db.models import Position, Signal
from trading_app.db.types import utcnow
from trading_app.services.execution import STALE_CLAIM
from trading_app.services.inbox import IncomingAlert, Outcome, receive_alert
from trading_app.venues.paper.indexer_prices import IndexerPriceSource

pytestmark = pytest.mark.slow
log = logging.getLogger(__name__)

PRICE_CACHE_SECONDS = IndexerPriceSource("http://127.0.0.1:9").cache_seconds
EXECUTES_WITHIN = 10.0  # seconds from the 202 to a finished signal (it takes well under one)
D = Decimal


@pytest.fixture
def answers() -> Iterator[list[httpx.Response]]:
    """Every response a test got: none may be a 5xx, whatever the test was about."""
    seen: list[httpx.Response] = []
    yield seen
    assert [r.status_code for r in seen if r.status_code >= 500] == []


async def _post(client: httpx.AsyncClient, seen: list[httpx.Response], url: str, content: Any,
                headers: dict[str, str] | None = None) -> httpx.Response:
    r = await client.post(url, content=content, headers=headers or JSON)
    seen.append(r)
    return r


async def _executed_once(address: str, signal_id: int, alert: dict[str, str]) -> Position:
    """The signal opened exactly one protected position: one entry, one stop, one take-profit."""
    row = await finished(signal_id)
    assert row is not None and row.status == "EXECUTED", row and (row.status, row.reason)
    mine = [p for p in await positions_of(address) if p.signal_id == signal_id]
    assert len(mine) == 1, mine
    position = mine[0]
    assert row.position_id == position.id
    assert (position.status, position.side, position.market) == ("OPEN", "LONG", alert["market"])
    assert (position.size, position.sl_price, position.tp_price) == (D(alert["size"]), D(alert["sl"]),
                                                                       D(alert["tp"]))
    orders = [o for o in await orders_of(address) if o.position_id == position.id]
    assert Counter(o.role for o in orders) == {"ENTRY": 1, "STOP_LOSS": 1, "TAKE_PROFIT": 1}
    roles = {o.role: o for o in orders}
    assert roles["ENTRY"].status == "FILLED" and roles["ENTRY"].filled_size == D(alert["size"])
    assert roles["STOP_LOSS"].status == "UNTRIGGERED" and roles["STOP_LOSS"].trigger_price == D(alert["sl"])
    assert roles["TAKE_PROFIT"].status == "UNTRIGGERED" and roles["TAKE_PROFIT"].trigger_price == D(alert["tp"])
    assert roles["STOP_LOSS"].reduce_only and roles["TAKE_PROFIT"].reduce_only
    # the paper venue's own books: exactly these three orders reached it, and the entry filled once
    venue = {o.client_id: o for o in await paper_orders_of(address) if o.market == alert["market"]}
    assert set(venue) == {o.client_id for o in orders}
    assert [o.reduce_only for o in venue.values()].count(False) == 1
    fills = [f for f in await paper_fills_of(address) if f.market == alert["market"]]
    assert [(f.client_id, f.size) for f in fills] == [(roles["ENTRY"].client_id, D(alert["size"]))]
    return position


# The monitor logs a venue outage with its traceback, for every account it watches, every tick
_EXPECTED_TRACEBACK = re.compile(r"monitor: account \S+ failed: VenueUnavailable$")


def _clean(process_log: str) -> None:
    """No traceback in the app's log except the monitor's report of a price-source outage."""
    lines = process_log.splitlines()
    unexpected = [i for i, line in enumerate(lines) if line.startswith("Traceback")
                  and not (i and _EXPECTED_TRACEBACK.search(lines[i - 1]))]
    assert not unexpected, "\n".join(lines[max(unexpected[0] - 5, 0):unexpected[0] + 40])


# -- one shared process -----------------------------------------------------------------------


async def test_json_and_text_plain_alerts_open_protected_paper_positions(
    app: Running, answers: list[httpx.Response]
) -> None:
    trader = await new_trader(app.telegram)
    sent = [
        (LONG_BTC, trader.text(LONG_BTC), "application/json"),
        (LONG_ETH, trader.text(LONG_ETH) + b"\n", "text/plain; charset=utf-8"),  # TradingView's usual form
    ]
    async with httpx.AsyncClient(timeout=10) as client:
        for alert, content, content_type in sent:
            began = time.monotonic()
            r = await _post(client, answers, trader.url, content, {"content-type": content_type})
            assert r.status_code == 202, r.text
            assert r.json()["status"] == "accepted" and r.headers["cache-control"] == "no-store"
            signal_id = r.json()["signal_id"]
            await until(lambda: finished(signal_id), EXECUTES_WITHIN, f"signal {signal_id} to finish")
            log.info("%s: 202 to executed in %.2fs", content_type, time.monotonic() - began)
            await _executed_once(trader.address, signal_id, alert)

    [btc, eth] = await signals_of(trader.address)
    assert (btc.content_type, eth.content_type) == ("application/json", "text/plain; charset=utf-8")
    assert trader.secret not in btc.raw_body + eth.raw_body
    for market in ("BTC-USD", "ETH-USD"):  # the process told the trader, in their own chat
        await until(lambda m=market: _message(app, trader.chat_id, "Opened", m), 5, f"'Opened {market}'")
    _clean(app.process.all_output())


async def _message(app: Running, chat_id: str | None, *words: str) -> bool:
    return any(m.chat_id == chat_id and all(w in m.plain for w in words) for m in app.telegram.messages)


async def test_twenty_concurrent_copies_of_one_alert_execute_once(
    app: Running, answers: list[httpx.Response]
) -> None:
    trader = await new_trader()
    content = trader.text(LONG_BTC, alert_id=f"strategy-7-{uuid.uuid4().hex}")
    async with httpx.AsyncClient(timeout=15, limits=httpx.Limits(max_connections=20)) as client:
        got = await asyncio.gather(*(_post(client, answers, trader.url, content) for _ in range(20)))

    assert Counter(r.status_code for r in got) == {202: 1, 200: 19}, [r.text for r in got]
    [first] = [r for r in got if r.status_code == 202]
    signal_id = first.json()["signal_id"]
    assert first.json() == {"status": "accepted", "signal_id": signal_id}
    assert all(r.json() == {"status": "duplicate", "signal_id": signal_id} for r in got if r is not first)
    await until(lambda: finished(signal_id), EXECUTES_WITHIN, "the signal to finish")
    assert [(s.id, s.status) for s in await signals_of(trader.address)] == [(signal_id, "EXECUTED")]
    await _executed_once(trader.address, signal_id, LONG_BTC)
    assert len(await positions_of(trader.address)) == 1
    assert [o.role for o in await orders_of(trader.address)].count("ENTRY") == 1


@pytest.mark.parametrize("fault", ["refused", 503])
async def test_venue_down_still_answers_202_and_fails_the_signal_with_the_reason(
    app: Running, answers: list[httpx.Response], fault: str | int
) -> None:
    trader = await new_trader(app.telegram)
    app.indexer.down(fault)
    # the app reuses a price-source answer for a moment (and the monitor keeps reading): after that
    # moment it must not trade on what it last saw
    await asyncio.sleep(PRICE_CACHE_SECONDS + 0.5)
    try:
        async with httpx.AsyncClient(timeout=10) as client:
            r = await _post(client, answers, trader.url, trader.text(LONG_BTC))
        assert r.status_code == 202, r.text
        signal_id = r.json()["signal_id"]
        row = await until(lambda: finished(signal_id), EXECUTES_WITHIN, "the signal to finish")
    finally:
        app.indexer.up()
    assert row.status == "FAILED" and row.reason is not None
    assert row.reason.startswith("venue_unavailable: price source"), row.reason
    assert ("unreachable" if fault == "refused" else "HTTP 503") in row.reason
    await until(lambda: _message(app, trader.chat_id, f"Alert #{signal_id} rejected", "venue_unavailable"), 5,
                "the failure message on Telegram")
    assert await positions_of(trader.address) == [] and await orders_of(trader.address) == []
    assert await paper_orders_of(trader.address) == []


async def test_bad_requests_get_their_4xx_and_are_never_executed(
    app: Running, answers: list[httpx.Response]
) -> None:
    trader, other = await new_trader(), await new_trader()
    async with httpx.AsyncClient(timeout=10) as client:
        post: Callable[..., Any] = lambda url, content, **kw: _post(client, answers, url, content, **kw)  # noqa: E731
        # 401: one answer for an unknown webhook, a wrong secret and no secret; nothing is stored
        refused = [
            await post(f"{app.url}/api/webhooks/signal/{uuid.uuid4()}", trader.text(LONG_BTC)),
            await post(trader.url, trader.text(LONG_BTC, secret=other.secret)),
            await post(trader.url, json.dumps(LONG_BTC).encode()),
        ]
        assert [r.status_code for r in refused] == [401] * 3
        assert {r.content for r in refused} == {b'{"error":"unauthorized"}'}
        assert len({tuple(sorted((k, v) for k, v in r.headers.items() if k != "date")) for r in refused}) == 1

        # 413: declared too long, and streamed (chunked, no length) past the cap
        big = trader.text(LONG_BTC, comment="x" * (65 * 1024))

        async def chunks() -> AsyncIterator[bytes]:
            for i in range(0, len(big), 8192):
                yield big[i:i + 8192]

        for content in (big, chunks()):
            r = await post(trader.url, content)
            assert r.status_code == 413 and r.json() == {"error": "payload_too_large"}
        assert await signals_of(trader.address) == []

        # 422 with every problem, stored as REJECTED with the same details
        r = await post(trader.url, trader.text({"action": "jump", "market": "BTC-USD", "size": "-1"}))
        unlisted = await post(trader.url, trader.text({**LONG_BTC, "market": "DOGE-USD"}))
    assert r.status_code == 422 and r.json()["error"] == "invalid_payload", r.text
    details = r.json()["details"]
    assert any(d.startswith("action:") for d in details) and any(d.startswith("size:") for d in details)
    assert unlisted.status_code == 422
    assert unlisted.json()["details"] == ["market: DOGE-USD is not listed on your venue"]
    rows = {s.id: s for s in await signals_of(trader.address)}
    assert set(rows) == {r.json()["signal_id"], unlisted.json()["signal_id"]}
    assert rows[r.json()["signal_id"]].status == "REJECTED"
    assert rows[r.json()["signal_id"]].reason == "; ".join(details)
    assert rows[unlisted.json()["signal_id"]].reason == "market: DOGE-USD is not listed on your venue"
    assert await signals_of(other.address) == []
    await asyncio.sleep(1.5)  # a few monitor ticks and their sweeps: a rejected alert is never executed
    assert await positions_of(trader.address) == [] and await paper_orders_of(trader.address) == []
    _clean(app.process.all_output())


# -- restarts: a process of their own ---------------------------------------------------------


async def _settles_unchanged(rig: Running, address: str) -> None:
    """A clean restart (start-up sweep, a few monitor ticks) changes nothing in the trader's books."""
    before = await books(address)
    rig.process.stop()
    rig.process.start().wait_ready()
    await asyncio.sleep(2)
    assert await books(address) == before


async def test_killed_right_after_the_202_executes_once_after_restart(
    app_factory: Callable[[], Running], answers: list[httpx.Response]
) -> None:
    rig = app_factory()
    rig.process.start().wait_ready()
    trader = await new_trader()
    async with httpx.AsyncClient(timeout=10) as client:
        r = await _post(client, answers, trader.url, trader.text(LONG_BTC))
        rig.process.kill()  # the moment the 202 is in: the execution after the response races the kill
    assert r.status_code == 202, r.text
    signal_id = r.json()["signal_id"]
    async with session_scope() as session:
        at_kill = await session.get(Signal, signal_id)
    assert at_kill is not None
    log.info("state when killed: %s (attempts %s)", at_kill.status, at_kill.attempts)
    if at_kill.status == "EXECUTING":
        # killed mid-execution: the claim is taken over once it is STALE_CLAIM old; age it, not the test
        async with session_scope() as session:
            await session.exec(update(Signal).where(Signal.id == signal_id).values(  # type: ignore[call-overload]
                claimed_at=utcnow() - STALE_CLAIM - STALE_CLAIM / 60))

    rig.process.start().wait_ready()
    await until(lambda: finished(signal_id), EXECUTES_WITHIN, "the signal to finish after the restart")
    await _executed_once(trader.address, signal_id, LONG_BTC)
    row = await finished(signal_id)
    assert row is not None and row.attempts == at_kill.attempts + (0 if at_kill.status == "EXECUTED" else 1)
    await _settles_unchanged(rig, trader.address)
    _clean(rig.process.all_output())


async def test_alert_accepted_while_no_process_runs_executes_once_at_start(
    app_factory: Callable[[], Running],
) -> None:
    rig = app_factory()  # not started
    trader = await new_trader()
    receipt = await receive_alert(IncomingAlert(
        webhook_uuid=trader.webhook_uuid, body=trader.text(LONG_BTC) + b"\n", received_at=utcnow(),
        source_ip="127.0.0.1", content_type="text/plain"))
    assert receipt.outcome is Outcome.ACCEPTED and receipt.signal_id is not None
    assert [(s.id, s.status) for s in await signals_of(trader.address)] == [(receipt.signal_id, "ACCEPTED")]

    began = time.monotonic()
    rig.process.start().wait_ready()
    await until(lambda: finished(receipt.signal_id or 0), EXECUTES_WITHIN, "the start-up sweep")
    log.info("start to executed: %.2fs", time.monotonic() - began)
    await _executed_once(trader.address, receipt.signal_id, LONG_BTC)
    assert (await finished(receipt.signal_id)).attempts == 1  # type: ignore[union-attr]
    await _settles_unchanged(rig, trader.address)
    _clean(rig.process.all_output())
