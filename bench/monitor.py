"""The position monitor at scale: 1,000 open positions over 100 accounts, 50 ms of venue latency.

Every position is opened by the real engine (entry, stop-loss, take-profit) on the real PaperVenue,
priced over HTTP by the fake dYdX indexer (10 markets, so each account holds 10 positions). Then the
venue gets slow: every call a monitor makes through the `Venue` interface first waits `--latency`
(a proxy in front of the user's real PaperVenue that sleeps, then runs the real code; registered in
the venue cache the way bench/engine.py registers its timed venue), as a dYdX round trip would.

Measured, with the tick driven on the scheduler's interval by one worker:
- venue calls per account per tick (quiet ticks; target <= 2), counted at the venue;
- tick duration (target < 1 s with the latency: only concurrent reconciles can reach it);
- fill-to-push latency: from the price move that fires every TP/SL to the moment
  `events.positions_changed(user)` is called for that user (a listener subscribed here), p50/p95.

Run: python bench/monitor.py [--users 100] [--per-user 10] [--latency 0.05] [--interval 3]
Needs the local PostgreSQL (a throwaway database is created and dropped).
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import inspect
import json
import os
import statistics
import sys
import time
import uuid
from collections import Counter
from decimal import Decimal
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
ADMIN = "postgresql://postgres@127.0.0.1:5432/postgres"


def _prepare_env(indexer_url: str) -> tuple[str, object]:
    import psycopg

    name = f"bench_monitor_{uuid.uuid4().hex[:8]}"
    with psycopg.connect(ADMIN, autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    os.environ.update({
        "APP_ENV": "development", "PAPER_PRICE_SOURCE": indexer_url,
        "APP_MASTER_KEYS": json.dumps({"1": base64.b64encode(os.urandom(32)).decode()}),
        "APP_PRIMARY_KEY_ID": "1", "TELEGRAM_API_BASE_URL": "http://127.0.0.1:9/bot",
        "DATABASE_URL": f"postgresql+psycopg://postgres@127.0.0.1:5432/{name}",
    })

    def cleanup() -> None:
        with psycopg.connect(ADMIN, autocommit=True) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')

    return name, cleanup


def _create_schema() -> None:
    from sqlalchemy import create_engine
    from sqlmodel import SQLModel

    from trading_app.db import models  # noqa: F401 - the tables
    from trading_app.settings import get_settings

    engine = create_engine(get_settings().database_url)
    SQLModel.metadata.create_all(engine)
    engine.dispose()


class Latency:
    """The simulated network: every venue call waits `seconds` first and is counted per user."""

    seconds = 0.0
    calls: Counter[str] = Counter()


class SlowVenue:
    """A user's real PaperVenue behind a slow link: each call through it waits, then runs the real
    code. A proxy, not a subclass, so the venue's own internal calls are not slowed or counted."""

    def __init__(self, venue: object) -> None:
        self._venue = venue

    def __getattr__(self, name: str) -> object:
        attr = getattr(self._venue, name)
        if name.startswith("_") or not inspect.iscoroutinefunction(attr):
            return attr

        async def slow(*args: object, **kwargs: object) -> object:
            Latency.calls[self._venue.user] += 1  # type: ignore[attr-defined]
            if Latency.seconds:
                await asyncio.sleep(Latency.seconds)
            return await attr(*args, **kwargs)

        return slow


def pct(values: list[float], p: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(round(p / 100 * (len(ordered) - 1))))]


async def _open_all(users: list[str], markets: list[str]) -> None:
    from tests.services.engine_support import make_signal
    from trading_app.services import execution

    async def one_user(user: str) -> None:
        for market in markets:
            body = {"action": "buy", "market": market, "size": "0.01", "sl": "60000", "tp": "70000"}
            outcome = await execution.execute_signal(await make_signal(user, body))
            assert outcome is not None and outcome.status.value == "EXECUTED", outcome and outcome.reason

    gate = asyncio.Semaphore(20)

    async def bounded(user: str) -> None:
        async with gate:
            await one_user(user)

    await asyncio.gather(*(bounded(u) for u in users))


async def _run(fake, n_users: int, per_user: int, latency: float, interval: float) -> None:  # noqa: ANN001
    from sqlmodel import col, func, select

    from tests.services.engine_support import make_user
    from trading_app.db.engine import dispose_engines, session_scope
    from trading_app.db.models import Position
    from trading_app.services import events, venues
    from trading_app.services.monitor import monitor_tick
    from trading_app.venues.paper.prices import price_source_from_settings
    from trading_app.venues.paper.venue import PaperVenue

    markets = [f"M{i}-USD" for i in range(per_user)]
    users = [await make_user(n + 1) for n in range(n_users)]
    source = price_source_from_settings()
    for user in users:
        venues._loop_cache()[(user, "paper")] = SlowVenue(PaperVenue(user, source))  # type: ignore[assignment]
    started = time.perf_counter()
    await _open_all(users, markets)
    async with session_scope() as session:
        live = (await session.exec(select(func.count()).select_from(Position).where(
            col(Position.status) == "OPEN"))).one()
    print(f"set-up: {live} open positions over {n_users} accounts in {time.perf_counter() - started:.1f} s")

    async def _still_open() -> bool:
        async with session_scope() as session:
            return bool((await session.exec(select(func.count()).select_from(Position).where(
                col(Position.status) != "CLOSED"))).one())

    Latency.seconds = latency
    pushes: dict[str, list[float]] = {}
    moved_at = 0.0

    async def listener(user: str) -> None:
        if moved_at:
            pushes.setdefault(user, []).append(time.time())

    events.subscribe(listener)
    await monitor_tick("bench", sweep=False)  # warm-up: pool connections, leases created

    quiet: list = []
    for _ in range(5):
        Latency.calls.clear()
        begun, cpu = time.perf_counter(), time.process_time()
        report = await monitor_tick("bench", sweep=False)
        quiet.append((report, dict(Latency.calls), time.perf_counter() - begun, time.process_time() - cpu))
        await asyncio.sleep(max(0.0, interval - (time.perf_counter() - begun)))

    for i, market in enumerate(markets):  # half the markets through the TP, half through the SL
        fake.set_price(market, Decimal("70500") if i % 2 == 0 else Decimal("59000"))
    moved_at = time.time()
    fill_ticks: list = []
    deadline = moved_at + 120
    while await _still_open() and time.time() < deadline:
        begun = time.perf_counter()
        report = await monitor_tick("bench", sweep=False)
        fill_ticks.append((report, time.perf_counter() - begun))
        await asyncio.sleep(max(0.0, interval - (time.perf_counter() - begun)))
    await asyncio.sleep(0.5)
    async with session_scope() as session:
        closed = (await session.exec(select(Position).where(col(Position.status) == "CLOSED"))).all()
    reasons = Counter(p.close_reason for p in closed)
    latencies = []  # per position: the first push of its user after its books were closed
    for p in closed:
        after = [t for t in pushes.get(p.user_address, []) if p.closed_at and t >= p.closed_at.timestamp()]
        if after:
            latencies.append(after[0] - moved_at)
    events.unsubscribe(listener)
    await dispose_engines()

    per_account = [c for _, calls, _, _ in quiet for c in calls.values()]
    monitor_calls = [r.venue_calls for report, _, _, _ in quiet for r in report.results]
    durations = [d for _, _, d, _ in quiet]
    cpu = [c for _, _, _, c in quiet]
    print(f"venue latency: {latency * 1000:.0f} ms per call; tick interval {interval:g} s; one worker")
    print(f"quiet ticks: {len(quiet)} x {quiet[-1][0].owned} accounts / {live} positions")
    print(f"  venue calls per account per tick: max {max(per_account)}, mean {statistics.mean(per_account):.2f}"
          f"   (monitor's own count: max {max(monitor_calls)})   target <= 2")
    print(f"  tick duration: p50 {pct(durations, 50):.3f} s, max {max(durations):.3f} s   target < 1 s")
    print(f"  CPU of this process per tick: p50 {pct(cpu, 50):.3f} s "
          f"({pct(cpu, 50) / max(1, quiet[-1][0].owned) * 1000:.1f} ms per account, paper venue included)")
    print(f"fill ticks: {len(fill_ticks)}; durations {', '.join(f'{d:.3f}' for _, d in fill_ticks)} s")
    print(f"  outcomes: {dict(sum((r.outcomes for r, _ in fill_ticks), Counter()))}; books: {dict(reasons)}")
    latencies.sort()
    if latencies:
        print(f"fill-to-push latency over {len(latencies)} positions: p50 {pct(latencies, 50):.3f} s, "
              f"p95 {pct(latencies, 95):.3f} s, max {latencies[-1]:.3f} s")
    if len(latencies) < live:
        print(f"  {live - len(latencies)} positions were not closed and pushed within 120 s")


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--users", type=int, default=100)
    parser.add_argument("--per-user", type=int, default=10)
    parser.add_argument("--latency", type=float, default=0.05)
    parser.add_argument("--interval", type=float, default=None, help="default: MONITOR_INTERVAL_SECONDS (3)")
    args = parser.parse_args()
    from tests.fakes.indexer import FakeIndexer, default_markets

    btc = default_markets()["BTC-USD"]
    markets = {f"M{i}-USD": {**btc, "ticker": f"M{i}-USD", "clobPairId": str(100 + i)} for i in range(args.per_user)}
    with FakeIndexer(markets=markets) as fake:
        _, cleanup = _prepare_env(fake.url)
        try:
            _create_schema()
            from trading_app.settings import get_settings

            interval = args.interval if args.interval is not None else get_settings().monitor_interval_seconds
            asyncio.run(_run(fake, args.users, args.per_user, args.latency, interval))
        finally:
            cleanup()  # type: ignore[operator]


if __name__ == "__main__":
    main()
