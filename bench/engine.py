"""The trading engine's own overhead per intent, on a zero-latency paper venue.

1,000 intents over 100 users (10 rounds: each round opens one protected position per user,
then closes it). For every execution it measures the wall time of `execute_signal` and the
time spent inside venue calls; the engine's overhead is the difference. The venue here is
the real PaperVenue on an in-process synthetic price source (no network), so "venue time" is
the paper exchange's own bookkeeping.

Run: python bench/engine.py [--db sqlite|postgresql] [--users 100] [--rounds 10]
Target: engine overhead p99 under 20 ms.
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from decimal import Decimal
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))


def _prepare_env(db: str) -> tuple[str, object]:
    os.environ.update({"APP_ENV": "development", "PAPER_PRICE_SOURCE": "synthetic:7",
                       "APP_MASTER_KEYS": json.dumps({"1": base64.b64encode(os.urandom(32)).decode()}),
                       "TELEGRAM_API_BASE_URL": "http://127.0.0.1:9/bot"})
    if db == "sqlite":
        path = Path(tempfile.mkdtemp()) / "bench.db"
        url = f"sqlite:///{path}"
        cleanup = None
    else:
        import psycopg

        name = f"bench_{uuid.uuid4().hex[:10]}"
        with psycopg.connect("postgresql://postgres@127.0.0.1:5432/postgres", autocommit=True) as conn:
            conn.execute(f'CREATE DATABASE "{name}"')
        url = f"postgresql+psycopg://postgres@127.0.0.1:5432/{name}"

        def cleanup() -> None:
            with psycopg.connect("postgresql://postgres@127.0.0.1:5432/postgres", autocommit=True) as conn:
                conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    os.environ["DATABASE_URL"] = url
    subprocess.run([sys.executable, "-m", "reflex", "db", "migrate"],
                   cwd=ROOT, check=True, capture_output=True)
    return url, cleanup


class _Clock:
    venue_seconds = 0.0
    venue_cpu = 0.0
    in_venue = 0


class _Count:
    """Engine transactions and statements (the bench's own task, outside venue calls)."""

    main: object = None
    transactions = 0
    statements = 0

    @classmethod
    def mine(cls) -> bool:
        return _Clock.in_venue == 0 and asyncio.current_task() is cls.main


def _count_statements(engine) -> None:  # noqa: ANN001 - a SQLAlchemy AsyncEngine
    from sqlalchemy import event

    def on_begin(conn) -> None:  # noqa: ANN001
        # a connection in AUTOCOMMIT sends no BEGIN/COMMIT: its statements commit one by one
        if _Count.mine() and conn.get_execution_options().get("isolation_level") != "AUTOCOMMIT":
            _Count.transactions += 1

    def on_execute(*_args) -> None:  # noqa: ANN002
        if _Count.mine():
            _Count.statements += 1

    event.listen(engine.sync_engine, "begin", on_begin)
    event.listen(engine.sync_engine, "before_cursor_execute", on_execute)


def _timed_venue_class():  # noqa: ANN202 - a subclass built after the env is set
    from trading_app.venues.paper.venue import PaperVenue

    class TimedPaperVenue(PaperVenue):
        pass

    for name in ("market", "markets", "place_market_order", "place_limit_order", "place_stop_loss",
                 "place_take_profit", "cancel", "order_status", "fills", "account", "account_state"):
        original = getattr(PaperVenue, name)

        async def timed(self, *args, __original=original, **kwargs):  # noqa: ANN001, ANN202
            start, cpu = time.perf_counter(), time.process_time()
            _Clock.in_venue += 1
            try:
                return await __original(self, *args, **kwargs)
            finally:
                _Clock.in_venue -= 1
                _Clock.venue_seconds += time.perf_counter() - start
                _Clock.venue_cpu += time.process_time() - cpu

        setattr(TimedPaperVenue, name, timed)
    return TimedPaperVenue


async def _run(users: int, rounds: int) -> None:
    from trading_app.db.engine import dispose_engines, get_engine
    from trading_app.services.accounts import venues
    from trading_app.services.engine import executor
    from trading_app.venues.paper.prices import price_source_from_settings

    sys.path.insert(0, str(ROOT))
    from tests.services.engine_support import make_signal, make_user

    venue_class = _timed_venue_class()
    _count_statements(get_engine())
    _Count.main = asyncio.current_task()
    addresses = [await make_user(n + 1) for n in range(users)]
    source = price_source_from_settings()
    for address in addresses:  # the factory would build a plain PaperVenue; register the timed one
        venues._loop_cache()[(address, "paper")] = venue_class(address, source)
    spec = await source.market("BTC-USD")
    price = spec.oracle_price
    totals: list[float] = []
    overheads: list[float] = []
    cpu: list[float] = []
    venue_cpu: list[float] = []
    counts: dict[str, list[tuple[int, int]]] = {"open": [], "close": []}
    sl, tp = (str((price * Decimal(f)).quantize(Decimal(1))) for f in ("0.9", "1.1"))
    for _ in range(rounds):
        for action in ("open", "close"):
            for address in addresses:
                body = ({"action": "buy", "market": "BTC-USD", "size": "0.001", "sl": sl, "tp": tp}
                        if action == "open" else {"action": "close", "market": "BTC-USD"})
                sid = await make_signal(address, body)
                _Clock.venue_seconds = _Clock.venue_cpu = 0.0
                _Count.transactions = _Count.statements = 0
                start, cpu_start = time.perf_counter(), time.process_time()
                outcome = await executor.execute_signal(sid)
                total = time.perf_counter() - start
                cpu.append(time.process_time() - cpu_start - _Clock.venue_cpu)
                venue_cpu.append(_Clock.venue_cpu)
                counts[action].append((_Count.transactions, _Count.statements))
                assert outcome is not None and outcome.status.value == "EXECUTED", outcome and outcome.reason
                totals.append(total)
                overheads.append(total - _Clock.venue_seconds)
    await dispose_engines()

    def pct(values: list[float], p: float) -> float:
        ordered = sorted(values)
        return ordered[min(len(ordered) - 1, int(round(p / 100 * (len(ordered) - 1))))] * 1000

    print(f"intents executed:            {len(totals)} over {users} users")
    print(f"engine overhead  p50/p99 ms: {pct(overheads, 50):.2f} / {pct(overheads, 99):.2f}"
          "   (target p99 < 20)")
    print(f"end to end       p50/p99 ms: {pct(totals, 50):.2f} / {pct(totals, 99):.2f}")
    venue_time = statistics.mean(t - o for t, o in zip(totals, overheads, strict=True))
    print(f"mean venue time per intent:  {venue_time * 1000:.2f} ms")
    print(f"mean venue CPU per intent:   {statistics.mean(venue_cpu) * 1000:.2f} ms")
    # CPU time is what this process spent (background notification tasks included); it is
    # far less sensitive than wall time to other load on a shared machine
    print(f"engine CPU       p50/p99 ms: {pct(cpu, 50):.2f} / {pct(cpu, 99):.2f}")
    for action, seen in counts.items():
        txs, stmts = max(t for t, _ in seen), max(s for _, s in seen)
        print(f"engine DB per {action:5}:        {txs} BEGIN..COMMIT transactions, {stmts} statements"
              f" = {2 * txs + stmts} round trips (max over intents)")


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--db", choices=["sqlite", "postgresql"], default="postgresql")
    parser.add_argument("--users", type=int, default=100)
    parser.add_argument("--rounds", type=int, default=5)
    args = parser.parse_args()
    url, cleanup = _prepare_env(args.db)
    print(f"database: {args.db}")
    try:
        asyncio.run(_run(args.users, args.rounds))
    finally:
        if cleanup:
            cleanup()


if __name__ == "__main__":
    main()
