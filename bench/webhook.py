"""The webhook accept path under bursts, next to a bare endpoint on the same server stack.

Two servers run on loopback, each one granian worker (uvloop by default) pinned to CPU 0:
- the real API as production serves it (`bench.webhook_servers:api_app`: `build_api()` behind
  the security-headers middleware, the start-up `gc.freeze()`, an executor registered so every
  202 hands its signal off; the executor itself does nothing, execution is not the accept path)
  on a throwaway PostgreSQL database with 100 users, each with a real webhook UUID and secret;
- a bare Starlette endpoint on the same path that reads the body and answers 202 (no work),
  from bench/webhook_servers.py.
The load generator (raw asyncio HTTP/1.1 on uvloop, keep-alive connections opened before the
clock starts) runs pinned to CPU 1 and fires bursts of 2,000 alerts (~320-byte TradingView-style
bodies, text/plain with a trailing newline, unique alert ids) spread over the 100 webhooks, with
200 requests in flight. Rounds alternate bare / app; medians are reported.

Besides latency and throughput, each line shows the CPU time per request of the server process
and of the PostgreSQL backends of the bench database (where the accept path's cost goes).

After each app round the database is checked: every 202 must name exactly one row holding that
alert, no alert may have two rows, and nothing may be answered other than 202. A final pass
re-sends a whole round: every copy must be answered "duplicate" with the original id.

Then the same with two server workers (granian --workers 2, server and client unpinned: this
kind of machine has two cores, so the second worker shares its core with the load generator):
rounds alternate bare / app again, each checked the same way.

Targets: nothing lost or duplicated; app throughput >= 0.5 x bare; app p99 <= 2 x bare p99 (one
worker); the app with two workers >= 1.6 x the app with one. The last two lines give these ratios.

Run: python bench/webhook.py [--rounds 3] [--alerts 2000] [--webhooks 100] [--concurrency 200]
                             [--loop uvloop|asyncio] [--no-freeze-gc] [--no-two-workers]
Needs the local PostgreSQL (a throwaway database is created and dropped). Loopback only.
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import json
import os
import shutil
import socket
import statistics
import subprocess
import sys
import time
import uuid
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "bench"))

from webhook_load import Answer, Round, alert_requests, burst, measured_burst  # noqa: E402 - after the path is set

ADMIN = "postgresql://postgres@127.0.0.1:5432/postgres"
SERVER_CPU, CLIENT_CPU = 0, 1


# -- set-up --------------------------------------------------------------------------


def prepare_database() -> tuple[str, str]:
    """A throwaway PostgreSQL database with the schema; the environment points the app at it."""
    import psycopg

    name = f"bench_webhook_{uuid.uuid4().hex[:8]}"
    with psycopg.connect(ADMIN, autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    url = f"postgresql+psycopg://postgres@127.0.0.1:5432/{name}"
    os.environ.update({
        "APP_ENV": "development", "DATABASE_URL": url, "PAPER_PRICE_SOURCE": "synthetic",
        "APP_MASTER_KEYS": json.dumps({"1": base64.b64encode(os.urandom(32)).decode()}),
        "APP_PRIMARY_KEY_ID": "1", "TELEGRAM_API_BASE_URL": "http://127.0.0.1:9/bot",
        # the cap would turn later rounds into rejections: this measures the accept path
        "WEBHOOK_PER_MINUTE_CAP": "1000000",
    })
    os.environ.pop("REDIS_URL", None)
    from sqlalchemy import create_engine
    from sqlmodel import SQLModel

    from trading_app.db import models  # noqa: F401 - registers the tables

    engine = create_engine(url)
    SQLModel.metadata.create_all(engine)
    engine.dispose()
    return name, url


def drop_database(name: str) -> None:
    import psycopg

    with psycopg.connect(ADMIN, autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


async def create_webhooks(count: int) -> list[tuple[str, str, str]]:
    """`count` users created as a first sign-in does: (address, webhook uuid, secret)."""
    from eth_account import Account

    from trading_app.db.engine import dispose_engines, session_scope
    from trading_app.db.models import User
    from trading_app.services.accounts.users import ensure_user
    from trading_app.services.security.secrets import open_secret

    addresses = [Account.create().address for _ in range(count)]
    async with session_scope() as session:
        for address in addresses:
            await ensure_user(session, address)
    hooks = []
    async with session_scope() as session:
        for address in addresses:
            user = await session.get(User, address)
            secret = open_secret(address, "webhook_secret_enc", user.webhook_secret_enc)
            hooks.append((address, user.webhook_uuid, secret))
    await dispose_engines()
    return hooks


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def start_server(target: str, loop: str, workers: int = 1) -> tuple[subprocess.Popen[bytes], int]:
    """One granian server; a single worker is pinned to SERVER_CPU, several use every core."""
    port = free_port()
    granian = shutil.which("granian", path=str(Path(sys.executable).parent)) or "granian"
    cmd = [granian, "--interface", "asgi", "--host", "127.0.0.1", "--port", str(port), "--workers",
           str(workers), "--loop", loop, "--factory", "--no-access-log", "--log-level", "warning", target]
    if workers == 1 and shutil.which("taskset"):
        cmd = ["taskset", "-c", str(SERVER_CPU), *cmd]
    proc = subprocess.Popen(cmd, cwd=ROOT, env=dict(os.environ), stdout=subprocess.DEVNULL)
    deadline = time.monotonic() + 60
    while True:
        if proc.poll() is not None:
            raise RuntimeError(f"{target} exited with {proc.returncode}")
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=1) as conn:
                conn.sendall(b"GET /health/live HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
                if conn.recv(64).startswith(b"HTTP/1.1 200"):
                    return proc, port
        except OSError:
            pass
        if time.monotonic() > deadline:
            proc.kill()
            raise RuntimeError(f"{target} did not start")
        time.sleep(0.2)


# -- checks --------------------------------------------------------------------------


def check_round(url: str, sent: list[tuple[bytes, str]], answers: list[Answer]) -> dict[str, int]:
    """Compare the answers with the rows: every 202 has exactly one row with its alert."""
    from sqlalchemy import create_engine, text

    tag = sent[0][1].rsplit("-", 1)[0]
    engine = create_engine(url)
    with engine.connect() as conn:
        rows = conn.execute(
            text("SELECT id, dedupe_key FROM signals WHERE dedupe_key LIKE :p"), {"p": f"id:{tag}-%"}
        ).all()
    engine.dispose()
    by_key: dict[str, list[int]] = {}
    for signal_id, key in rows:
        by_key.setdefault(key, []).append(signal_id)
    lost = duplicated = other = 0
    for (_, alert_id), answer in zip(sent, answers, strict=True):
        ids = by_key.get(f"id:{alert_id}", [])
        duplicated += len(ids) > 1
        if answer.status != 202:
            other += 1
            continue
        if json.loads(answer.body)["signal_id"] not in ids:
            lost += 1
    odd = next((a for a in answers if a.status != 202), None)
    if odd is not None:
        print(f"  e.g. an answer other than 202: {odd.status} {odd.body[:200]!r}", file=sys.stderr)
    return {"accepted": sum(a.status == 202 for a in answers), "lost": lost, "duplicated": duplicated,
            "not_202": other, "rows": len(rows)}


# -- main ----------------------------------------------------------------------------


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--alerts", type=int, default=2000)
    parser.add_argument("--webhooks", type=int, default=100)
    parser.add_argument("--concurrency", type=int, default=200)
    parser.add_argument("--loop", choices=["uvloop", "asyncio"], default="uvloop")
    parser.add_argument("--no-freeze-gc", dest="freeze_gc", action="store_false",
                        help="serve the app without the start-up gc.freeze() production does (A/B)")
    parser.add_argument("--no-two-workers", dest="two_workers", action="store_false",
                        help="skip the rounds with two server workers")
    args = parser.parse_args()
    sys.path.insert(0, str(ROOT))
    name, url = prepare_database()
    servers: list[subprocess.Popen[bytes]] = []
    try:
        hooks = asyncio.run(create_webhooks(args.webhooks))
        target = f"bench.webhook_servers:{'api_app' if args.freeze_gc else 'unfrozen_api_app'}"
        app, app_port = start_server(target, args.loop)
        bare, bare_port = start_server("bench.webhook_servers:bare_app", args.loop)
        servers += [app, bare]
        cores = set(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else set()
        if hasattr(os, "sched_setaffinity") and (os.cpu_count() or 1) > 1:
            os.sched_setaffinity(0, {CLIENT_CPU})
        one = run_rounds(args, hooks, url, (app_port, app.pid), (bare_port, bare.pid), "r")
        two = None
        if args.two_workers:
            for proc in (app, bare):  # idle, but out of the way of the two-worker rounds
                stop(proc)
            app2, app2_port = start_server(target, args.loop, workers=2)
            bare2, bare2_port = start_server("bench.webhook_servers:bare_app", args.loop, workers=2)
            servers += [app2, bare2]
            if cores:
                os.sched_setaffinity(0, cores)
            two = run_rounds(args, hooks, url, (app2_port, app2.pid), (bare2_port, bare2.pid), "w")
    finally:
        for proc in servers:
            stop(proc)
        drop_database(name)
    print(report(args, one, two))


def stop(proc: subprocess.Popen[bytes]) -> None:
    if proc.poll() is not None:
        return
    proc.terminate()
    try:
        proc.wait(timeout=10)
    except subprocess.TimeoutExpired:
        proc.kill()


@dataclass
class Result:
    """The rounds of one server set-up and what the database held afterwards."""

    bare: list[Round]
    app: list[Round]
    checks: list[dict[str, int]]
    resent_ok: int
    resent: int
    rows_after: int
    expected_rows: int


def run_rounds(args: argparse.Namespace, hooks: list[tuple[str, str, str]], url: str, app: tuple[int, int],
               bare: tuple[int, int], tag: str) -> Result:
    (app_port, app_pid), (bare_port, bare_pid) = app, bare
    database = url.rsplit("/", 1)[1]
    if args.loop == "uvloop":
        import uvloop

        asyncio.set_event_loop_policy(uvloop.EventLoopPolicy())
    bare_rounds: list[Round] = []
    app_rounds: list[Round] = []
    checks: list[dict[str, int]] = []
    last_sent: list[tuple[bytes, str]] = []
    last_answers: list[Answer] = []
    for n in range(args.rounds + 1):  # round 0 warms both servers up and is not counted
        bare_sent = alert_requests(hooks, args.alerts, f"bare{tag}{n}", bare_port)
        bare_requests = [r for r, _ in bare_sent]
        _, measured = measured_burst(bare_port, bare_requests, args.concurrency, bare_pid, database)
        if n:
            bare_rounds.append(measured)
        sent = alert_requests(hooks, args.alerts, f"{tag}{n}", app_port)
        requests = [r for r, _ in sent]
        answers, measured = measured_burst(app_port, requests, args.concurrency, app_pid, database)
        checks.append(check_round(url, sent, answers))
        if n:
            app_rounds.append(measured)
        last_sent, last_answers = sent, answers
    # every alert of the last round again: all duplicates naming the original row, no new rows
    again, _ = asyncio.run(burst(app_port, [r for r, _ in last_sent], args.concurrency))
    resent_ok = sum(
        a.status == 200
        and json.loads(a.body) == {"status": "duplicate", "signal_id": json.loads(o.body)["signal_id"]}
        for a, o in zip(again, last_answers, strict=True)
    )
    after = check_round(url, last_sent, last_answers)
    return Result(bare_rounds, app_rounds, checks, resent_ok, len(again), after["rows"], len(last_sent))


def med(rounds: list[Round], field: str) -> float:
    return statistics.median(getattr(r, field) for r in rounds)


def report(args: argparse.Namespace, one: Result, two: Result | None) -> str:
    gc_note = "" if args.freeze_gc else ", NO gc.freeze"
    lines = [
        f"webhook accept bench: {args.alerts} alerts x {args.rounds} rounds over {args.webhooks} webhooks, "
        f"{args.concurrency} in flight, granian ({args.loop}{gc_note}): 1 worker on CPU {SERVER_CPU} with "
        f"the client on CPU {CLIENT_CPU}{'; then 2 workers, server and client unpinned' if two else ''}",
        f"{'':24}{'req/s':>8}{'p50 ms':>9}{'p99 ms':>9}{'server CPU':>12}{'PG CPU':>9}"
        "   per round (req/s, p99 ms)",
    ]
    setups = [("", one)] + ([(", 2 workers", two)] if two else [])
    for suffix, result in setups:
        for label, rounds in ((f"bare{suffix}", result.bare), (f"webhook app (PG){suffix}", result.app)):
            per_round = ", ".join(f"{r.rate:.0f}/{r.p99_ms:.1f}" for r in rounds)
            lines.append(f"{label:24}{med(rounds, 'rate'):>8.0f}{med(rounds, 'p50_ms'):>9.2f}"
                         f"{med(rounds, 'p99_ms'):>9.1f}{med(rounds, 'server_cpu_us'):>9.0f} us"
                         f"{med(rounds, 'postgres_cpu_us'):>6.0f} us   {per_round}")
    for suffix, result in setups:
        checks = result.checks
        totals = {k: sum(c[k] for c in checks) for k in ("accepted", "lost", "duplicated", "not_202")}
        lines += [
            f"integrity{suffix} over {len(checks)} app rounds (warm-up included): {totals['accepted']} "
            f"answered 202, lost {totals['lost']}, duplicated {totals['duplicated']}, "
            f"answered other than 202 {totals['not_202']}",
            f"re-sent the last round{suffix}: {result.resent_ok}/{result.resent} answered duplicate with "
            f"the original id; rows for that round afterwards: {result.rows_after} "
            f"(expected {result.expected_rows})",
        ]
    ratio = med(one.app, "rate") / med(one.bare, "rate")
    p99_ratio = med(one.app, "p99_ms") / med(one.bare, "p99_ms")
    lines.append(
        f"throughput app/bare: {ratio:.2f} (target >= 0.50: {'met' if ratio >= 0.5 else 'NOT met'}); "
        f"p99 app/bare: {p99_ratio:.2f} (target <= 2.00: {'met' if p99_ratio <= 2 else 'NOT met'})"
    )
    if two:
        scale = med(two.app, "rate") / med(one.app, "rate")
        bare_scale = med(two.bare, "rate") / med(one.bare, "rate")
        app_bare_two = med(two.app, "rate") / med(two.bare, "rate")
        lines.append(
            f"two workers / one worker: app {scale:.2f} (target >= 1.60: "
            f"{'met' if scale >= 1.6 else 'NOT met'}), bare {bare_scale:.2f}; "
            f"app/bare with two workers: {app_bare_two:.2f}"
        )
    return "\n".join(lines)

if __name__ == "__main__":
    main()
