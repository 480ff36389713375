"""Many users at once, and one user hit from several tasks and several processes: no double fills."""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
import textwrap
from decimal import Decimal as D
from pathlib import Path

import pytest

from tests.venues.paper.support import IndexerDriver, make_user
from trading_app.db.engine import dispose_engines
from trading_app.domain.enums import OrderStatus, OrderType, PositionSide, Side
from trading_app.venues.base import OrderRef
from trading_app.venues.paper import IndexerPriceSource, PaperVenue

ETH, STEP = "ETH-USD", D("0.001")
ROOT = Path(__file__).resolve().parents[3]


async def test_fifty_users_trading_at_once_keep_separate_books(
    indexer_market: tuple[IndexerPriceSource, IndexerDriver],
) -> None:
    source, driver = indexer_market
    users = await asyncio.gather(*(make_user() for _ in range(50)))
    venues = [PaperVenue(user, source) for user in users]

    async def trade(i: int, venue: PaperVenue) -> None:
        size = STEP * (i + 1)  # every user a different size, so a mix-up shows
        await venue.place_market_order(ETH, Side.BUY, size, worst_price=D("3010"), client_id=1000 + i)
        await venue.place_stop_loss(
            ETH, Side.SELL, size, D("2950"), worst_price=D("2900"), client_id=2000 + i, good_til_seconds=3600
        )

    await asyncio.gather(*(trade(i, v) for i, v in enumerate(venues)))
    states = await asyncio.gather(*(v.account_state() for v in venues))
    for i, state in enumerate(states):
        size = STEP * (i + 1)
        assert (
            state.account.positions[ETH].size == size
            and state.account.positions[ETH].side is PositionSide.LONG
        )
        assert [f.client_id for f in state.fills] == [1000 + i]
        assert [(o.ref.client_id, o.status) for o in state.open_orders] == [
            (2000 + i, OrderStatus.UNTRIGGERED)
        ]
        fee = state.fills[0].fee
        assert state.account.equity == D("10000") - fee + size * (D("3000") - state.fills[0].price)

    await driver.set_price(D("2940"))
    changed = await asyncio.gather(*(v.process_triggers() for v in venues))
    assert changed == [1] * 50
    states = await asyncio.gather(*(v.account_state() for v in venues))
    for i, state in enumerate(states):
        size = STEP * (i + 1)
        assert state.account.positions == {} and state.open_orders == []
        entry, exit_ = state.fills
        assert (entry.client_id, exit_.client_id, exit_.size, exit_.side) == (
            1000 + i,
            2000 + i,
            size,
            Side.SELL,
        )
        pnl = size * (exit_.price - entry.price)
        assert state.account.equity == D("10000") + pnl - entry.fee - exit_.fee


async def test_one_user_hammered_from_many_tasks_fills_once(
    indexer_market: tuple[IndexerPriceSource, IndexerDriver],
) -> None:
    source, driver = indexer_market
    user = await make_user()
    venues = [PaperVenue(user, source) for _ in range(4)]  # e.g. the webhook path and the monitor
    refs = await asyncio.gather(
        *(
            venues[i % 4].place_market_order(ETH, Side.BUY, D("0.01"), worst_price=D("3010"), client_id=77)
            for i in range(20)
        )
    )
    assert len({r.venue_order_id for r in refs}) == 1
    await venues[0].place_stop_loss(
        ETH, Side.SELL, D("0.01"), D("2950"), worst_price=D("2900"), client_id=78, good_til_seconds=3600
    )
    await driver.set_price(D("2940"))
    changed = await asyncio.gather(*(venues[i % 4].process_triggers() for i in range(20)))
    assert sorted(changed) == [0] * 19 + [1]
    fills = await venues[1].fills()
    assert [(f.client_id, f.size) for f in fills] == [(77, D("0.01")), (78, D("0.01"))]
    assert (await venues[2].account()).positions == {}


WORKER = textwrap.dedent(
    """
    import asyncio, sys
    from decimal import Decimal
    from trading_app.db.engine import session_scope
    from trading_app.domain.enums import Side
    from trading_app.venues.paper import IndexerPriceSource, PaperVenue

    async def main(url, user):
        source = IndexerPriceSource(url, cache_seconds=0)
        venue = PaperVenue(user, source)
        await source.markets()  # warm the HTTP connection and the database pool before the start
        async with session_scope() as session:
            await session.connection()
        print("ready", flush=True)
        await asyncio.to_thread(sys.stdin.readline)  # the barrier: every worker starts at once
        entry, changed = await asyncio.gather(
            venue.place_market_order("ETH-USD", Side.BUY, Decimal("0.01"), worst_price=Decimal("3010"),
                                     client_id=77),
            venue.process_triggers(),
        )
        print(entry.venue_order_id, changed, flush=True)

    asyncio.run(main(*sys.argv[1:]))
    """
)


def run_workers(count: int, *args: str) -> list[list[str]]:
    """Start `count` worker processes, release them together once all are ready, return their answers."""
    workers = [
        subprocess.Popen(  # noqa: S603 - our own worker code
            [sys.executable, "-c", WORKER, *args],
            cwd=ROOT,
            env=os.environ.copy(),
            text=True,
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
        )
        for _ in range(count)
    ]
    try:
        for w in workers:
            ready = w.stdout.readline()
            assert ready == "ready\n", (ready, w.stderr.read() if w.poll() is not None else "")
        for w in workers:
            w.stdin.write("go\n")
            w.stdin.flush()
        outputs = [w.communicate(timeout=60) for w in workers]
    finally:
        for w in workers:
            if w.poll() is None:
                w.kill()
    assert all(w.returncode == 0 for w in workers), [err[-2000:] for _, err in outputs]
    return [out.split() for out, _ in outputs]


@pytest.mark.slow
async def test_several_processes_racing_on_one_user_fill_once(
    indexer_market: tuple[IndexerPriceSource, IndexerDriver],
) -> None:
    """Each process has its own in-process lock: only the database's account row lock keeps them apart."""
    source, driver = indexer_market
    user = await make_user()
    venue = PaperVenue(user, source)
    await venue.place_market_order(ETH, Side.BUY, D("0.02"), worst_price=D("3010"), client_id=1)
    stop = await venue.place_stop_loss(
        ETH, Side.SELL, D("0.02"), D("2950"), worst_price=D("2900"), client_id=2, good_til_seconds=3600
    )
    await driver.set_price(D("2940"))  # the stop has fired; nobody has processed it yet
    await dispose_engines()
    answers = await asyncio.to_thread(run_workers, 4, driver.fake.url, user)
    assert len({order_id for order_id, _ in answers}) == 1  # every process got the same order
    assert sorted(int(changed) for _, changed in answers) == [0, 0, 0, 1]  # one of them fired the stop
    fills = await venue.fills()
    assert sorted((f.client_id, f.size) for f in fills) == [(1, D("0.02")), (2, D("0.02")), (77, D("0.01"))]
    assert (await venue.order_status(stop)).filled == D("0.02")
    assert (await venue.order_status(OrderRef(77, ETH, OrderType.MARKET))).filled == D("0.01")
    assert (await venue.account()).positions[ETH].size == D("0.01")


async def _account_stamp(user: str) -> object:
    from sqlmodel import select

    from trading_app.db.engine import session_scope
    from trading_app.db.models import PaperAccount

    async with session_scope() as session:
        stmt = select(PaperAccount.updated_at).where(PaperAccount.user_address == user)
        return (await session.exec(stmt)).one()


async def test_a_read_with_nothing_due_writes_nothing(
    indexer_market: tuple[IndexerPriceSource, IndexerDriver],
) -> None:
    # every write locks the account row and stamps it: an unchanged stamp means no write transaction
    source, driver = indexer_market
    user = await make_user()
    venue = PaperVenue(user, source)
    await venue.place_market_order(ETH, Side.BUY, D("0.01"), worst_price=D("3010"), client_id=1)
    await venue.place_stop_loss(ETH, Side.SELL, D("0.01"), D("2950"), worst_price=D("2900"), client_id=2,
                                good_til_seconds=3600)
    await venue.place_limit_order(ETH, Side.BUY, D("0.01"), D("2800"), client_id=3, good_til_seconds=3600)
    stamp = await _account_stamp(user)
    for _ in range(3):
        state = await venue.account_state()
        assert await venue.process_triggers() == 0
    assert len(state.open_orders) == 2 and await _account_stamp(user) == stamp

    await driver.set_price(D("2940"))  # the stop is crossed, the limit is not: now the read acts
    state = await venue.account_state()
    assert [o.ref.client_id for o in state.open_orders] == [3] and state.account.positions == {}
    assert await _account_stamp(user) != stamp


async def test_concurrent_reads_fire_a_crossed_stop_once(
    indexer_market: tuple[IndexerPriceSource, IndexerDriver],
) -> None:
    source, driver = indexer_market
    user = await make_user()
    venues = [PaperVenue(user, source) for _ in range(4)]  # the monitor's reads and the engine's
    await venues[0].place_market_order(ETH, Side.BUY, D("0.02"), worst_price=D("3010"), client_id=1)
    await venues[0].place_stop_loss(ETH, Side.SELL, D("0.02"), D("2950"), worst_price=D("2900"), client_id=2,
                                    good_til_seconds=3600)
    await driver.set_price(D("2940"))
    states = await asyncio.gather(
        *(venues[i % 4].account_state() for i in range(12)),
        venues[1].place_market_order(ETH, Side.BUY, D("0.01"), worst_price=D("3010"), client_id=3),
    )
    fills = await venues[2].fills()
    assert [(f.client_id, f.size) for f in fills if f.client_id == 2] == [(2, D("0.02"))]  # exactly once
    assert (await venues[3].account()).positions[ETH].size == D("0.01")  # whichever came first
    assert all(o.ref.client_id != 2 for s in states[:-1] for o in s.open_orders)  # type: ignore[union-attr]


async def test_reads_at_the_same_moment_each_get_their_own_fills(
    indexer_market: tuple[IndexerPriceSource, IndexerDriver],
) -> None:
    # concurrent reads are answered by shared queries: each must still see only its user and its cursor
    source, _ = indexer_market
    users = [await make_user() for _ in range(3)]
    venues = [PaperVenue(user, source) for user in users]
    for i, venue in enumerate(venues):
        for n in range(i + 1):
            await venue.place_market_order(ETH, Side.BUY, STEP, worst_price=D("3010"), client_id=10 + n)
    first1, first2 = (await venues[1].fills())[0].time, (await venues[2].fills())[0].time
    states = await asyncio.gather(
        venues[0].account_state(),
        venues[1].account_state(since=first1),
        venues[2].account_state(since=first2),
        venues[2].account_state(), venues[1].account_state(),
    )
    assert [[f.client_id for f in s.fills] for s in states] == [[10], [11], [11, 12], [10, 11, 12], [10, 11]]
    assert [s.account.positions[ETH].size for s in states] == [STEP, 2 * STEP, 3 * STEP, 3 * STEP, 2 * STEP]
