"""A bar-close burst end to end, as an operator would see it: the production backend on PostgreSQL,
100 traders each firing 10 alerts (one per market: a real open on paper with TP and SL) within one
second through the real webhook, then waiting for every alert to finish.

Then the same alerts again, each rejected `position_exists` (the engine's rejection path), for the
app's CPU per rejected alert.

Measured: how many executed by their dispatch (not left to the sweep), alert-to-entry (the signal's
receipt to its entry order being persisted and sent) p50/p95, when the last one finished, pool
timeouts and lost notifications in the app's log.

Run: python bench/burst.py [--traders 100] [--per-trader 10] [--seconds 1] [--workers 1]
Last line: `burst: executed X/Y, p95 alert-to-entry Z s, all done W s, pool timeouts N,
notifications lost M`. Exits 1 when an alert was lost or left unfinished.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path
from urllib.parse import urlsplit

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))

from burst_safety import _database, _drop  # noqa: E402 - after the path is set

# (ticker, clob pair id, price, step, tick): the three default markets plus seven shaped like ETH's
EXTRA_MARKETS = [
    ("LINK-USD", 2, "15", "1", "0.001"),
    ("AVAX-USD", 7, "30", "0.1", "0.01"),
    ("DOGE-USD", 8, "0.15", "10", "0.00001"),
    ("ATOM-USD", 9, "8", "1", "0.001"),
    ("DOT-USD", 10, "6", "1", "0.001"),
    ("UNI-USD", 11, "7", "1", "0.001"),
    ("LTC-USD", 12, "80", "0.1", "0.01"),
]
BASE = ["BTC-USD", "ETH-USD", "SOL-USD"]


def _markets(indexer: object) -> list[str]:
    from tests.fakes.indexer import default_markets

    eth = default_markets()["ETH-USD"]
    for ticker, clob, price, step, tick in EXTRA_MARKETS:
        entry = {**eth, "ticker": ticker, "clobPairId": str(clob), "oraclePrice": price, "stepSize": step,
                 "tickSize": tick}
        indexer.add_market(ticker, entry)  # type: ignore[attr-defined]
    return BASE + [m[0] for m in EXTRA_MARKETS]


def _alert(market: str) -> dict[str, str]:
    # about $25 of notional: above every market's minimum size, small against $10k of paper equity
    return {"action": "buy", "market": market, "size_usd": "25", "sl_pct": "2", "rr": "2"}


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
        markets = _markets(indexer)
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
            return await _burst(args, app, markets)
        finally:
            app.stop()
            print(f"app log: {app.log}")
            reset_app_caches()
            _drop(name)


async def _burst(args: argparse.Namespace, app: object, markets: list[str]) -> int:
    from sqlmodel import select

    from tests.e2e_process.support import new_trader
    from trading_app.db.engine import session_scope
    from trading_app.db.models import Order, Position, Signal

    traders = [await new_trader() for _ in range(args.traders)]
    per = min(args.per_trader, len(markets))
    bodies = [(t, json.dumps(t.body(_alert(markets[k]))).encode()) for k in range(per) for t in traders]
    stats: Counter[str] = Counter()
    pace = args.seconds / len(bodies)
    answers: list[float] = []  # seconds from sending to the answer, first try
    began = time.monotonic()

    async def one(i: int, trader: object, body: bytes) -> int:
        await asyncio.sleep(i * pace)
        return await _tradingview_post(trader.url, body, args.tv_timeout, stats, answers)  # type: ignore[attr-defined]

    codes = await asyncio.gather(*[one(i, t, b) for i, (t, b) in enumerate(bodies)])
    sent_in = time.monotonic() - began

    async def unfinished() -> int:
        async with session_scope() as session:
            rows = await session.exec(select(Signal.status))
            return sum(1 for s in rows.all() if s in ("ACCEPTED", "EXECUTING"))

    deadline = time.monotonic() + args.settle
    while await unfinished() and time.monotonic() < deadline:
        await asyncio.sleep(0.2)
    async with session_scope() as session:
        signals = list((await session.exec(select(Signal))).all())
        entry_rows = await session.exec(select(Order).where(Order.role == "ENTRY"))
        entries = {o.signal_id: o for o in entry_rows.all()}
        positions = Counter(p.status for p in (await session.exec(select(Position))).all())
        protective = Counter(o.role for o in (await session.exec(select(Order))).all())
    log_text = await asyncio.to_thread(Path(app.log).read_text, errors="replace")  # type: ignore[attr-defined]
    pool_timeouts = log_text.count("QueuePool limit")
    lost_notes = log_text.count("could not record")
    swept = log_text.count("sweep:")  # the sweep's own lines: executions it had to pick up
    executed = [s for s in signals if s.status == "EXECUTED" and s.attempts <= 1]
    lags = sorted(
        (entries[s.id].created_at - s.received_at).total_seconds() for s in signals if s.id in entries
    )
    first = min(s.received_at for s in signals)
    last = max((s.finished_at or s.updated_at) for s in signals)

    def pct(q: float) -> float:
        return lags[min(len(lags) - 1, int(q * len(lags)))] if lags else float("nan")

    print(f"alerts: {len(bodies)} from {args.traders} traders x {per} markets within {args.seconds} s, "
          f"workers {args.workers}")
    print(f"sent and answered in {sent_in:.2f} s; answers {dict(Counter(codes))}; every try {dict(stats)}")
    answers.sort()
    if answers:
        p95 = answers[int(0.95 * len(answers))]
        print(f"answer time: p50 {answers[len(answers) // 2]:.3f} s, p95 {p95:.3f} s, "
              f"max {answers[-1]:.3f} s; over 3 s: {sum(1 for a in answers if a > 3)}; cancelled by the "
              f"sender's {args.tv_timeout:g} s timeout (never sent again): {stats['timeout']}")
    print(f"signals: {dict(Counter(s.status for s in signals))}; reasons: "
          f"{dict(Counter((s.reason or '').split(':')[0] for s in signals if s.status != 'EXECUTED'))}")
    print(f"positions: {dict(positions)}; orders by role: {dict(protective)}")
    print(f"alert-to-entry: p50 {pct(0.5):.2f} s, p95 {pct(0.95):.2f} s, max {pct(1.0):.2f} s, "
          f"mean {statistics.fmean(lags) if lags else float('nan'):.2f} s")
    runs = sorted(
        (s.finished_at - s.claimed_at).total_seconds() for s in signals if s.finished_at and s.claimed_at
    )
    waits = sorted((s.claimed_at - s.received_at).total_seconds() for s in signals if s.claimed_at)
    if runs and waits:
        print(f"queue wait (receipt to claim): p50 {waits[len(waits) // 2]:.2f} s, max {waits[-1]:.2f} s; "
              f"execution (claim to finish): p50 {runs[len(runs) // 2]:.2f} s, max {runs[-1]:.2f} s")
    print(f"sweep lines in the log: {swept}")
    done = (last - first).total_seconds()
    if args.rejections:
        await _rejection_round(args, app, traders, markets[:per], unfinished)
    print(f"burst: executed {len(executed)}/{len(bodies)}, p95 alert-to-entry {pct(0.95):.2f} s, "
          f"all done {done:.1f} s, pool timeouts {pool_timeouts}, notifications lost {lost_notes}")
    lost = len(bodies) - len(signals)
    stuck = sum(1 for s in signals if s.status in ("ACCEPTED", "EXECUTING"))
    return 1 if lost or stuck else 0


def _cpu(pid: int) -> float:
    """User + system CPU seconds of the process and its children (the app's server worker)."""
    import psutil

    proc = psutil.Process(pid)
    return sum(t.user + t.system for t in (p.cpu_times() for p in [proc, *proc.children(recursive=True)]))


async def _rejection_round(args: argparse.Namespace, app: object, traders: list[object], markets: list[str],
                           unfinished: object) -> None:
    """The same alerts again, each under an alert id of its own (so none is a duplicate): every one
    takes the engine's rejection path (`position_exists`: the position is open). The app's CPU per
    alert, less what the monitor spends meanwhile on the open positions (measured just before)."""
    pid = app.proc.pid  # type: ignore[attr-defined]
    idle_from, idle_cpu = time.monotonic(), _cpu(pid)
    await asyncio.sleep(3)
    idle_rate = (_cpu(pid) - idle_cpu) / (time.monotonic() - idle_from)
    bodies = [(t, json.dumps({**t.body(_alert(m)), "alert_id": f"again-{i}-{m}"}).encode())  # type: ignore[attr-defined]
              for m in markets for i, t in enumerate(traders)]
    stats: Counter[str] = Counter()
    answers: list[float] = []
    pace = args.seconds / len(bodies)
    began, cpu_before = time.monotonic(), _cpu(pid)

    async def one(i: int, trader: object, body: bytes) -> int:
        await asyncio.sleep(i * pace)
        return await _tradingview_post(trader.url, body, args.tv_timeout, stats, answers)  # type: ignore[attr-defined]

    codes = await asyncio.gather(*[one(i, t, b) for i, (t, b) in enumerate(bodies)])
    while await unfinished() and time.monotonic() - began < args.settle:  # type: ignore[operator]
        await asyncio.sleep(0.1)
    seconds = time.monotonic() - began
    spent = _cpu(pid) - cpu_before - idle_rate * seconds
    from sqlmodel import select

    from trading_app.db.engine import session_scope
    from trading_app.db.models import Signal

    async with session_scope() as session:
        rows = await session.exec(select(Signal.reason).where(Signal.status == "REJECTED"))
        reasons = Counter((r or "").split(":")[0] for r in rows.all())
    print(f"rejection round: {len(bodies)} alerts answered {dict(Counter(codes))} in {seconds:.1f} s; "
          f"rejected {dict(reasons)}; app CPU per alert {spent / len(bodies) * 1000:.2f} ms (the monitor's "
          f"{idle_rate * 1000:.0f} ms/s meanwhile taken off; target < 1 ms)")


async def _tradingview_post(url: str, body: bytes, give_up: float, stats: Counter[str],
                            answers: list[float]) -> int:
    """POST as TradingView does: a new connection per alert; an answer slower than `give_up` cancels
    the request and it is never sent again; a 5xx other than 504 is sent again after 5 s, at most 3
    times (shared/reference: TradingView facts). Returns the status, 0 when cancelled or refused."""
    parts = urlsplit(url)
    head = (f"POST {parts.path} HTTP/1.1\r\nHost: {parts.netloc}\r\nContent-Type: text/plain; "
            f"charset=utf-8\r\nContent-Length: {len(body)}\r\nConnection: close\r\n\r\n").encode()
    for attempt in range(4):
        start = time.monotonic()
        writer = None
        try:
            async with asyncio.timeout(give_up):
                reader, writer = await asyncio.open_connection(parts.hostname, parts.port)
                writer.write(head + body)
                status_line = await reader.readline()
                await reader.read()  # the rest, until the server closes
            status = int(status_line.split()[1])
        except TimeoutError:
            stats["timeout"] += 1
            return 0
        except OSError:
            stats["refused"] += 1
            return 0
        finally:
            if writer is not None:
                writer.close()
        if attempt == 0:
            answers.append(time.monotonic() - start)
        stats[str(status)] += 1
        if status < 500 or status == 504:
            return status
        await asyncio.sleep(5)
    return 0


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--traders", type=int, default=100)
    parser.add_argument("--per-trader", type=int, default=10, help="alerts per trader, one market each")
    parser.add_argument("--seconds", type=float, default=1.0, help="fire every alert within this long")
    parser.add_argument("--no-rejections", dest="rejections", action="store_false",
                        help="skip the second round (every alert again, each rejected position_exists)")
    parser.add_argument("--tv-timeout", type=float, default=60.0,
                        help="cancel an alert not answered within this long (TradingView: 3)")
    parser.add_argument("--workers", type=int, default=1)
    parser.add_argument("--settle", type=float, default=300.0, help="seconds to wait for every signal")
    args = parser.parse_args()
    os.environ.setdefault("APP_ENV", "development")
    return asyncio.run(run(args))


if __name__ == "__main__":
    sys.exit(main())
