"""Money safety under a burst, as an operator would try it: the production backend on PostgreSQL,
traders firing alternating `buy` (sl_pct 1, rr 2) and `close` alerts on BTC-USD through the real
webhook, many in flight, optionally with a PostgreSQL restart in the middle and with two workers.

Afterwards every trader's books are audited against the paper venue (services.ops.audit): the
venue's exposure must equal the open positions, each under a live stop-loss sized to it, and every
signal must have finished with a status that says what happened.

Run: python bench/burst_safety.py [--traders 10] [--alerts 3000] [--in-flight 50] [--seconds 10]
                                  [--workers 1] [--pg-restart]
Prints the figures; exits 1 when an invariant is broken or an alert was lost.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import subprocess
import sys
import tempfile
import time
import uuid
from collections import Counter
from pathlib import Path

import httpx

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

PG_ADMIN = "postgresql://postgres@127.0.0.1:5432/postgres"
BUY = {"action": "buy", "market": "BTC-USD", "size": "0.001", "sl_pct": "1", "rr": "2"}
CLOSE = {"action": "close", "market": "BTC-USD"}


def _database() -> tuple[str, str]:
    import psycopg

    name = f"burst_{uuid.uuid4().hex[:10]}"
    with psycopg.connect(PG_ADMIN, autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    return name, f"postgresql+psycopg://postgres@127.0.0.1:5432/{name}"


def _drop(name: str) -> None:
    import psycopg

    with psycopg.connect(PG_ADMIN, autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def _restart_postgres() -> float:
    """Restart the PostgreSQL server (every connection is cut); returns the seconds it was down."""
    began = time.monotonic()
    versions = sorted(os.listdir("/etc/postgresql"))
    subprocess.run(["pg_ctlcluster", "--skip-systemctl-redirect", versions[-1], "main", "restart",
                    "-m", "fast"], check=True, capture_output=True)
    return time.monotonic() - began


async def _send(client: httpx.AsyncClient, url: str, body: bytes, stats: Counter[str]) -> int:
    """POST like TradingView: a 5xx or a refused connection is sent again (same body), a few times."""
    for attempt in range(20):
        try:
            r = await client.post(url, content=body, headers={"content-type": "text/plain"})
        except httpx.TransportError:
            stats["transport_error"] += 1
            await asyncio.sleep(0.25 * (attempt + 1))
            continue
        stats[str(r.status_code)] += 1
        if r.status_code < 500:
            return r.status_code
        await asyncio.sleep(0.25 * (attempt + 1))
    return 0


async def run(args: argparse.Namespace) -> int:
    from tests.conftest import reset_app_caches
    from tests.e2e_process.app_process import AppProcess, app_env, free_port
    from tests.fakes.indexer import FakeIndexer

    name, url = _database()
    os.environ["DATABASE_URL"] = url
    await asyncio.to_thread(subprocess.run, [sys.executable, "-m", "reflex", "db", "migrate"],
                            cwd=ROOT, check=True, capture_output=True)
    workdir = Path(tempfile.mkdtemp(prefix="burst-"))
    with FakeIndexer() as indexer:
        port = free_port()
        env = app_env(url, port, PAPER_PRICE_SOURCE=indexer.url, WEBHOOK_PER_MINUTE_CAP="1000000",
                      GRANIAN_WORKERS=str(args.workers), MONITOR_INTERVAL_SECONDS="3")
        if args.workers > 1:
            env["REDIS_URL"] = "redis://127.0.0.1:6379/5"
        os.environ.update(PAPER_PRICE_SOURCE=indexer.url, API_URL=env["API_URL"],
                          PUBLIC_URL=env["PUBLIC_URL"])
        reset_app_caches()
        app = AppProcess(workdir, env, port)
        try:
            app.start().wait_ready()
            return await _burst(args, app, indexer)
        finally:
            app.stop()
            print(f"app log: {app.log}")
            reset_app_caches()
            _drop(name)


async def _burst(args: argparse.Namespace, app: object, indexer: object) -> int:
    from sqlmodel import select

    from tests.e2e_process.support import new_trader
    from trading_app.db.engine import session_scope
    from trading_app.db.models import Position, Signal
    from trading_app.services.ops.audit import audit_account
    from trading_app.venues.paper.prices import price_source_from_settings
    from trading_app.venues.paper.venue import PaperVenue

    traders = [await new_trader() for _ in range(args.traders)]
    rounds = args.alerts // args.traders
    bodies = [(t, json.dumps(t.body(BUY if k % 2 == 0 else CLOSE)).encode())
              for k in range(rounds) for t in traders]
    stats: Counter[str] = Counter()
    gate = asyncio.Semaphore(args.in_flight)
    pace = args.seconds / len(bodies)
    began = time.monotonic()
    restarted: list[float] = []

    async with httpx.AsyncClient(timeout=60, limits=httpx.Limits(max_connections=args.in_flight)) as client:

        async def one(i: int, trader: object, body: bytes) -> int:
            await asyncio.sleep(i * pace)
            async with gate:
                return await _send(client, trader.url, body, stats)  # type: ignore[attr-defined]

        async def restart_midway() -> None:
            await asyncio.sleep(args.seconds / 2)
            restarted.append(await asyncio.to_thread(_restart_postgres))

        tasks = [one(i, t, b) for i, (t, b) in enumerate(bodies)]
        extra = [restart_midway()] if args.pg_restart else []
        codes = (await asyncio.gather(*tasks, *extra))[:len(bodies)]
    sent_in = time.monotonic() - began
    answered = Counter(codes)

    async def unfinished() -> int:
        async with session_scope() as session:
            rows = await session.exec(select(Signal.status))
            return sum(1 for s in rows.all() if s in ("ACCEPTED", "EXECUTING"))

    deadline = time.monotonic() + args.settle
    while await unfinished() and time.monotonic() < deadline:
        await asyncio.sleep(0.5)
    settled_in = time.monotonic() - began
    await asyncio.sleep(7)  # two full monitor ticks: whatever is left to repair is repaired
    async with session_scope() as session:
        signals = list((await session.exec(select(Signal))).all())
        positions = list((await session.exec(select(Position))).all())
    breaches = []
    for t in traders:
        venue = PaperVenue(t.address, price_source_from_settings())
        breaches += [f"{t.address[:10]}: {b}" for b in await audit_account(t.address, "paper", venue)]
        exposure = (await venue.account()).positions
        books = [p for p in positions if p.user_address == t.address and p.status not in ("CLOSED", "FAILED")]
        if sum((v.size for v in exposure.values()), 0) != sum((p.size for p in books), 0):
            booked = [(p.status, p.size) for p in books]
            breaches.append(f"{t.address[:10]}: venue {exposure} vs books {booked}")
    outcomes = Counter((s.action, s.status, (s.reason or "").split(":")[0]) for s in signals)
    print(f"alerts: {len(bodies)} from {args.traders} traders, {args.in_flight} in flight, "
          f"workers {args.workers}")
    print(f"sent and answered in {sent_in:.1f} s; answers (final) {dict(answered)}; every try {dict(stats)}")
    if restarted:
        print(f"PostgreSQL restarted mid-burst (down {restarted[0]:.1f} s)")
    print(f"stored signals: {len(signals)} (lost {len(bodies) - len(signals)}); "
          f"all finished after {settled_in:.1f} s")
    for key, n in sorted(outcomes.items()):
        print(f"  {key}: {n}")
    print(f"positions: {dict(Counter(p.status for p in positions))}")
    print(f"invariant breaches: {len(breaches)}")
    for line in breaches[:40]:
        print(f"  {line}")
    lost = len(bodies) - len(signals)
    stuck = sum(n for (_, status, _), n in outcomes.items() if status in ("ACCEPTED", "EXECUTING"))
    return 1 if breaches or lost or stuck or answered.get(0) else 0


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--traders", type=int, default=10)
    parser.add_argument("--alerts", type=int, default=3000)
    parser.add_argument("--in-flight", type=int, default=50)
    parser.add_argument("--seconds", type=float, default=10.0, help="spread the alerts over this long")
    parser.add_argument("--workers", type=int, default=1)
    parser.add_argument("--pg-restart", action="store_true", help="restart PostgreSQL in the middle")
    parser.add_argument("--settle", type=float, default=600.0, help="seconds to wait for every signal")
    args = parser.parse_args()
    os.environ.setdefault("APP_ENV", "development")
    return asyncio.run(run(args))


if __name__ == "__main__":
    sys.exit(main())
