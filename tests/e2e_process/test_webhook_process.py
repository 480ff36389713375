"""The TradingView webhook against the real app process (`reflex run --env prod --backend-only`) on
PostgreSQL: HTTP over loopback in, paper positions (priced by a FakeIndexer) and Telegram messages
(to a FakeTelegram) out. The database is read directly to check what the process did.

All tests here share one process (`shared_app`); restarts are in test_webhook_restarts.py.
"""

from __future__ import annotations

import asyncio
import json
import logging
import time
import uuid
from collections import Counter
from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest

from tests.e2e_process.conftest import Running
from tests.e2e_process.support import (
    LONG_BTC,
    LONG_ETH,
    clean_log,
    executed_once,
    finished,
    new_trader,
    orders_of,
    paper_orders_of,
    positions_of,
    post,
    signals_of,
    until,
)
from trading_app.venues.paper.indexer_prices import IndexerPriceSource

pytestmark = pytest.mark.slow
log = logging.getLogger(__name__)

PRICE_CACHE_SECONDS = IndexerPriceSource("http://127.0.0.1:9").cache_seconds
EXECUTES_WITHIN = 10.0  # seconds from the 202 to a finished signal (it takes well under one)


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
            r = await post(client, answers, trader.url, content, {"content-type": content_type})
            assert r.status_code == 202, r.text
            assert r.json()["status"] == "accepted" and r.headers["cache-control"] == "no-store"
            assert "strict-transport-security" in r.headers  # the app runs with production settings
            signal_id = r.json()["signal_id"]
            await until(lambda s=signal_id: finished(s), EXECUTES_WITHIN, f"signal {signal_id} to finish")
            log.info("%s: 202 to executed in %.2fs", content_type, time.monotonic() - began)
            await executed_once(trader.address, signal_id, alert)

    [btc, eth] = await signals_of(trader.address)
    assert (btc.content_type, eth.content_type) == ("application/json", "text/plain; charset=utf-8")
    assert trader.secret not in btc.raw_body + eth.raw_body
    for market in ("BTC-USD", "ETH-USD"):  # the process told the trader, in their own chat
        await until(lambda m=market: _message(app, trader.chat_id, "Opened", m), 5, f"'Opened {market}'")
    clean_log(app.process.all_output())


async def _message(app: Running, chat_id: str | None, *words: str) -> bool:
    return any(m.chat_id == chat_id and all(w in m.plain for w in words) for m in app.telegram.messages)


async def test_twenty_concurrent_copies_of_one_alert_execute_once(
    app: Running, answers: list[httpx.Response]
) -> None:
    trader = await new_trader()
    content = trader.text(LONG_BTC, alert_id=f"strategy-7-{uuid.uuid4().hex}")
    async with httpx.AsyncClient(timeout=15, limits=httpx.Limits(max_connections=20)) as client:
        got = await asyncio.gather(*(post(client, answers, trader.url, content) for _ in range(20)))

    assert Counter(r.status_code for r in got) == {202: 1, 200: 19}, [r.text for r in got]
    [first] = [r for r in got if r.status_code == 202]
    signal_id = first.json()["signal_id"]
    assert first.json() == {"status": "accepted", "signal_id": signal_id}
    assert all(r.json() == {"status": "duplicate", "signal_id": signal_id} for r in got if r is not first)
    await until(lambda: finished(signal_id), EXECUTES_WITHIN, "the signal to finish")
    assert [(s.id, s.status) for s in await signals_of(trader.address)] == [(signal_id, "EXECUTED")]
    await executed_once(trader.address, signal_id, LONG_BTC)
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
            r = await post(client, answers, trader.url, trader.text(LONG_BTC))
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

        async def send(url: str, content: Any) -> httpx.Response:
            return await post(client, answers, url, content)

        # 401: one answer for an unknown webhook, a wrong secret and no secret; nothing is stored
        refused = [
            await send(f"{app.url}/api/webhooks/signal/{uuid.uuid4()}", trader.text(LONG_BTC)),
            await send(trader.url, trader.text(LONG_BTC, secret=other.secret)),
            await send(trader.url, json.dumps(LONG_BTC).encode()),
        ]
        assert [r.status_code for r in refused] == [401] * 3
        assert {r.content for r in refused} == {b'{"error":"unauthorized"}'}
        # identical but for the date and the request's own id (echoed for support, no oracle)
        varying = ("date", "x-request-id")
        same = {tuple(sorted((k, v) for k, v in r.headers.items() if k not in varying)) for r in refused}
        assert len(same) == 1

        # 413: declared too long, and streamed (chunked, no length) past the cap
        big = trader.text(LONG_BTC, comment="x" * (65 * 1024))

        async def chunks() -> AsyncIterator[bytes]:
            for i in range(0, len(big), 8192):
                yield big[i:i + 8192]

        for content in (big, chunks()):
            r = await send(trader.url, content)
            assert r.status_code == 413 and r.json() == {"error": "payload_too_large"}
        assert await signals_of(trader.address) == []

        # 422 with every problem, stored as REJECTED with the same details
        r = await send(trader.url, trader.text({"action": "jump", "market": "BTC-USD", "size": "-1"}))
        unlisted = await send(trader.url, trader.text({**LONG_BTC, "market": "DOGE-USD"}))
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
    clean_log(app.process.all_output())
