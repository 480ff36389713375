"""The `signals` table as the webhook's durable inbox and the trader's alert log.

- `lookup_webhook(uuid)`: the owner of a webhook, read from the database on every alert (a
  rotated secret stops working at once); concurrent lookups share one SELECT.
- `store_signal(row)`: commits one alert; concurrent calls share one multi-row INSERT and one
  COMMIT (group commit). Exactly-once storage rests on the unique (user_address, dedupe_key)
  constraint, so copies racing on different workers or processes still yield one row.
- `list_signals(address, ...)`: one user's alerts, newest first (the alert log API and the
  dashboard).

The SQL of the first two lives in `signal_sql` (psycopg directly on PostgreSQL, the hot path).
"""

from __future__ import annotations

import time
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import Table, and_, or_, select

from trading_app.db.engine import get_engine
from trading_app.db.models import Signal
from trading_app.domain.clock import utcnow
from trading_app.domain.reasons import Explained, explain
from trading_app.domain.sent import sent_fields
from trading_app.services.intake import signal_sql
from trading_app.services.intake.group_commit import Batcher
from trading_app.settings import get_settings

CAP_WINDOW = timedelta(seconds=60)
MAX_PAGE = 200
_SIGNALS: Table = Signal.__table__  # type: ignore[attr-defined]  # SQLModel types no __table__
# Settling a dedupe key takes at most: insert, re-key a stale row, insert again, and one more
# round for a concurrent copy that re-keyed first.
_MAX_ROUNDS = 4


@dataclass(frozen=True)
class WebhookOwner:
    """The user behind a webhook URL. `recent` counts their alerts that passed validation in the
    last minute (on PostgreSQL only up to the cap: beyond it the answer is the same), plus the
    copies of this lookup's batch ahead of this one (for the per-minute cap). `network` is where
    their alerts trade (read with the owner, so the market check costs no second query); `paused`
    whether they paused trading (read with the owner on every alert, so a pause takes effect at the
    next alert and the inbox needs no query of its own for it)."""

    address: str
    secret_enc: str
    ip_allowlist: bool
    recent: int
    network: str = "paper"
    paused: bool = False

    def __repr__(self) -> str:  # the ciphertext stays out of logs
        return (
            f"WebhookOwner(address={self.address!r}, ip_allowlist={self.ip_allowlist}, "
            f"recent={self.recent}, network={self.network!r}, paused={self.paused})"
        )


@dataclass(frozen=True)
class NewSignal:
    """One row to store. `dedupe_key` None means "never a duplicate" (alerts refused at the door);
    `dedupe_window` None means the key dedupes forever, else only against rows this many seconds old."""

    user_address: str
    received_at: datetime
    raw_body: str
    status: str
    content_type: str | None = None
    source_ip: str | None = None
    reason: str | None = None
    parsed: str | None = None
    action: str | None = None
    market: str | None = None
    dedupe_key: str | None = None
    dedupe_window: float | None = None
    paper: bool = False  # a settings-page test alert: executed on the paper venue

    def __post_init__(self) -> None:
        if self.received_at.tzinfo is None:  # the PostgreSQL fast path binds it without UTCDateTime
            raise ValueError("received_at must be timezone-aware")


@dataclass(frozen=True)
class StoredSignal:
    """Where an alert ended up: its own new row, or (duplicate) the row of the first copy."""

    signal_id: int
    duplicate: bool


# The per-minute cap's count of a user's recent alerts is read from the database at most once per
# COUNT_REFRESH_SECONDS per worker (counting a busy webhook's last minute is the costliest part of
# the lookup under bursts); in between, the alerts this worker stores are added to it. The owner
# row itself (secret, allowlist) is still read on every lookup. Other workers' alerts of the last
# second are seen at the next refresh: the cap stays a brake, not an exact quota (see inbox).
COUNT_REFRESH_SECONDS = 1.0
_MEMO_LIMIT = 50_000
_counted_at: dict[str, float] = {}  # webhook uuid -> when its owner's alerts were last counted
_recent: dict[str, int] = {}  # owner address -> alerts of the last minute as last counted, plus ours since


def forget_counts() -> None:
    """Drop the remembered counts (tests; a worker that wants every count read afresh)."""
    _counted_at.clear()
    _recent.clear()


async def _lookup_batch(uuids: Sequence[str]) -> list[WebhookOwner | None]:
    cap = get_settings().webhook_per_minute_cap
    now = time.monotonic()
    unique = sorted(set(uuids))
    if len(_counted_at) > _MEMO_LIMIT:
        forget_counts()
    stale = [u for u in unique if now - _counted_at.get(u, float("-inf")) >= COUNT_REFRESH_SECONDS]
    rows = await signal_sql.lookup(unique, utcnow() - CAP_WINDOW, most=cap, count=stale)
    found = {row[0]: row for row in rows}
    for uuid, row in found.items():
        if int(row[4]) >= 0:
            _counted_at[uuid], _recent[row[1]] = now, int(row[4])
        elif row[1] not in _recent:  # remembered under another uuid that was dropped: count next time
            _counted_at.pop(uuid, None)
    ahead: Counter[str] = Counter()
    owners: list[WebhookOwner | None] = []
    for uuid in uuids:
        owner = found.get(uuid)
        if owner is None:
            owners.append(None)
            continue
        recent = _recent.get(owner[1], 0) + ahead[uuid]
        owners.append(WebhookOwner(owner[1], owner[2], bool(owner[3]), recent, str(owner[5]), bool(owner[6])))
        ahead[uuid] += 1
    return owners


def _count_stored(rows: Sequence[NewSignal], results: Sequence[StoredSignal]) -> None:
    # what the cap's count query would find: new rows that passed validation (with a dedupe key)
    for row, stored in zip(rows, results, strict=True):
        if row.dedupe_key is not None and not stored.duplicate and row.user_address in _recent:
            _recent[row.user_address] += 1


Pair = tuple[str, str]


async def _settle_keys(
    tx: signal_sql.Transaction, pending: dict[Pair, NewSignal]
) -> dict[Pair, StoredSignal]:
    """Insert one row per (user, key), or find the row that already holds the key.

    A row holding a body key for longer than its window is re-keyed (`<key>:<its id>`) in this
    transaction and the new row inserted in the next round. Two workers doing this at once
    both try the same guarded UPDATE; the loser matches nothing (on PostgreSQL it waits for the
    winner's commit first), and its next INSERT meets the winner's fresh row: a duplicate.
    """
    settled: dict[Pair, StoredSignal] = {}
    for _ in range(_MAX_ROUNDS):
        # a fixed order keeps concurrent batches from locking keys in opposite orders (deadlock)
        ordered = sorted(pending)
        for signal_id, address, key in await tx.insert_keyed([pending[pair] for pair in ordered]):
            settled[(address, key)] = StoredSignal(signal_id, duplicate=False)
            pending.pop((address, key), None)
        if not pending:
            return settled
        for signal_id, address, key, received_at in await tx.existing(sorted(pending)):
            row = pending[(address, key)]
            age = (row.received_at - received_at).total_seconds()
            stale = row.dedupe_window is not None and age > row.dedupe_window
            if stale:
                await tx.rekey(signal_id, key, f"{key}:{signal_id}")
                continue  # stays pending: inserted (or met as a duplicate) in the next round
            settled[(address, key)] = StoredSignal(signal_id, duplicate=True)
            del pending[(address, key)]
        # a key that conflicted but is gone now (its row was re-keyed meanwhile) stays pending too
        if not pending:
            return settled
    raise RuntimeError(f"dedupe keys still contended after {_MAX_ROUNDS} rounds")


async def store_batch(rows: Sequence[NewSignal]) -> list[StoredSignal]:
    """Store `rows` in one transaction of their own, one result per row (`store_signal` batches
    concurrent callers into calls of this).

    Raises:
        sqlalchemy.exc.SQLAlchemyError, psycopg.Error, OSError: nothing was stored (rolled back).
    """
    results: list[StoredSignal | None] = [None] * len(rows)
    first_of: dict[Pair, int] = {}
    async with signal_sql.transaction() as tx:
        for index, row in enumerate(rows):
            if row.dedupe_key is None:
                # one by one: a multi-row RETURNING could not be matched back to keyless rows
                results[index] = StoredSignal(await tx.insert_one(row), duplicate=False)
            else:
                first_of.setdefault((row.user_address, row.dedupe_key), index)
        settled = await _settle_keys(tx, {pair: rows[i] for pair, i in first_of.items()}) if first_of else {}
    for index, row in enumerate(rows):
        if row.dedupe_key is not None:
            pair = (row.user_address, row.dedupe_key)
            outcome = settled[pair]
            # copies inside one batch: the first one speaks for the key, the others are its duplicates
            results[index] = (
                outcome if first_of[pair] == index else StoredSignal(outcome.signal_id, duplicate=True)
            )
    _count_stored(rows, results)  # type: ignore[arg-type]
    return results  # type: ignore[return-value]


_lookups: Batcher[str, WebhookOwner | None] = Batcher(_lookup_batch, name="webhook-lookup")
_writes: Batcher[NewSignal, StoredSignal] = Batcher(store_batch, name="signal-store")


async def lookup_webhook(webhook_uuid: str) -> WebhookOwner | None:
    """The owner of `webhook_uuid` with their current encrypted secret, or None when unknown.

    Raises:
        sqlalchemy.exc.SQLAlchemyError, psycopg.Error, OSError: the database could not be read.
    """
    return await _lookups.submit(webhook_uuid)


async def store_signal(row: NewSignal) -> StoredSignal:
    """Commit `row` (group commit with concurrent callers). Returns once the row is durable.

    Raises:
        sqlalchemy.exc.SQLAlchemyError, psycopg.Error, OSError: nothing was stored (rolled back).
    """
    return await _writes.submit(row)


@dataclass(frozen=True)
class SignalRecord:
    """One alert as the trader sees it. `payload` is the body as received, secrets masked."""

    id: int
    received_at: datetime
    status: str
    action: str | None
    market: str | None
    reason: str | None
    position_id: int | None
    payload: str
    content_type: str | None
    source_ip: str | None

    @property
    def sent(self) -> tuple[str | None, str | None]:
        """The (action, market) as the trader wrote them in the body; None where unreadable."""
        return sent_fields(self.payload)

    @property
    def explained(self) -> Explained:
        """The reason in plain words, its detail and its code."""
        return explain(self.reason, self.status)


@dataclass(frozen=True)
class SignalPage:
    """A page of alerts, newest first; pass `next_before` as `before` for the next (older) page."""

    items: list[SignalRecord]
    next_before: int | None


async def list_signals(address: str, *, limit: int = 50, before: int | None = None) -> SignalPage:
    """The alerts of the user `address`, newest first.

    Args:
        address: the user (checksum address); nobody else's rows are ever read.
        limit: page size, 1..MAX_PAGE.
        before: a signal id from a previous page: only older alerts are returned. An id that is
            not this user's yields an empty page.

    Raises:
        ValueError: `limit` out of range.
    """
    if not 1 <= limit <= MAX_PAGE:
        raise ValueError(f"limit must be between 1 and {MAX_PAGE}")
    s = _SIGNALS.c
    query = select(
        s.id,
        s.received_at,
        s.status,
        s.action,
        s.market,
        s.reason,
        s.position_id,
        s.raw_body,
        s.content_type,
        s.source_ip,
    ).where(s.user_address == address)
    if before is not None:
        anchor = select(s.received_at).where(s.id == before, s.user_address == address).scalar_subquery()
        query = query.where(or_(s.received_at < anchor, and_(s.received_at == anchor, s.id < before)))
    query = query.order_by(s.received_at.desc(), s.id.desc()).limit(limit + 1)
    async with get_engine().connect() as conn:
        rows = (await conn.execute(query)).all()
    items = [
        SignalRecord(
            id=r.id,
            received_at=r.received_at,
            status=r.status,
            action=r.action,
            market=r.market,
            reason=r.reason,
            position_id=r.position_id,
            payload=r.raw_body,
            content_type=r.content_type,
            source_ip=r.source_ip,
        )
        for r in rows[:limit]
    ]
    return SignalPage(items, items[-1].id if len(rows) > limit else None)
