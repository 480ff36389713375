"""The position monitor: every tick, each account this worker owns is reconciled with its venue.

Per account and tick: ONE batched venue read (`Venue.account_state`: open orders, fills since the
account's cursor, positions; the paper venue runs its triggers at the start of that read). A tick
does all its accounts' reads concurrently (bounded), then reads our books for all of them at once
(`services.monitor.books`), then settles each account concurrently: rows synced, every live position put
right (`services.monitor.reconcile`). A quiet account costs that single venue call and no query of its own;
the venue is asked more only when something changed.

Each account is isolated: a failure is logged and counted on the account's lease, never raised
into the others. Ownership across workers and replicas is `services.monitor.leases` (heartbeats,
rendezvous share, leases). Work that outlasts the tick (a slow venue, a flatten waiting for its
fill) keeps running and keeps its leases; the next tick skips those accounts instead of starting
a second reconcile of them.

Between full ticks, `watch_tick` (every `MONITOR_WATCH_SECONDS`) compares one shared price read per
network with the live TP/SL triggers of the accounts this worker holds (`services.monitor.trigger_watch`,
kept from each full tick's books) and reconciles an account whose trigger the price crossed at
once, by the same code path, under the same lease, and never while that account's work runs.

dYdX accounts follow the indexer's websocket (`services.monitor.streams`): the full tick reads such an
account only when its stream is down, said something changed, or the safety-net interval passed;
the stream pump (`_pump`) reconciles at once an account whose stream said something changed.
"""

from __future__ import annotations

import asyncio
import logging
import time
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from trading_app.domain.clock import utcnow
from trading_app.domain.enums import Network
from trading_app.services.engine import executor
from trading_app.services.monitor import leases, trigger_watch
from trading_app.services.monitor.account import (
    AccountRead,
    read_account,
    reconcile_account,
    settle_account,
)
from trading_app.services.monitor.books import Books, load_books, load_books_many
from trading_app.services.monitor.leases import Account
from trading_app.services.monitor.report import AccountResult, TickReport, failed
from trading_app.services.monitor.streams import Feed
from trading_app.services.ops import metrics
from trading_app.services.ops.logs import bind
from trading_app.settings import get_settings

log = logging.getLogger(__name__)

LEASE_GRACE_SECONDS = 5.0  # a lease outlives the tick interval by this much
PAPER_READS = 100  # paper accounts read at once (their reads are coalesced)
READ_TIMEOUT_SECONDS = 15.0  # one slow venue read must not hold the batch up for long
SETTLE_TIMEOUT_SECONDS = 120.0  # a flatten may wait ~25 s for its fill; a few of them in a row
WATCH_ALONE = 5  # up to this many accounts crossed at once, the watch settles each on its own read
WATCH_LEASE_MARGIN = timedelta(seconds=LEASE_GRACE_SECONDS / 2)  # no fast reconcile on a lease about to lapse
STREAM_DEBOUNCE_SECONDS = 0.02  # the stream's messages of one block arrive together: read them as one batch


@dataclass
class _Worker:
    inflight: dict[Account, asyncio.Task[None]] = field(default_factory=dict)  # account -> its batch
    finished: list[AccountResult] = field(default_factory=list)
    sweep: asyncio.Task[list[int]] | None = None
    last: TickReport | None = None
    watch: trigger_watch.Watch = field(default_factory=trigger_watch.Watch)  # the fast path's state
    feed: Feed | None = None  # the dYdX accounts' streams (None: off, or no dYdX account yet)
    pump: asyncio.Task[None] | None = None  # reconciles what the stream says changed


_workers: dict[str, _Worker] = {}


def _concurrency() -> int:
    # SQLite has one writer: more concurrent reconciles only queue on its lock
    return 4 if get_settings().is_sqlite else 20


def _paper_reads() -> int:
    # concurrent paper reads share one read-only transaction (venues.paper.reads): they hold no
    # connection each and no remote indexer to spare, so the bound of dYdX reads does not apply
    return _concurrency() if get_settings().is_sqlite else PAPER_READS


def lease_ttl() -> timedelta:
    """How long a lease (and a heartbeat) lasts: the tick interval plus a few seconds."""
    return timedelta(seconds=get_settings().monitor_interval_seconds + LEASE_GRACE_SECONDS)


async def _batch(
    me: _Worker, held: dict[Account, datetime | None], gate: asyncio.Semaphore, full: bool = True
) -> None:
    """Reconcile `held`: every venue read (concurrently), ONE read of our books for all of them,
    then every settle (concurrently). Each account is reported and freed as soon as it is done,
    and its live triggers (from the books just settled) are watched until the next full tick."""

    def finish(result: AccountResult) -> None:
        me.finished.append(result)
        account = (result.user, result.network)
        if result.error is None:
            me.watch.moved(account, result.cursor)
        me.inflight.pop(account, None)
        if me.feed is not None and result.error is not None:
            me.feed.settled(account, quiet=False)
        if me.feed is not None and account in me.feed.dirty:
            me.feed.wakeup.set()  # the stream spoke while this account was busy: read it again

    paper = asyncio.Semaphore(_paper_reads())

    async def read(account: Account, cursor: datetime | None) -> AccountRead | None:
        async with paper if account[1] == Network.PAPER.value else gate:
            try:
                bind(user=account[0])  # this task's log lines name the account's trader
                if me.feed is not None:
                    me.feed.reading(account)
                return await asyncio.wait_for(read_account(*account, cursor), READ_TIMEOUT_SECONDS)
            except Exception as e:  # noqa: BLE001 - isolate accounts: count it on the lease, go on
                finish(failed(account, cursor, e))
                return None

    async def settle(r: AccountRead, books: Books) -> None:
        async with gate:
            try:
                bind(user=r.account[0])
                metrics.positions_seen(r.account, len(books.positions))
                result = await asyncio.wait_for(settle_account(r, books), SETTLE_TIMEOUT_SECONDS)
                me.watch.rewatch(books)  # its rows were synced in place with the venue's read
                if me.feed is not None:
                    me.feed.seen(r.account, r.counter.venue)
                    me.feed.settled(r.account, _quiet(result, books))
                finish(result)
            except Exception as e:  # noqa: BLE001
                finish(failed(r.account, r.since, e))

    if not full:  # the watch's few accounts: each settles as soon as its own read is back

        async def one(account: Account, cursor: datetime | None) -> None:
            r = await read(account, cursor)
            if r is not None:
                try:
                    books = await load_books(*account)
                except Exception as e:  # noqa: BLE001
                    finish(failed(account, cursor, e))
                    return
                await settle(r, books)

        await asyncio.gather(*(one(a, c) for a, c in held.items()))
        return
    reads = [r for r in await asyncio.gather(*(read(a, c) for a, c in held.items())) if r is not None]
    try:
        books = await load_books_many([r.account for r in reads])
    except Exception as e:  # noqa: BLE001 - the database failed: every account of the batch failed
        for r in reads:
            finish(failed(r.account, r.since, e))
        return
    await asyncio.gather(*(settle(r, books[r.account]) for r in reads))


async def monitor_tick(
    worker_id: str, *, wait: float | None = None, sweep: bool = True, ttl: timedelta | None = None
) -> TickReport:
    """Reconcile the accounts `worker_id` owns this tick, concurrently, and sweep stuck signals.

    Args:
        worker_id: this worker's stable id (one per process).
        wait: seconds to wait for this tick's reconciles (None: all of them); the rest keep
            running, keep their leases and are reported by a later tick.
        sweep: also start `executor.sweep()` (one at a time per worker) for stuck signals.
        ttl: lease length (default `lease_ttl()`).
    """
    ttl = ttl or lease_ttl()
    me = _workers.setdefault(worker_id, _Worker())
    report = TickReport(worker_id=worker_id, started_at=utcnow())
    begun = time.monotonic()
    now = report.started_at
    await leases.heartbeat(worker_id, now)
    workers = await leases.live_workers(now, ttl)
    accounts = await leases.accounts_to_watch()
    report.watched = len(accounts)
    mine = set(leases.share(accounts, workers, worker_id)) | set(me.inflight)
    held = await leases.claim(worker_id, sorted(mine), ttl, now)
    me.watch.own(held, now + ttl)  # before anything is released: the watch never acts on a lost lease
    await leases.release(worker_id, set(held) | set(me.inflight), now)
    report.owned = len(held)
    feed = await _follow(me, held)
    clock = time.monotonic()
    fresh = {a: c for a, c in held.items() if a not in me.inflight and (feed is None or feed.due(a, clock))}
    report.busy = sum(1 for a in held if a in me.inflight)
    report.started, report.streamed = len(fresh), len(held) - len(fresh) - report.busy
    if fresh:
        task = asyncio.get_running_loop().create_task(
            _batch(me, fresh, asyncio.Semaphore(_concurrency())), name=f"monitor-{worker_id}"
        )
        me.inflight.update(dict.fromkeys(fresh, task))
    if sweep and (me.sweep is None or me.sweep.done()):
        me.sweep = asyncio.get_running_loop().create_task(_sweep(), name="signal-sweep")
    if fresh:
        await asyncio.wait([task], timeout=wait)
    report.results, me.finished = me.finished, []
    await leases.record(
        worker_id,
        [
            leases.LeaseRecord((r.user, r.network), r.error is None, report.started_at, r.cursor, r.error)
            for r in report.results
        ],
    )
    report.seconds = time.monotonic() - begun
    me.last = report
    metrics.positions_kept(set(held) | set(me.inflight))
    metrics.monitor_tick(report.seconds, [r.calls for r in report.results])
    return report


async def watch_tick(worker_id: str, *, wait: float | None = 0) -> list[Account]:
    """The fast path: reconcile at once each held account whose TP/SL trigger the price crossed.

    One shared price read per network (`trigger_watch.market_prices`), compared with the triggers
    kept from the last full tick; no database query, and no venue call while nothing is crossed.
    An account whose reconcile is still running is skipped, and nothing starts once the leases
    of the last full tick are close to running out (the full tick is then what renews them).

    Args:
        worker_id: this worker's id, the one its full ticks run under.
        wait: seconds to wait for the reconciles started (None: until done; default: not at all).

    Returns:
        The accounts whose reconcile was started (a later full tick reports how it went).
    """
    me = _workers.get(worker_id)
    networks = me.watch.networks() if me is not None else set()
    if me is None or not networks:
        return []
    prices = await trigger_watch.market_prices(networks)
    # decided after the price read: the leases and the running work are as they are now
    fresh = me.watch.due(prices, busy=me.inflight, now=utcnow(), margin=WATCH_LEASE_MARGIN)
    if not fresh:
        return []
    # a few accounts settle each as soon as its own read is back; a crowd (a price swept through
    # many triggers) is read together and its books loaded in one batch, as a full tick does
    crowd = len(fresh) > WATCH_ALONE
    task = asyncio.get_running_loop().create_task(
        _batch(me, fresh, asyncio.Semaphore(_concurrency()), full=crowd), name=f"watch-{worker_id}"
    )
    me.inflight.update(dict.fromkeys(fresh, task))
    if wait != 0:
        await asyncio.wait([task], timeout=wait)
    return list(fresh)


def _quiet(result: AccountResult, books: Books) -> bool:
    # nothing done, nothing waiting: the stream alone may say when to read this account again. A
    # position that scales out is never quiet: its trailing stop and its break-even follow the
    # price, which no account message announces
    pending = any(r.status == "PENDING" for r in books.rows)
    scaling = any(p.scale_plan for p in books.positions)
    return (
        not scaling
        and result.error is None
        and not result.errors
        and not result.changed
        and not result.outcomes
        and not pending
    )


async def _follow(me: _Worker, held: dict[Account, datetime | None]) -> Feed | None:
    """The worker's streams follow its leases (created with the first dYdX lease, per event loop)."""
    safety = get_settings().monitor_stream_safety_seconds
    loop = asyncio.get_running_loop()
    if me.feed is not None and me.feed.loop is not loop:  # a test's previous loop: start over
        me.feed, me.pump = None, None
    if safety <= 0 or (me.feed is None and all(n == Network.PAPER.value for _, n in held)):
        return me.feed
    if me.feed is None:
        me.feed = Feed(safety)
        me.pump = loop.create_task(_pump(me), name="dydx-stream-pump")
    await me.feed.follow(held)
    return me.feed


async def _pump(me: _Worker) -> None:
    """Reconcile at once the held accounts whose stream said something changed (one batch per wake)."""
    feed = me.feed
    assert feed is not None
    while True:
        await feed.wakeup.wait()
        feed.wakeup.clear()
        await asyncio.sleep(STREAM_DEBOUNCE_SECONDS)  # one block's messages for many accounts: one batch
        until = me.watch.until
        if until is None or utcnow() >= until - WATCH_LEASE_MARGIN:
            continue  # a lease about to lapse: the full tick reads the dirty accounts
        fresh = {a: me.watch.held[a] for a in feed.woken() if a in me.watch.held and a not in me.inflight}
        if fresh:
            task = asyncio.get_running_loop().create_task(
                _batch(me, fresh, asyncio.Semaphore(_concurrency()), full=len(fresh) > 4), name="stream-batch"
            )
            me.inflight.update(dict.fromkeys(fresh, task))


async def _sweep() -> list[int]:
    try:
        return await executor.sweep()
    except Exception:  # noqa: BLE001 - the next tick sweeps again
        log.exception("monitor: signal sweep failed")
        return []


async def stop(worker_id: str, timeout: float = 5.0) -> None:  # noqa: ASYNC109 - a grace, not a deadline
    """Let in-flight reconciles finish (up to `timeout`), cancel the rest, give up the leases."""
    me = _workers.pop(worker_id, None)
    if me is None:
        return
    if me.pump is not None:
        me.pump.cancel()
    if me.feed is not None and me.feed.loop is asyncio.get_running_loop():
        await me.feed.close()
    tasks = [*set(me.inflight.values()), *([me.sweep] if me.sweep else [])]
    pending = [t for t in tasks if not t.done()]
    if pending:
        _, late = await asyncio.wait(pending, timeout=timeout)
        for task in late:
            task.cancel()
        await asyncio.gather(*late, return_exceptions=True)
    try:
        await leases.retire(worker_id, utcnow())
    except Exception:  # noqa: BLE001 - the leases then simply expire
        log.warning("monitor: could not release the leases of %s; they expire by themselves", worker_id)


def last_tick(worker_id: str | None = None) -> TickReport | None:
    """The latest tick report of `worker_id` (default: the latest of any worker in this process)."""
    if worker_id is not None:
        worker = _workers.get(worker_id)
        return worker.last if worker else None
    reports = [w.last for w in _workers.values() if w.last is not None]
    return max(reports, key=lambda r: r.started_at, default=None)


__all__ = [
    "AccountResult",
    "TickReport",
    "last_tick",
    "lease_ttl",
    "monitor_tick",
    "read_account",
    "reconcile_account",
    "settle_account",
    "stop",
    "watch_tick",
]
