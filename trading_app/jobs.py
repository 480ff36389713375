"""Background work of one backend worker: the position monitor on an APScheduler, and dispatch.

`monitor_lifespan` is registered with `app.register_lifespan_task`, so every Reflex worker enters
it at start-up (Reflex forks workers after importing the app: nothing starts at import time) and
leaves it at shutdown. Each worker runs its own scheduler; `services.monitor.leases` makes sure every
account is reconciled by one of them per tick. A second, fast job (every `MONITOR_WATCH_SECONDS`)
runs the monitor's trigger watch: an account whose TP/SL the price crossed is reconciled at once
instead of at the next tick.
"""

from __future__ import annotations

import asyncio
import logging
import os
import socket
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from apscheduler.schedulers.asyncio import AsyncIOScheduler

from trading_app.domain.clock import utcnow
from trading_app.services.engine import executor
from trading_app.services.intake import dispatch
from trading_app.services.monitor import tick
from trading_app.services.notify import telegram_delivery, telegram_polling
from trading_app.services.notify.notifier import get_notifier
from trading_app.services.ops import health
from trading_app.settings import get_settings

log = logging.getLogger(__name__)

STALE_AFTER_TICKS = 3  # the readiness check fails when no tick succeeded for this many intervals
STALE_FLOOR_SECONDS = 15.0
SHUTDOWN_GRACE_SECONDS = 5.0


@dataclass
class _Run:
    worker_id: str
    interval: float
    started_at: datetime
    scheduler: AsyncIOScheduler | None = None
    last_ok: datetime | None = None
    last_error: str | None = None
    ticks: int = 0
    current: asyncio.Task[object] | None = None
    watch_interval: float = 0.0  # 0: no trigger watch
    watching: asyncio.Task[object] | None = None
    startup_sweep: asyncio.Task[list[int]] | None = None


_run: _Run | None = None


def new_worker_id() -> str:
    """A unique id for this process: host, pid and a random part (pids repeat across restarts)."""
    return f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:8]}"


async def _tick(run: _Run) -> None:
    run.current = asyncio.current_task()
    try:
        # return before the next run is due (APScheduler would skip it with a warning); whatever is
        # still running carries on and is reported by a later tick
        report = await tick.monitor_tick(run.worker_id, wait=run.interval * 0.8)
    except asyncio.CancelledError:
        # shutdown cancels the running tick; the next start (or another worker) picks up
        log.info("monitor tick cancelled by shutdown")
        return
    except Exception as e:  # noqa: BLE001 - the scheduler would only log it; keep the reason for /health
        run.last_error = type(e).__name__
        log.exception("monitor tick failed")
        return
    finally:
        run.current = None
    run.last_ok, run.last_error, run.ticks = utcnow(), None, run.ticks + 1
    if report.outcomes or report.failed:
        log.info("monitor tick: %s", report.summary())
    else:
        log.debug("monitor tick: %s", report.summary())


async def _watch(run: _Run) -> None:
    # the watch's own task, at most one at a time: a slow price read makes the next fast runs
    # return at once instead of piling up (or making the scheduler warn about skipped runs)
    if run.watching is None or run.watching.done():
        run.watching = asyncio.get_running_loop().create_task(_watch_once(run), name="trigger-watch")


async def _watch_once(run: _Run) -> None:
    try:
        started = await tick.watch_tick(run.worker_id)
    except asyncio.CancelledError:
        raise
    except Exception:  # noqa: BLE001 - the next fast run tries again; the full tick is the safety net
        log.exception("trigger watch failed")
        return
    if started:
        log.info("trigger watch: %d account(s) crossed a trigger, reconciling now", len(started))


def _stale_after(run: _Run) -> timedelta:
    return timedelta(seconds=max(STALE_AFTER_TICKS * run.interval, STALE_FLOOR_SECONDS))


def scheduler_status() -> dict[str, object]:
    """Running state, last successful tick and its counts: for /health/ready and the dashboard."""
    run = _run
    if run is None:
        return {"running": False}
    last = tick.last_tick(run.worker_id)
    status: dict[str, object] = {
        "running": bool(run.scheduler and run.scheduler.running),
        "worker": run.worker_id,
        "interval_seconds": run.interval,
        "watch_seconds": run.watch_interval,
        "started_at": run.started_at.isoformat(),
        "last_tick_at": run.last_ok.isoformat() if run.last_ok else None,
        "ticks": run.ticks,
    }
    if run.last_error:
        status["last_error"] = run.last_error
    if last is not None:
        status["last_tick"] = last.summary()
    return status


async def _check() -> dict[str, object]:
    status = scheduler_status()
    run = _run
    ok = bool(status["running"]) and run is not None
    if ok and run is not None:
        since = run.last_ok or run.started_at
        ok = utcnow() - since <= _stale_after(run)
        if not ok:
            status["error"] = "no successful monitor tick recently"
    return {"status": "ok" if ok else "error", **status}


@asynccontextmanager
async def monitor_lifespan() -> AsyncIterator[None]:
    """Start the monitor and the executor hand-off for this worker; stop both cleanly on exit."""
    global _run
    settings = get_settings()
    run = _Run(worker_id=new_worker_id(), interval=settings.monitor_interval_seconds, started_at=utcnow(),
               watch_interval=settings.monitor_watch_seconds)
    dispatch.set_executor(executor.execute_signal)
    # signals accepted while no worker was up: execute them now, without holding up the start
    run.startup_sweep = asyncio.get_running_loop().create_task(_startup_sweep(), name="startup-sweep")
    scheduler = AsyncIOScheduler(timezone=UTC)
    scheduler.add_job(_tick, "interval", seconds=run.interval, args=[run], id="monitor", max_instances=1,
                      coalesce=True, next_run_time=datetime.now(UTC))
    if run.watch_interval > 0:
        scheduler.add_job(_watch, "interval", seconds=run.watch_interval, args=[run], id="trigger-watch",
                          max_instances=1, coalesce=True)
    run.scheduler = scheduler
    _run = run
    scheduler.start()
    health.register_check("scheduler", _check)
    log.info("monitor started: worker %s, every %ss, trigger watch every %ss", run.worker_id, run.interval,
             run.watch_interval or "-")
    try:
        yield
    finally:
        health.unregister_check("scheduler")
        if scheduler.running:  # it may have been stopped already
            scheduler.shutdown(wait=False)
        # the tick only waits for its reconciles (tick.stop lets those finish); an execution is
        # given a few seconds to finish cleanly, the sweep retries whatever is cut short
        for task in (run.current, run.watching):
            if task is not None and not task.done():
                task.cancel()
                await asyncio.gather(task, return_exceptions=True)
        if run.startup_sweep is not None and not run.startup_sweep.done():
            await asyncio.wait([run.startup_sweep], timeout=SHUTDOWN_GRACE_SECONDS)
            run.startup_sweep.cancel()
            await asyncio.gather(run.startup_sweep, return_exceptions=True)
        await tick.stop(run.worker_id, timeout=SHUTDOWN_GRACE_SECONDS)
        dispatch.set_executor(None)
        await dispatch.drain(timeout=SHUTDOWN_GRACE_SECONDS)
        await get_notifier().drain(SHUTDOWN_GRACE_SECONDS)  # closes and errors already decided: send them
        _run = None
        log.info("monitor stopped: worker %s", run.worker_id)


TELEGRAM_POLL_SECONDS = 1.0  # between two lease renewals (a long poll per held bot runs meanwhile)
TELEGRAM_SYNC_SECONDS = 60.0  # between two looks for bots set up for another mode or an old token


async def _telegram_loop(poller: telegram_polling.Poller) -> None:
    last_sync = float("-inf")
    loop = asyncio.get_running_loop()
    while True:
        try:
            if loop.time() - last_sync >= TELEGRAM_SYNC_SECONDS:
                last_sync = loop.time()
                await telegram_delivery.sync_stale()
            await poller.round()
        except asyncio.CancelledError:
            raise
        except Exception:  # noqa: BLE001 - the next round tries again
            log.exception("telegram polling round failed")
        await asyncio.sleep(TELEGRAM_POLL_SECONDS)


@asynccontextmanager
async def telegram_lifespan() -> AsyncIterator[None]:
    """Telegram commands for this worker: bots set up for the configured mode and, without a public
    API_URL, long-polled (each bot by the one worker holding its lease; see `telegram_polling`)."""
    poller = telegram_polling.Poller(new_worker_id())
    task = asyncio.get_running_loop().create_task(_telegram_loop(poller), name="telegram-updates")
    try:
        yield
    finally:
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)
        await poller.stop()


async def _startup_sweep() -> list[int]:
    try:
        return await executor.sweep(older_than=timedelta(0))
    except Exception:  # noqa: BLE001 - the monitor's periodic sweep retries
        log.exception("start-up sweep failed")
        return []


__all__ = ["monitor_lifespan", "new_worker_id", "scheduler_status", "telegram_lifespan"]
