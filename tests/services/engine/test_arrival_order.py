"""One trader's market is executed in arrival order: a burst of alternating buys and closes ends
with the venue's exposure equal to the books, whatever the interleaving of the workers."""

from __future__ import annotations

import asyncio
from collections import Counter
from datetime import timedelta
from decimal import Decimal

from sqlmodel import select

from tests.fakes.indexer import FakeIndexer
from tests.services.engine_support import make_signal, make_user, positions, signal
from trading_app.db.engine import session_scope
from trading_app.db.models import PaperPosition, Signal
from trading_app.services.engine import claims, executor

BUY = {"action": "buy", "market": "BTC-USD", "size": "0.001", "sl_pct": "1", "rr": "2"}
CLOSE = {"action": "close", "market": "BTC-USD"}


async def _exposure(user: str) -> Decimal:
    async with session_scope() as session:
        rows = (await session.exec(select(PaperPosition).where(PaperPosition.user_address == user))).all()
    return sum((r.size for r in rows), Decimal(0))


async def test_a_signal_waits_for_the_earlier_one_of_its_market(
    db_url: str, paper_market: FakeIndexer
) -> None:
    user = await make_user(1)
    first = await make_signal(user, BUY)
    second = await make_signal(user, CLOSE)
    other_market = await make_signal(user, {**BUY, "market": "ETH-USD"})
    assert await claims.claim(second) is None  # the buy has not run yet
    assert (await signal(second)).status == "ACCEPTED"
    assert await claims.claim(other_market) is not None  # another market does not wait
    # executing the first runs the one that waited behind it, in order
    outcome = await executor.execute_signal(first)
    assert outcome is not None and outcome.status.value == "EXECUTED"
    assert (await signal(second)).status == "EXECUTED"
    [position, *_] = [p for p in await positions(user) if p.market == "BTC-USD"]
    assert position.status == "CLOSED" and position.close_reason == "SIGNAL"


async def test_a_burst_of_alternating_buys_and_closes_leaves_books_and_venue_equal(
    pg_url: str, paper_market: FakeIndexer
) -> None:
    users = [await make_user(10 + i) for i in range(6)]
    ids = [await make_signal(u, BUY if k % 2 == 0 else CLOSE) for k in range(21) for u in users]
    gate = asyncio.Semaphore(50)  # as many executions in flight as a busy worker runs

    async def dispatched(sid: int) -> None:
        async with gate:
            await executor.execute_signal(sid)

    await asyncio.gather(*(dispatched(s) for s in reversed(ids)))  # the worst order: newest first
    assert await executor.sweep(older_than=timedelta(0)) == []  # nothing was left behind
    async with session_scope() as session:
        statuses = Counter(r.status for r in (await session.exec(select(Signal))).all())
    assert statuses == {"EXECUTED": len(ids)}
    for user in users:
        books = [p for p in await positions(user) if p.status in ("OPEN", "OPENING", "CLOSING")]
        # the last alert of every trader is a buy: one open position, exactly what the venue holds
        assert len(books) == 1 and books[0].status == "OPEN"
        assert await _exposure(user) == books[0].size == Decimal("0.001")
        assert Counter(p.status for p in await positions(user)) == {"CLOSED": 10, "OPEN": 1}
