"""Reading many paper accounts at once: concurrent `account_state` reads share one transaction.

The monitor reads every account it owns at about the same moment. One read alone is a transaction
of four small queries, and most of its cost is per query and per connection, not per row. Reads
that arrive in the same turn of the event loop are therefore answered together, by the same four
queries over all their users (each query scoped to exactly those users; the rows are split per
user before anyone sees them), on one pooled connection. Reads only: every write stays per user,
under that user's account lock (`store.lock_account`).
"""

from __future__ import annotations

import asyncio
import weakref
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime
from decimal import Decimal

from sqlalchemy import BindParameter, Table, bindparam, select

from trading_app.db.engine import session_scope
from trading_app.db.models import PaperAccount
from trading_app.venues.paper.rows import (
    FILL_COLUMNS,
    FILLS,
    LIVE_STATUSES,
    ORDER_COLUMNS,
    ORDERS,
    POSITION_COLUMNS,
    POSITIONS,
    FillRow,
    OrderRow,
    PositionRow,
)

ACCOUNTS: Table = PaperAccount.__table__  # type: ignore[attr-defined]  # SQLModel sets it on table models

MAX_USERS = 200  # per batch: IN lists stay well below the databases' parameter limits


@dataclass
class Snapshot:
    """One user's paper books as one read saw it (Core rows: reading ORM objects cost more CPU than
    the queries)."""

    collateral: Decimal | None  # None: no account yet
    positions: list[PositionRow]  # open ones (size != 0), by market
    orders: list[OrderRow]  # live ones, oldest first
    fills: list[FillRow]  # after the read's `since`, oldest first


Request = tuple[str, datetime | None, "asyncio.Future[Snapshot]"]


@dataclass
class _Batcher:
    pending: list[Request] = field(default_factory=list)
    running: set[asyncio.Task[None]] = field(default_factory=set)


_batchers: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, _Batcher] = weakref.WeakKeyDictionary()


async def read_snapshot(user: str, since: datetime | None) -> Snapshot:
    """The user's account, open positions, live orders and fills after `since` (all if None),
    read in one transaction, together with whatever other reads arrive at the same moment."""
    loop = asyncio.get_running_loop()
    batcher = _batchers.setdefault(loop, _Batcher())
    future: asyncio.Future[Snapshot] = loop.create_future()
    batcher.pending.append((user, since, future))
    if len(batcher.pending) == 1:  # the first of a batch: the others join it until it starts
        task = loop.create_task(_flush(batcher))
        batcher.running.add(task)
        task.add_done_callback(batcher.running.discard)
    return await future


async def _flush(batcher: _Batcher) -> None:
    # one more turn of the loop before the batch closes: readers woken in the turn after the
    # first one's (a shared price read, a timer) still join it
    await asyncio.sleep(0)
    batch, batcher.pending = batcher.pending[:MAX_USERS], batcher.pending[MAX_USERS:]
    if batcher.pending:  # more than one batch arrived at once: the rest goes on its own
        task = asyncio.get_running_loop().create_task(_flush(batcher))
        batcher.running.add(task)
        task.add_done_callback(batcher.running.discard)
    live = [r for r in batch if not r[2].done()]  # a caller that gave up needs no answer
    try:
        found = await _read_many(live)
    except BaseException as e:
        for _, _, future in live:
            if not future.done():
                future.set_exception(e if isinstance(e, Exception) else asyncio.CancelledError())
        if not isinstance(e, Exception):
            raise
        return
    for (_, _, future), snapshot in zip(live, found, strict=True):
        if not future.done():
            future.set_result(snapshot)


# built once; each IN list is one expanding parameter
_USERS: BindParameter[str] = bindparam("users", expanding=True)
_ACCOUNTS = select(ACCOUNTS.c.user_address, ACCOUNTS.c.collateral).where(ACCOUNTS.c.user_address.in_(_USERS))
_POSITIONS = (
    select(*POSITION_COLUMNS).where(POSITIONS.c.user_address.in_(_USERS)).order_by(POSITIONS.c.market)
)
_ORDERS = (
    select(*ORDER_COLUMNS)
    .where(ORDERS.c.user_address.in_(_USERS), ORDERS.c.status.in_(LIVE_STATUSES))
    .order_by(ORDERS.c.id)
)
_ALL_FILLS = select(*FILL_COLUMNS).where(FILLS.c.user_address.in_(_USERS))
_FILLS_AFTER = select(*FILL_COLUMNS).where(
    FILLS.c.user_address.in_(_USERS), FILLS.c.created_at > bindparam("after")
)


async def _read_many(requests: Sequence[Request]) -> list[Snapshot]:
    if not requests:
        return []
    users = sorted({u for u, _, _ in requests})
    everything = sorted({u for u, since, _ in requests if since is None})
    bounded = [since for _, since, _ in requests if since is not None]
    async with session_scope() as session:
        accounts = {u: c for u, c in (await session.execute(_ACCOUNTS, {"users": users})).all()}
        positions = [PositionRow(*r) for r in (await session.execute(_POSITIONS, {"users": users})).all()]
        orders = [OrderRow(*r) for r in (await session.execute(_ORDERS, {"users": users})).all()]
        fills: list[FillRow] = []
        if everything:
            fills += [FillRow(*r) for r in (await session.execute(_ALL_FILLS, {"users": everything})).all()]
        if bounded:
            found = await session.execute(_FILLS_AFTER, {"users": users, "after": min(bounded)})
            fills += [FillRow(*r) for r in found.all()]
    by_user: dict[str, tuple[list[PositionRow], list[OrderRow], list[FillRow]]] = {
        u: ([], [], []) for u in users
    }
    for p in positions:
        if p.size != 0:
            by_user[p.user_address][0].append(p)
    for o in orders:
        by_user[o.user_address][1].append(o)
    for f in sorted({f.id: f for f in fills}.values(), key=lambda f: (f.created_at, f.id)):
        by_user[f.user_address][2].append(f)
    return [
        Snapshot(
            accounts.get(user),
            list(by_user[user][0]),
            list(by_user[user][1]),
            [f for f in by_user[user][2] if since is None or f.created_at > since],
        )
        for user, since, _ in requests
    ]


__all__ = ["Snapshot", "read_snapshot"]
