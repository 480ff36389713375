"""Which monitor worker reconciles which account: heartbeats, a fair share, and leases.

Every worker of every replica runs the monitor (Reflex runs the lifespan in each worker). Each
tick a worker:

1. records its heartbeat in `monitor_workers`;
2. computes its share of the accounts by rendezvous hashing over the workers seen alive: every
   worker derives the same split from the same rows, so no coordinator is needed;
3. claims the leases of its share in `monitor_leases`: a lease is taken only when it is free,
   expired or already its own (`FOR UPDATE SKIP LOCKED` on PostgreSQL; SQLite has one writer);
4. releases the leases it holds outside its share, so their new owner can take them next tick.

The lease, not the hash, is what makes one owner: two workers that disagree about who is alive
(one just started) still cannot both hold an account. A dead worker stops heartbeating and its
leases run out `ttl` later; the survivors' shares then cover its accounts.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import Table, and_, bindparam, delete, not_, or_, tuple_, update
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from trading_app.db.engine import session_scope
from trading_app.db.models import (
    ACTIVE_POSITION_STATUSES,
    WORKING_ORDER_STATUSES,
    MonitorLease,
    MonitorWorker,
    Order,
    Position,
)
from trading_app.domain.clock import utcnow
from trading_app.domain.enums import Network
from trading_app.venues.paper import store as paper_store

Account = tuple[str, str]  # (user address, network)

FORGET_WORKERS_AFTER = timedelta(hours=1)
RECENTLY_CLOSED = timedelta(hours=1)


@dataclass(frozen=True)
class LeaseRecord:
    """How one account's reconcile ended, for its lease row."""

    account: Account
    ok: bool
    at: datetime
    cursor: datetime | None = None
    error: str | None = None  # the exception class name only: messages can carry secrets


def _insert(session: AsyncSession) -> Any:  # both dialects' insert(): one interface
    return pg_insert if session.get_bind().dialect.name == "postgresql" else sqlite_insert


async def heartbeat(worker_id: str, now: datetime) -> None:
    """Record that `worker_id` is alive (and forget workers silent for an hour)."""
    async with session_scope() as session:
        stmt = _insert(session)(MonitorWorker).values(worker_id=worker_id, started_at=now, seen_at=now)
        await session.execute(stmt.on_conflict_do_update(index_elements=["worker_id"], set_={"seen_at": now}))
        await session.execute(
            delete(MonitorWorker).where(col(MonitorWorker.seen_at) < now - FORGET_WORKERS_AFTER)
        )


async def live_workers(now: datetime, ttl: timedelta) -> list[str]:
    """Workers whose heartbeat is younger than `ttl`."""
    async with session_scope() as session:
        rows = await session.exec(
            select(MonitorWorker.worker_id).where(col(MonitorWorker.seen_at) > now - ttl)
        )
        return sorted(rows.all())


async def accounts_to_watch(now: datetime | None = None) -> list[Account]:
    """Accounts with a live position, with working orders left behind by a closed position, every
    paper account that holds a position (the paper venue is ours: exposure there without a live
    position in the books is repaired), and dYdX accounts with a position closed in the last
    `RECENTLY_CLOSED` (exposure our orders left that the books no longer show is looked for)."""
    now = now or utcnow()
    async with session_scope() as session:
        live = await session.exec(
            select(Position.user_address, Position.network)
            .where(
                or_(
                    col(Position.status).in_(ACTIVE_POSITION_STATUSES),
                    # paper exposure is found from the paper books themselves (below)
                    and_(
                        col(Position.closed_at) >= now - RECENTLY_CLOSED,
                        col(Position.network) != Network.PAPER.value,
                    ),
                )
            )
            .distinct()
        )
        found = set(live.all())
        found.update((user, Network.PAPER.value) for user in await paper_store.holders(session))
        stray = await session.exec(
            select(Order.user_address, Order.network)
            .join(Position, col(Order.position_id) == col(Position.id))
            .where(
                col(Order.status).in_(WORKING_ORDER_STATUSES),
                col(Position.status).not_in(ACTIVE_POSITION_STATUSES),
            )
            .distinct()
        )
        found.update(stray.all())
    return sorted(found)


def _weight(worker_id: str, account: Account) -> int:
    # a stable hash (Python's hash() differs per process)
    digest = hashlib.blake2b(f"{worker_id}\0{account[0]}\0{account[1]}".encode(), digest_size=8).digest()
    return int.from_bytes(digest, "big")


def share(accounts: Iterable[Account], workers: Sequence[str], me: str) -> list[Account]:
    """The accounts rendezvous hashing gives to `me` among `workers` (`me` always counts as alive)."""
    everyone = sorted(set(workers) | {me})
    return [a for a in accounts if max(everyone, key=lambda w: _weight(w, a)) == me]


def _key() -> Any:
    return tuple_(col(MonitorLease.user_address), col(MonitorLease.network))


async def _claim(
    worker_id: str, accounts: list[Account], ttl: timedelta, now: datetime
) -> dict[Account, datetime | None]:
    free = or_(
        col(MonitorLease.owner) == worker_id,
        col(MonitorLease.owner).is_(None),
        col(MonitorLease.expires_at) < now,
    )
    # SKIP LOCKED: a lease another worker is claiming right now is simply not ours this tick
    takeable = select(MonitorLease.user_address, MonitorLease.network).where(_key().in_(accounts), free)
    stmt = (
        update(MonitorLease)
        .where(_key().in_(takeable.with_for_update(skip_locked=True)))
        .values(owner=worker_id, expires_at=now + ttl)
        .returning(col(MonitorLease.user_address), col(MonitorLease.network), col(MonitorLease.fills_cursor))
    )
    async with session_scope() as session:
        rows = (await session.execute(stmt)).all()
    return {(u, n): cursor for u, n, cursor in rows}


async def claim(
    worker_id: str, accounts: Sequence[Account], ttl: timedelta, now: datetime
) -> dict[Account, datetime | None]:
    """Take (or renew) the leases of `accounts` that nobody else holds.

    Returns:
        {account: its fills cursor} for every lease `worker_id` holds until `now + ttl`.
    """
    wanted = sorted(set(accounts))
    if not wanted:
        return {}
    held = await _claim(worker_id, wanted, ttl, now)
    missing = [a for a in wanted if a not in held]
    if missing:  # first time anyone watches these accounts: create free leases, then claim them
        async with session_scope() as session:
            values = [
                {"user_address": u, "network": n, "owner": None, "expires_at": now, "failures": 0}
                for u, n in missing
            ]
            stmt = _insert(session)(MonitorLease).values(values)
            await session.execute(stmt.on_conflict_do_nothing(index_elements=["user_address", "network"]))
        held.update(await _claim(worker_id, missing, ttl, now))
    return held


async def release(worker_id: str, keep: Iterable[Account], now: datetime) -> None:
    """Give up every lease of `worker_id` except those in `keep`."""
    kept = sorted(set(keep))
    stmt = update(MonitorLease).where(col(MonitorLease.owner) == worker_id)
    if kept:
        stmt = stmt.where(not_(_key().in_(kept)))
    async with session_scope() as session:
        await session.execute(stmt.values(owner=None, expires_at=now))


async def record(worker_id: str, outcomes: Sequence[LeaseRecord]) -> None:
    """Store cursors, last success and failure counts of finished reconciles (leases still ours)."""
    if not outcomes:
        return
    table: Table = MonitorLease.__table__  # type: ignore[attr-defined]
    where = (
        table.c.user_address == bindparam("u"),
        table.c.network == bindparam("n"),
        table.c.owner == worker_id,
    )
    ok = (
        update(table)
        .where(*where)
        .values(fills_cursor=bindparam("cursor"), last_tick_at=bindparam("at"), failures=0, last_error=None)
    )
    failed = update(table).where(*where).values(failures=table.c.failures + 1, last_error=bindparam("error"))
    good = [{"u": o.account[0], "n": o.account[1], "cursor": o.cursor, "at": o.at} for o in outcomes if o.ok]
    bad = [
        {"u": o.account[0], "n": o.account[1], "error": (o.error or "")[:128]} for o in outcomes if not o.ok
    ]
    async with session_scope() as session:
        if good:
            await session.execute(ok, good)
        if bad:
            await session.execute(failed, bad)


async def retire(worker_id: str, now: datetime) -> None:
    """A clean shutdown: free every lease at once and leave the membership."""
    await release(worker_id, (), now)
    async with session_scope() as session:
        await session.execute(delete(MonitorWorker).where(col(MonitorWorker.worker_id) == worker_id))


async def lease_of(user: str, network: str) -> MonitorLease | None:
    """The monitor's lease row of one account: last good reconcile, consecutive failures."""
    async with session_scope() as session:
        return await session.get(MonitorLease, (user, network))


__all__ = [
    "Account",
    "LeaseRecord",
    "accounts_to_watch",
    "claim",
    "heartbeat",
    "lease_of",
    "live_workers",
    "record",
    "release",
    "retire",
    "share",
]
