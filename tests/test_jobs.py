"""The monitor's lifespan: the scheduler starts, ticks, reports readiness, and stops cleanly."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable

import httpx
import pytest

from tests.conftest import reset_app_caches
from tests.fakes.indexer import FakeIndexer
from tests.services.engine_support import LONG_BTC, make_signal, make_user, signal
from tests.services.monitor_support import move, open_position, position
from trading_app import jobs
from trading_app.api.app import build_api
from trading_app.db.engine import session_scope
from trading_app.db.models import MonitorLease, MonitorWorker
from trading_app.services.intake import dispatch


async def eventually(check: Callable[[], Awaitable[bool]], within: float = 15.0) -> None:
    deadline = asyncio.get_running_loop().time() + within
    while not await check():
        assert asyncio.get_running_loop().time() < deadline, "condition not reached in time"
        await asyncio.sleep(0.05)


async def ready() -> httpx.Response:
    transport = httpx.ASGITransport(app=build_api())
    async with httpx.AsyncClient(transport=transport, base_url="http://test") as client:
        return await client.get("/health/ready")


@pytest.fixture
def fast_ticks(monkeypatch: pytest.MonkeyPatch, paper_market: FakeIndexer) -> FakeIndexer:
    monkeypatch.setenv("MONITOR_INTERVAL_SECONDS", "0.2")
    reset_app_caches()
    return paper_market


async def test_the_lifespan_runs_the_monitor_and_stops_cleanly(db_url: str, fast_ticks: FakeIndexer) -> None:
    user = await make_user(31)
    opened = await open_position(user, LONG_BTC)
    eth = {**LONG_BTC, "market": "ETH-USD", "size": "0.1", "sl": "2800", "tp": "3300"}
    waiting = await make_signal(user, eth)
    assert jobs.scheduler_status() == {"running": False}

    async with jobs.monitor_lifespan():
        # accepted while no worker ran: the start-up sweep executes it
        await eventually(lambda: _status_is(waiting, "EXECUTED"))
        await eventually(lambda: _ticks_at_least(2))
        body = (await ready()).json()
        scheduler = body["components"]["scheduler"]
        assert scheduler["status"] == "ok" and scheduler["running"] is True
        assert scheduler["last_tick_at"] is not None and scheduler["last_tick"]["owned"] == 1
        # the executor is registered for dispatch
        another = await make_signal(user, {"action": "close", "market": "ETH-USD"})
        task = dispatch.dispatch(another)
        assert task is not None
        await task
        assert (await signal(another)).status == "EXECUTED"
        # ticks reconcile: the take-profit fills and the books close without anyone asking
        move(fast_ticks, "BTC-USD", "70500")
        await eventually(lambda: _closed(opened.id))
        assert (await position(opened.id)).close_reason == "TAKE_PROFIT"

    assert jobs.scheduler_status() == {"running": False}
    assert "scheduler" not in (await ready()).json()["components"]
    assert dispatch.dispatch(another) is None  # unregistered
    async with session_scope() as session:
        assert (await session.get(MonitorLease, (user, "paper"))).owner is None  # type: ignore[union-attr]
        assert (await session.exec(MonitorWorker.__table__.select())).all() == []  # type: ignore[attr-defined]


async def test_readiness_fails_without_a_running_scheduler(sqlite_url: str, fast_ticks: FakeIndexer) -> None:
    async with jobs.monitor_lifespan():
        await eventually(lambda: _ticks_at_least(1))
        assert (await ready()).status_code == 200
        jobs._run.scheduler.shutdown(wait=False)  # type: ignore[union-attr] - the scheduler died
        await asyncio.sleep(0)
        response = await ready()
        assert response.status_code == 503
        assert response.json()["components"]["scheduler"]["status"] == "error"


async def _status_is(signal_id: int, status: str) -> bool:
    return (await signal(signal_id)).status == status


async def _ticks_at_least(n: int) -> bool:
    return int(jobs.scheduler_status().get("ticks", 0)) >= n  # type: ignore[call-overload]


async def _closed(position_id: int) -> bool:
    return (await position(position_id)).status == "CLOSED"


async def test_the_trigger_watch_closes_a_crossed_position_between_full_ticks(
    sqlite_url: str, paper_market: FakeIndexer, monkeypatch: pytest.MonkeyPatch
) -> None:
    # full ticks far apart (the first runs at start), the watch often: only the watch can close it
    monkeypatch.setenv("MONITOR_INTERVAL_SECONDS", "600")
    monkeypatch.setenv("MONITOR_WATCH_SECONDS", "0.1")
    reset_app_caches()
    user = await make_user(32)
    opened = await open_position(user, LONG_BTC)
    async with jobs.monitor_lifespan():
        await eventually(lambda: _ticks_at_least(1))
        assert jobs.scheduler_status()["watch_seconds"] == 0.1
        move(paper_market, "BTC-USD", "70500")
        await eventually(lambda: _closed(opened.id))
        assert (await position(opened.id)).close_reason == "TAKE_PROFIT"
        assert jobs.scheduler_status()["ticks"] == 1  # no full tick since the first
