"""The position monitor at scale: 1,000 open positions over 100 accounts, 50 ms of venue latency.

Every position is opened by the real engine (entry, stop-loss, take-profit) on the real PaperVenue,
priced over HTTP by the fake dYdX indexer (10 markets, so each account holds 10 positions). Then the
venue gets slow: every call a monitor makes through the `Venue` interface first waits `--latency`
(a proxy in front of the user's real PaperVenue that sleeps, then runs the real code; registered in
the venue cache the way bench/engine.py registers its timed venue), as a dYdX round trip would.

Measured, with one worker driven the way `jobs.py` drives it: the full tick on its interval
(`MONITOR_INTERVAL_SECONDS`) and the trigger watch on its own (`MONITOR_WATCH_SECONDS`; `--watch 0`
turns it off, to compare with full ticks alone):
- venue calls per account per tick (quiet ticks; target <= 2), counted at the venue;
- tick duration (target < 1 s with the latency: only concurrent reconciles can reach it), and the
  CPU it takes, next to what one paper `account_state` costs by itself; and the CPU of the whole
  interval, the trigger watch's price reads and comparisons included;
- fill-to-push latency (target < 1 s), p50/p95, per position up to the first
  `events.positions_changed(user)` call after its books closed (a listener subscribed here):
  from the price move (what the trader sees), and from the venue's fill of its TP/SL;
  once for one market (100 positions, one per account), once for the other nine at once (900).
Then the 1,000 positions are opened again and both mass fills are measured once more with TWO
workers: a second process (this script with `--child`) on the same database and prices takes its
share of the accounts by the lease (`services.monitor.leases`) and runs the same ticks and watch;
its pushes are merged into the latencies, its CPU printed next to this process's.

Run: python bench/monitor.py [--users 100] [--per-user 10] [--latency 0.05] [--interval 3] [--watch 0.5]
Needs the local PostgreSQL (a throwaway database is created and dropped).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import statistics
import sys
import time
from collections import Counter
from decimal import Decimal
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))
from monitor_rig import (  # noqa: E402 - after the path is set
    Driver,
    Latency,
    Pushes,
    SecondWorker,
    SlowVenue,
    _addresses,
    _create_schema,
    _open_all,
    _prepare_env,
    pct,
)

SOLO = 5  # positions alone in a market of their own: a single fill, moved one at a time


async def _child(n_users: int, latency: float, interval: float, watch: float) -> None:
    from trading_app.db.engine import dispose_engines
    from trading_app.services.accounts import venues
    from trading_app.services.monitor.tick import stop
    from trading_app.services.notify import events
    from trading_app.venues.paper.prices import price_source_from_settings
    from trading_app.venues.paper.venue import PaperVenue

    source = price_source_from_settings()
    for user in _addresses(n_users):
        venues._loop_cache()[(user, "paper")] = SlowVenue(PaperVenue(user, source))  # type: ignore[assignment]
    Latency.seconds = latency
    pushes = Pushes()
    events.subscribe(pushes)
    driver = Driver(interval, watch, worker="bench-2")
    loops = driver.start()
    print("ready", flush=True)
    reader = asyncio.StreamReader()
    await asyncio.get_running_loop().connect_read_pipe(
        lambda: asyncio.StreamReaderProtocol(reader), sys.stdin
    )
    cpu = time.process_time()
    while (await reader.readline()).strip() == b"dump":
        now = time.process_time()
        print(json.dumps({"times": pushes.times, "cpu": now - cpu}), flush=True)
        pushes.times, cpu = {}, now
    for loop in loops:
        loop.cancel()
    await asyncio.gather(*loops, return_exceptions=True)
    await stop("bench-2")
    await dispose_engines()


async def _quiet_ticks(n: int, interval: float, watch: float) -> None:
    from trading_app.services.monitor.tick import monitor_tick, watch_tick

    async def fast() -> None:  # the trigger watch runs meanwhile, as in production
        while True:
            await watch_tick("bench")
            await asyncio.sleep(watch)

    watcher = asyncio.get_running_loop().create_task(fast()) if watch > 0 else None
    ticks = []
    between = 0  # venue calls outside the ticks: the watch's, if it made any
    all_cpu = time.process_time()
    for _ in range(n):
        Latency.calls.clear()
        begun, cpu = time.perf_counter(), time.process_time()
        report = await monitor_tick("bench", sweep=False)
        ticks.append((report, dict(Latency.calls), time.perf_counter() - begun, time.process_time() - cpu))
        in_tick = sum(Latency.calls.values())
        await asyncio.sleep(max(0.0, interval - (time.perf_counter() - begun)))
        between += sum(Latency.calls.values()) - in_tick
    all_cpu = time.process_time() - all_cpu
    if watcher is not None:
        watcher.cancel()
    per_account = [c for _, calls, _, _ in ticks for c in calls.values()]
    counted = [r.venue_calls for report, _, _, _ in ticks for r in report.results]
    durations, cpu = [d for _, _, d, _ in ticks], [c for _, _, _, c in ticks]
    owned = ticks[-1][0].owned
    print(f"quiet ticks: {n} x {owned} accounts")
    print(
        f"  venue calls per account per tick: max {max(per_account)}, "
        f"mean {statistics.mean(per_account):.2f} (the monitor's own count: max {max(counted)})"
        "   target <= 2"
    )
    print(f"  tick duration: p50 {pct(durations, 50):.3f} s, max {max(durations):.3f} s   target < 1 s")
    print(
        f"  CPU of this process per tick: p50 {pct(cpu, 50):.3f} s = {pct(cpu, 50) / owned * 1000:.1f} ms "
        f"per account, the paper venue's own bookkeeping included"
    )
    print(
        f"  CPU of this process per {interval:g} s interval, the trigger watch included"
        f" (every {watch:g} s): {all_cpu / n:.3f} s; venue calls between ticks: {between}"
    )


async def _venue_cpu(users: list[str]) -> float:
    """CPU of one paper `account_state` call, measured alone (sequential, no latency): ms."""
    from trading_app.services.accounts import venues

    saved, Latency.seconds = Latency.seconds, 0.0
    cpu = time.process_time()
    for user in users:
        await (await venues.venue_for(user, "paper")).account_state()
    Latency.seconds = saved
    return (time.process_time() - cpu) / len(users) * 1000


async def _fill_event(
    fake,  # noqa: ANN001 - the FakeIndexer (a test fake)
    moves: dict[str, Decimal],
    label: str,
    interval: float,
    watch: float,
    pushes: Pushes,
    quiet: bool = False,
    other: SecondWorker | None = None,
) -> tuple[list[float], list[float]]:
    from sqlalchemy import func
    from sqlmodel import col, select

    from trading_app.db.engine import session_scope
    from trading_app.db.models import PaperFill, Position

    async def open_in_moved() -> list:  # type: ignore[type-arg]
        async with session_scope() as session:
            return list(
                (
                    await session.exec(
                        select(Position).where(
                            col(Position.market).in_(list(moves)), col(Position.status) != "CLOSED"
                        )
                    )
                ).all()
            )

    expected = len(await open_in_moved())
    driver = Driver(interval, watch)
    loops = driver.start()
    # the move lands mid-way between two full ticks: the average wait for one
    await asyncio.sleep(interval / 2)
    driver.ticks.clear()
    moved = utcnow_ts = time.time()
    Latency.methods.clear()
    cpu = time.process_time()
    for market, price in moves.items():
        fake.set_price(market, price)
    while await open_in_moved() and time.time() < moved + 300:
        await asyncio.sleep(0.05)
    for loop in loops:
        loop.cancel()
    await asyncio.gather(*loops, return_exceptions=True)
    cpu = time.process_time() - cpu
    await asyncio.sleep(1)  # the last closes' pushes follow their commits
    other_cpu = await other.collect(pushes) if other is not None else 0.0
    from datetime import UTC, datetime

    since = datetime.fromtimestamp(utcnow_ts, UTC)
    async with session_scope() as session:
        # closed by this move (the markets' positions of an earlier round are closed too)
        closed = list(
            (
                await session.exec(
                    select(Position).where(
                        col(Position.market).in_(list(moves)),
                        col(Position.status) == "CLOSED",
                        col(Position.closed_at) >= since,
                    )
                )
            ).all()
        )
        first_fills = (
            select(PaperFill.user_address, PaperFill.market, func.min(PaperFill.created_at))
            .where(col(PaperFill.market).in_(list(moves)), col(PaperFill.created_at) >= since)
            .group_by(PaperFill.user_address, PaperFill.market)
        )
        fills = (await session.exec(first_fills)).all()
    from_move = pushes.latencies(closed, {(p.user_address, p.market): moved for p in closed})
    from_fill = pushes.latencies(closed, {(u, m): t.timestamp() for u, m, t in fills})
    if quiet:
        return from_move, from_fill
    print(f"{label}: {expected} positions through their TP/SL at once")
    print(
        f"  full ticks until all closed: {len(driver.ticks)} (durations "
        f"{', '.join(f'{d:.2f}' for _, d in driver.ticks)} s); accounts the trigger watch reconciled "
        f"at once: {driver.fast_started}"
    )
    print(
        f"  books: {dict(Counter(p.close_reason for p in closed))}; venue calls meanwhile: "
        f"{dict(Latency.methods)}"
    )
    for what, latencies in (("price move", from_move), ("venue fill", from_fill)):
        if latencies:
            print(
                f"  {what}-to-push latency: p50 {pct(latencies, 50):.3f} s, "
                f"p95 {pct(latencies, 95):.3f} s, max {latencies[-1]:.3f} s ({len(latencies)} positions)"
                "   target < 1 s"
            )
    print(
        f"  CPU of this process from the move until all closed: {cpu:.2f} s = "
        f"{cpu / max(expected, 1) * 1000:.0f} ms per closed position (ticks and watch included)"
        + (f"; of the second worker's process: {other_cpu:.2f} s" if other is not None else "")
    )
    if len(from_move) < expected:
        print(f"  {expected - len(from_move)} positions were not closed and pushed within 300 s")
    return from_move, from_fill


async def _run(
    fake,  # noqa: ANN001 - the FakeIndexer (a test fake)
    n_users: int,
    per_user: int,
    latency: float,
    interval: float,
    watch: float,
) -> None:
    from tests.services.engine_support import make_user
    from trading_app.db.engine import dispose_engines
    from trading_app.services.accounts import venues
    from trading_app.services.monitor.tick import monitor_tick
    from trading_app.services.notify import events
    from trading_app.venues.paper.prices import price_source_from_settings
    from trading_app.venues.paper.venue import PaperVenue

    markets = [f"M{i}-USD" for i in range(per_user)]
    users = [await make_user(n + 1) for n in range(n_users)]
    source = price_source_from_settings()
    for user in users:
        venues._loop_cache()[(user, "paper")] = SlowVenue(PaperVenue(user, source))  # type: ignore[assignment]
    started = time.perf_counter()
    await _open_all(users, markets)
    print(
        f"set-up: {n_users * per_user} positions opened by the engine over {n_users} accounts "
        f"in {time.perf_counter() - started:.0f} s"
    )
    print(
        f"venue latency {latency * 1000:.0f} ms per call; tick interval {interval:g} s; trigger watch "
        f"{f'every {watch:g} s' if watch else 'off'}; one worker; "
        f"load average {os.getloadavg()[0]:.1f} on {os.cpu_count()} CPUs"
    )
    Latency.seconds = latency
    pushes = Pushes()
    events.subscribe(pushes)
    await monitor_tick("bench", sweep=False)  # warm-up: pool connections, leases created
    await _quiet_ticks(5, interval, watch)
    print(f"  for scale: one paper account_state alone costs {await _venue_cpu(users[:20]):.1f} ms CPU")
    # one market through its take-profit: one position per account
    await _fill_event(fake, {markets[0]: Decimal("70500")}, "one market moves", interval, watch, pushes)
    # room made (10 positions per account at most): a few positions alone in markets of their own
    solo = [f"S{i}-USD" for i in range(SOLO)]
    # the first SOLO accounts get one each (fewer if there are fewer accounts): truncation is meant
    await asyncio.gather(*(_open_all([user], [market]) for user, market in zip(users, solo, strict=False)))
    # one position alone through its take-profit, a few times: one trader's fill, the everyday case
    alone: tuple[list[float], list[float]] = ([], [])
    for market in solo:
        move_, fill = await _fill_event(
            fake, {market: Decimal("70500")}, "", interval, watch, pushes, quiet=True
        )
        alone[0].extend(move_)
        alone[1].extend(fill)
    print(f"one position alone through its TP, {len(solo)} times in turn (other markets still):")
    for what, latencies in (("price move", sorted(alone[0])), ("venue fill", sorted(alone[1]))):
        if latencies:
            print(
                f"  {what}-to-push latency: p50 {pct(latencies, 50):.3f} s, max {latencies[-1]:.3f} s"
                f" ({len(latencies)} positions)   target < 1 s"
            )
    # then every other market at once, half through the TP and half through the SL: a crash or a spike
    rest = {m: Decimal("70500") if i % 2 == 0 else Decimal("59000") for i, m in enumerate(markets[1:])}
    await _fill_event(fake, rest, "all other markets move", interval, watch, pushes)
    # the same two mass fills again, with a second worker process sharing the accounts by the lease
    for market in markets:
        fake.set_price(market, Decimal("65000"))
    await asyncio.sleep(1.5)  # the price source caches for a second
    started = time.perf_counter()
    await _open_all(users, markets)
    print(
        f"two workers: {n_users * per_user} positions opened again in {time.perf_counter() - started:.0f} s"
    )
    other = SecondWorker(n_users, interval, watch, latency)
    await other.start()
    try:
        warm = Driver(interval, watch)  # both workers tick a few times: the shares settle
        loops = warm.start()
        await asyncio.sleep(3 * interval)
        for loop in loops:
            loop.cancel()
        await asyncio.gather(*loops, return_exceptions=True)
        print(f"  accounts this worker owns: {warm.ticks[-1][0].owned} of {n_users}")  # type: ignore[attr-defined]
        await other.collect(pushes)  # its warm-up pushes and CPU left out
        await _fill_event(
            fake,
            {markets[0]: Decimal("70500")},
            "two workers, one market moves",
            interval,
            watch,
            pushes,
            other=other,
        )
        await _fill_event(
            fake, rest, "two workers, all other markets move", interval, watch, pushes, other=other
        )
    finally:
        await other.stop()
    events.unsubscribe(pushes)
    await dispose_engines()


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--users", type=int, default=100)
    parser.add_argument("--per-user", type=int, default=10)
    parser.add_argument("--latency", type=float, default=0.05)
    parser.add_argument("--interval", type=float, default=None, help="default: MONITOR_INTERVAL_SECONDS (3)")
    parser.add_argument(
        "--watch", type=float, default=None, help="default: MONITOR_WATCH_SECONDS (0.5); 0: off"
    )
    parser.add_argument("--child", action="store_true", help=argparse.SUPPRESS)  # the second worker
    args = parser.parse_args()
    if args.child:  # the environment (database, prices) is the parent's
        asyncio.run(_child(args.users, args.latency, args.interval, args.watch))
        return
    from tests.fakes.indexer import FakeIndexer, default_markets

    btc = default_markets()["BTC-USD"]
    markets = {
        f"M{i}-USD": {**btc, "ticker": f"M{i}-USD", "clobPairId": str(100 + i)} for i in range(args.per_user)
    }
    markets.update(
        {f"S{i}-USD": {**btc, "ticker": f"S{i}-USD", "clobPairId": str(200 + i)} for i in range(SOLO)}
    )
    with FakeIndexer(markets=markets) as fake:
        _, cleanup = _prepare_env(fake.url)
        try:
            _create_schema()
            from trading_app.settings import get_settings

            interval = args.interval if args.interval is not None else get_settings().monitor_interval_seconds
            watch = args.watch if args.watch is not None else get_settings().monitor_watch_seconds
            asyncio.run(_run(fake, args.users, args.per_user, args.latency, interval, watch))
        finally:
            cleanup()  # type: ignore[operator]


if __name__ == "__main__":
    main()
