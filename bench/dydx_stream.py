"""dYdX by stream: venue fill to dashboard for 100 simultaneous fills, and indexer REST while quiet.

100 traders, each with a dYdX owner of their own on the fake chain (tests.fakes: node, indexer and
its websocket `dydx_socks`), each open a real ETH-USD long through the engine (entry, stop-loss,
take-profit, signed transactions). One monitor worker then runs as `jobs.py` drives it: the full tick
every `--interval` (trigger watch off unless `--watch`, so what is measured is the stream).

Measured:
- quiet: indexer requests about the accounts (`/v4/orders`, `/v4/fills`, `/v4/addresses`) per
  minute per account over `--quiet` seconds once every account is streamed (target: none);
- fill: the price crosses all 100 take-profits at once; per position, from the commit of the block
  that filled it (the moment the indexer shows it) to its trader's first dashboard push after its
  books closed (`events.positions_changed`); p50 / p95 (target p95 < 1 s), every position closed once.
`--no-stream` runs the same with the stream off (REST every tick, as before the stream): the baseline.

Run: flock /tmp/bench.lock python bench/dydx_stream.py [--users 100] [--interval 3] [--quiet 30]
Needs the local PostgreSQL (a throwaway database is created and dropped).
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import hashlib
import json
import os
import sys
import time
import uuid
from decimal import Decimal
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
ADMIN = "postgresql://postgres@127.0.0.1:5432/postgres"
ACCOUNT_PATHS = ("/v4/orders", "/v4/fills", "/v4/addresses")
D = Decimal


def _prepare_env(node_url: str, indexer_url: str, stream: bool) -> object:
    import psycopg

    name = f"bench_dydx_stream_{uuid.uuid4().hex[:8]}"
    with psycopg.connect(ADMIN, autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    os.environ.update({
        "APP_ENV": "development", "DYDX_TESTNET_NODE_URL": node_url, "DYDX_TESTNET_INDEXER_URL": indexer_url,
        "APP_MASTER_KEYS": json.dumps({"1": base64.b64encode(os.urandom(32)).decode()}),
        "APP_PRIMARY_KEY_ID": "1", "TELEGRAM_API_BASE_URL": "http://127.0.0.1:9/bot",
        "DATABASE_URL": f"postgresql+psycopg://postgres@127.0.0.1:5432/{name}",
        "MONITOR_STREAM_SAFETY_SECONDS": "300" if stream else "0",
    })

    def cleanup() -> None:
        with psycopg.connect(ADMIN, autocommit=True) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')

    return cleanup


def _create_schema() -> None:
    from sqlalchemy import create_engine
    from sqlmodel import SQLModel

    from trading_app.db import models  # noqa: F401 - the tables
    from trading_app.settings import get_settings

    engine = create_engine(get_settings().database_url)
    SQLModel.metadata.create_all(engine)
    engine.dispose()


def pct(values: list[float], p: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(round(p / 100 * (len(ordered) - 1))))]


def _mnemonic(n: int) -> str:
    from bip_utils import Bip39MnemonicGenerator

    return str(Bip39MnemonicGenerator().FromEntropy(hashlib.sha256(f"bench-{n}".encode()).digest()))


async def _traders(world: object, n: int) -> list[str]:
    from tests.services.engine_support import make_user
    from trading_app.services.accounts.account import save_network
    from trading_app.services.accounts.credentials import save_dydx_mnemonic

    users = []
    for i in range(n):
        user = await make_user(7000 + i)
        owner = await save_dydx_mnemonic(user, _mnemonic(i))
        await save_network(user, "testnet")
        world.node.add_account(owner, sequence=0, account_number=100 + i)  # type: ignore[attr-defined]
        world.exchange.fund(owner, 0, D("10000"))  # type: ignore[attr-defined]
        users.append(user)
    return users


async def _open_all(users: list[str]) -> None:
    from tests.services.engine_support import make_signal
    from trading_app.services.engine import executor

    gate = asyncio.Semaphore(10)
    body = {"action": "buy", "market": "ETH-USD", "size": "0.1", "sl": "2700", "tp": "3300"}

    async def one(user: str) -> None:
        async with gate:
            outcome = await executor.execute_signal(await make_signal(user, body))
            assert outcome is not None and outcome.status.value == "EXECUTED", outcome and outcome.reason

    await asyncio.gather(*(one(u) for u in users))


class Pushes:
    """Wall times of every `events.positions_changed(user)` call, by user."""

    def __init__(self) -> None:
        self.times: dict[str, list[float]] = {}

    async def __call__(self, user: str) -> None:
        self.times.setdefault(user, []).append(time.time())


async def _driver(interval: float, watch: float) -> list[asyncio.Task[None]]:
    from trading_app.services.monitor.tick import monitor_tick, watch_tick

    async def full() -> None:
        while True:
            begun = time.perf_counter()
            await monitor_tick("bench", sweep=False, wait=interval * 0.8)
            await asyncio.sleep(max(0.0, interval - (time.perf_counter() - begun)))

    async def fast() -> None:
        while True:
            await watch_tick("bench")
            await asyncio.sleep(watch)

    loop = asyncio.get_running_loop()
    return [loop.create_task(full())] + ([loop.create_task(fast())] if watch > 0 else [])


async def _run(args: argparse.Namespace, world: object) -> None:
    from sqlmodel import select

    from trading_app.db.engine import session_scope
    from trading_app.db.models import Position
    from trading_app.services.monitor import tick
    from trading_app.services.notify import events

    started = time.perf_counter()
    users = await _traders(world, args.users)
    await _open_all(users)
    print(f"setup: {len(users)} positions opened on the fake chain in {time.perf_counter() - started:.1f} s")
    exchange, indexer = world.exchange, world.indexer  # type: ignore[attr-defined]

    loops = await _driver(args.interval, args.watch)
    # warm-up: every account subscribed and its resync reads settled (or, without the stream, 2 ticks)
    deadline = time.time() + 120
    while time.time() < deadline:
        await asyncio.sleep(args.interval)
        me = tick._workers.get("bench")
        report = tick.last_tick("bench")
        if me is not None and report is not None and report.owned == args.users and not me.inflight:
            if not args.no_stream and report.streamed == args.users:
                break
            if args.no_stream:
                break
    def reads() -> int:
        return sum(indexer.request_count(p) for p in ACCOUNT_PATHS)

    before, all_before, begun = reads(), len(indexer.requests), time.time()
    cpu = time.process_time()
    await asyncio.sleep(args.quiet)
    quiet_for = time.time() - begun
    quiet_cpu = time.process_time() - cpu
    account_reads, all_reads = reads() - before, len(indexer.requests) - all_before
    per_min = account_reads / args.users / (quiet_for / 60)
    mode = "REST every tick (no stream)" if args.no_stream else "stream"
    print(f"quiet ({mode}, {quiet_for:.0f} s, {args.users} accounts): indexer requests about the accounts "
          f"{account_reads} = {per_min:.2f} per minute per account (target: none); all indexer requests "
          f"{all_reads}; monitor CPU {quiet_cpu / quiet_for * 100:.1f} % of one core")

    pushes = Pushes()
    events.subscribe(pushes)
    fills_before = len(exchange.fill_log)
    await asyncio.sleep(args.interval / 2)  # the fills land mid-way between two full ticks
    exchange.set_price("ETH-USD", D("3350"))
    deadline = time.time() + 120
    while time.time() < deadline:
        async with session_scope() as session:
            open_left = (await session.exec(select(Position).where(Position.status != "CLOSED"))).all()
        if not open_left:
            break
        await asyncio.sleep(0.1)
    await asyncio.sleep(args.interval)  # late duplicates would show now
    events.unsubscribe(pushes)
    for task in loops:
        task.cancel()
    await asyncio.gather(*loops, return_exceptions=True)
    await tick.stop("bench")

    async with session_scope() as session:
        positions = (await session.exec(select(Position))).all()
    owner_of = {}
    fill_at: dict[str, float] = {}
    with exchange.lock:
        for height, owner, _row in exchange.fill_log[fills_before:]:
            owner_of.setdefault(owner, height)
        committed = dict(exchange.committed_at)
    from trading_app.services.accounts import venues

    latencies = []
    for p in positions:
        venue = await venues.venue_for(p.user_address, "testnet")
        height = owner_of.get(venue.owner_address)  # type: ignore[attr-defined]
        if height is None or p.closed_at is None:
            continue
        fill_at[p.user_address] = committed.get(height, 0.0)
        after = [t for t in pushes.times.get(p.user_address, []) if t >= p.closed_at.timestamp()]
        if after:
            latencies.append(after[0] - fill_at[p.user_address])
    closed = [p for p in positions if p.status == "CLOSED" and p.close_reason == "TAKE_PROFIT"]
    tp_fills = len(exchange.fill_log) - fills_before
    print(f"fill: {len(closed)}/{len(positions)} closed at their take-profit, {tp_fills} fills on chain, "
          f"double entries {len(exchange.double_entries())}, positions left on chain "
          f"{sum(1 for v in exchange.positions.values() if v.size)}")
    if latencies:
        print(f"venue fill to dashboard ({mode}): p50 {pct(latencies, 50):.3f} s, "
              f"p95 {pct(latencies, 95):.3f} s, max {max(latencies):.3f} s over {len(latencies)} positions"
              "   target p95 < 1 s")
    for user in users:
        await venues.forget(user)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--users", type=int, default=100)
    parser.add_argument("--interval", type=float, default=3.0)
    parser.add_argument("--watch", type=float, default=0.0)
    parser.add_argument("--quiet", type=float, default=30.0)
    parser.add_argument("--block", type=float, default=0.1, help="seconds between blocks of the fake chain")
    parser.add_argument("--no-stream", action="store_true", help="REST every tick: the baseline")
    args = parser.parse_args()

    from tests.fakes.dydx_exchange import DydxExchange
    from tests.fakes.dydx_indexer import install_account_routes
    from tests.fakes.dydx_node import FakeDydxNode
    from tests.fakes.dydx_socks import FakeSocks
    from tests.fakes.indexer import FakeIndexer

    with FakeIndexer() as indexer:
        exchange = DydxExchange(indexer)
        install_account_routes(indexer, exchange)
        node = FakeDydxNode(exchange).start()
        socks = FakeSocks(exchange).start()
        exchange.set_price("ETH-USD", D("3000"))
        cleanup = _prepare_env(node.url, indexer.url, not args.no_stream)
        try:
            _create_schema()

            class World:
                pass

            world = World()
            world.node, world.exchange, world.indexer = node, exchange, indexer  # type: ignore[attr-defined]
            node.auto_blocks(args.block)
            asyncio.run(_run(args, world))
            print(f"stream: {socks.connects} websocket connection(s), {socks.subscribes} subscribes, "
                  f"{socks.sent} updates sent")
        finally:
            socks.stop()
            node.stop()
            cleanup()  # type: ignore[operator]


if __name__ == "__main__":
    main()
