"""The rig of bench/monitor.py: its throwaway database and environment, the positions opened by the
real engine, the slow venue link (`SlowVenue`, counted in `Latency`), the pushes
listener, the driver that ticks as `jobs.py` does, and the second worker process.
"""

from __future__ import annotations

import asyncio
import base64
import inspect
import json
import os
import sys
import time
import uuid
from collections import Counter
from pathlib import Path

MONITOR_SCRIPT = Path(__file__).with_name("monitor.py")
ADMIN = "postgresql://postgres@127.0.0.1:5432/postgres"


class Latency:
    """The simulated network: every venue call waits `seconds` first and is counted per user."""

    seconds = 0.0
    calls: Counter[str] = Counter()
    methods: Counter[str] = Counter()


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
            Latency.methods[name] += 1
            if Latency.seconds:
                await asyncio.sleep(Latency.seconds)
            return await attr(*args, **kwargs)

        return slow


def pct(values: list[float], p: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(round(p / 100 * (len(ordered) - 1))))]


class Pushes:
    """Wall times of every `events.positions_changed(user)` call, by user."""

    def __init__(self) -> None:
        self.times: dict[str, list[float]] = {}

    async def __call__(self, user: str) -> None:
        self.times.setdefault(user, []).append(time.time())

    def latencies(self, positions: list, since: dict[tuple[str, str], float]) -> list[float]:  # type: ignore[type-arg]
        """Per position: from `since[(user, market)]` to its user's first push after its books closed."""
        found = []
        for p in positions:
            after = [t for t in self.times.get(p.user_address, []) if t >= p.closed_at.timestamp()]
            start = since.get((p.user_address, p.market))
            if after and start is not None:
                found.append(after[0] - start)
        return sorted(found)


class Driver:
    """The scheduler of `jobs.py`: the full tick every `interval` (waiting at most 0.8 of it, as
    `jobs._tick` does) and the trigger watch every `watch` seconds, until stopped."""

    def __init__(self, interval: float, watch: float, worker: str = "bench") -> None:
        self.interval, self.watch, self.worker = interval, watch, worker
        self.ticks: list[tuple[object, float]] = []
        self.fast_started = 0

    async def _full(self) -> None:
        from trading_app.services.monitor.tick import monitor_tick

        while True:
            begun = time.perf_counter()
            report = await monitor_tick(self.worker, sweep=False, wait=self.interval * 0.8)
            self.ticks.append((report, time.perf_counter() - begun))
            await asyncio.sleep(max(0.0, self.interval - (time.perf_counter() - begun)))

    async def _fast(self) -> None:
        from trading_app.services.monitor.tick import watch_tick

        while True:
            begun = time.perf_counter()
            self.fast_started += len(await watch_tick(self.worker))
            await asyncio.sleep(max(0.0, self.watch - (time.perf_counter() - begun)))

    def start(self) -> list[asyncio.Task[None]]:
        loops = [self._full()] + ([self._fast()] if self.watch > 0 else [])
        return [asyncio.get_running_loop().create_task(c) for c in loops]


class SecondWorker:
    """Another worker process (`bench/monitor.py --child`) on the same database and prices: it
    heartbeats, takes its share of the accounts by the lease and runs the same full tick and trigger
    watch; on request it hands over its pushes and its CPU since the last request."""

    def __init__(self, n_users: int, interval: float, watch: float, latency: float) -> None:
        self.args = [
            sys.executable,
            "-u",
            str(MONITOR_SCRIPT),
            "--child",
            "--users",
            str(n_users),
            "--interval",
            str(interval),
            "--watch",
            str(watch),
            "--latency",
            str(latency),
        ]
        self.proc: asyncio.subprocess.Process | None = None

    async def start(self) -> None:
        self.proc = await asyncio.create_subprocess_exec(
            *self.args, stdin=asyncio.subprocess.PIPE, stdout=asyncio.subprocess.PIPE
        )
        assert self.proc.stdout is not None
        assert (await self.proc.stdout.readline()).strip() == b"ready"

    async def collect(self, pushes: Pushes) -> float:
        """Merge its pushes into `pushes`; the CPU it used since the last call (s)."""
        assert self.proc is not None and self.proc.stdin is not None and self.proc.stdout is not None
        self.proc.stdin.write(b"dump\n")
        await self.proc.stdin.drain()
        found = json.loads(await self.proc.stdout.readline())
        for user, times in found["times"].items():
            pushes.times.setdefault(user, []).extend(times)
            pushes.times[user].sort()
        return float(found["cpu"])

    async def stop(self) -> None:
        if self.proc is not None and self.proc.stdin is not None:
            self.proc.stdin.close()
            await self.proc.wait()


def _addresses(n_users: int) -> list[str]:
    return ["0x" + f"{n + 1:040x}" for n in range(n_users)]  # as tests.services.engine_support.make_user


def _prepare_env(indexer_url: str) -> tuple[str, object]:
    import psycopg

    name = f"bench_monitor_{uuid.uuid4().hex[:8]}"
    with psycopg.connect(ADMIN, autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    os.environ.update(
        {
            "APP_ENV": "development",
            "PAPER_PRICE_SOURCE": indexer_url,
            "APP_MASTER_KEYS": json.dumps({"1": base64.b64encode(os.urandom(32)).decode()}),
            "APP_PRIMARY_KEY_ID": "1",
            "TELEGRAM_API_BASE_URL": "http://127.0.0.1:9/bot",
            "DATABASE_URL": f"postgresql+psycopg://postgres@127.0.0.1:5432/{name}",
        }
    )

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


async def _open_all(users: list[str], markets: list[str]) -> None:
    from tests.services.engine_support import make_signal
    from trading_app.services.engine import executor

    async def one_user(user: str) -> None:
        for market in markets:
            body = {"action": "buy", "market": market, "size": "0.01", "sl": "60000", "tp": "70000"}
            outcome = await executor.execute_signal(await make_signal(user, body))
            assert outcome is not None and outcome.status.value == "EXECUTED", outcome and outcome.reason

    gate = asyncio.Semaphore(20)

    async def bounded(user: str) -> None:
        async with gate:
            await one_user(user)

    await asyncio.gather(*(bounded(u) for u in users))
