"""A burst of alerts against the real app process (one worker, PostgreSQL, the paper venue): buys
with a percentage stop and a reward:risk target, and closes, fired at 50 in flight, as bar closes
bunch them. Every trader ends with the venue's exposure equal to their open positions, each behind
a live stop-loss sized to it, and every signal's status says what happened.

The full-size run (10 traders, 3,000 alerts, a PostgreSQL restart, two workers) is
`bench/burst_safety.py`; this is its smaller version.
"""

from __future__ import annotations

import asyncio
from collections import Counter
from collections.abc import Callable

import httpx
import pytest
from sqlmodel import col, select

from tests.e2e_process.conftest import Running
from tests.e2e_process.support import new_trader, positions_of, post, signals_of, until
from trading_app.db.engine import session_scope
from trading_app.db.models import Signal
from trading_app.services.ops.audit import audit_account
from trading_app.venues.paper.prices import price_source_from_settings
from trading_app.venues.paper.venue import PaperVenue

pytestmark = pytest.mark.slow

BUY = {"action": "buy", "market": "BTC-USD", "size": "0.001", "sl_pct": "1", "rr": "2"}
CLOSE = {"action": "close", "market": "BTC-USD"}
TRADERS, ROUNDS, IN_FLIGHT = 5, 24, 50


async def _unfinished() -> int:
    async with session_scope() as session:
        found = await session.exec(select(Signal.id).where(col(Signal.status).in_(("ACCEPTED", "EXECUTING"))))
        return len(found.all())


async def test_a_burst_of_buys_and_closes_leaves_every_trader_protected_or_flat(
    app_factory: Callable[[], Running], answers: list[httpx.Response]
) -> None:
    rig = app_factory()
    rig.process.start().wait_ready()
    traders = [await new_trader() for _ in range(TRADERS)]
    bodies = [(t, t.text(BUY if k % 2 == 0 else CLOSE)) for k in range(ROUNDS) for t in traders]
    gate = asyncio.Semaphore(IN_FLIGHT)
    async with httpx.AsyncClient(timeout=30) as client:

        async def send(url: str, content: bytes) -> int:
            async with gate:
                return (await post(client, answers, url, content)).status_code

        codes = await asyncio.gather(*(send(t.url, body) for t, body in bodies))
    assert Counter(codes) == {202: len(bodies)}  # every alert stored once, none lost

    async def settled() -> bool:
        return await _unfinished() == 0

    await until(settled, 180, "every signal to finish")
    await asyncio.sleep(2)  # a few monitor ticks: anything left to repair is repaired by now
    for trader in traders:
        venue = PaperVenue(trader.address, price_source_from_settings())
        assert await audit_account(trader.address, "paper", venue) == [], trader.address
        signals = await signals_of(trader.address)
        assert len(signals) == ROUNDS
        outcomes = Counter((s.action, s.status, (s.reason or "").split(":")[0]) for s in signals)
        # arrival order decides which buys find a position already open and which closes find none;
        # nothing else may happen
        allowed = {("long", "EXECUTED", ""), ("long", "REJECTED", "position_exists"),
                   ("close", "EXECUTED", ""), ("close", "REJECTED", "no_position")}
        assert set(outcomes) <= allowed, outcomes
        positions = await positions_of(trader.address)
        opened = outcomes[("long", "EXECUTED", "")]
        assert len(positions) == opened and all(p.status in ("OPEN", "CLOSED") for p in positions)
        assert Counter(p.status for p in positions)["CLOSED"] == outcomes[("close", "EXECUTED", "")]
