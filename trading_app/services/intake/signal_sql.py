"""The inbox's SQL, per database. `signal_store` holds the logic; this module only talks SQL.

PostgreSQL is the hot path of the webhook and is spoken to with psycopg directly, on
connections kept between batches (`PostgresConnections`): no pool checkout, ping or reset per
batch, constant SQL texts that psycopg prepares once, and the rows of a batch passed as one JSON
parameter. Through SQLAlchemy the same work cost about twice the CPU per alert, the largest
share of the accept path. SQLite (one machine, one writer) goes through the app's SQLAlchemy
engine. Both implement `Transaction` and `lookup`.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import operator
import time
from collections.abc import AsyncIterator, Sequence
from datetime import datetime
from typing import Any, Protocol

import psycopg
from sqlalchemy import String, Table, bindparam, func, select, tuple_, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.engine import make_url
from sqlalchemy.ext.asyncio import AsyncConnection
from sqlalchemy.sql.schema import ScalarElementColumnDefault

from trading_app.db.engine import get_engine, socket_readable
from trading_app.db.models import Signal, TradingAccount, User
from trading_app.domain.clock import utcnow
from trading_app.settings import get_settings

# SQLModel declares no `__table__` for type checkers; it is always there at run time
_SIGNALS: Table = Signal.__table__  # type: ignore[attr-defined]
_USERS: Table = User.__table__  # type: ignore[attr-defined]
_ACCOUNTS: Table = TradingAccount.__table__  # type: ignore[attr-defined]
Inserted = tuple[int, str, str]  # id, user_address, dedupe_key
Existing = tuple[int, str, str, datetime]  # id, user_address, dedupe_key, received_at
# webhook_uuid, address, secret ciphertext, allowlist, recent, network (paper without an account row),
# paused (trading paused on the account; false without an account row)
Owner = tuple[str, str, str, bool, int, str, bool]
COLUMNS = (
    "user_address", "received_at", "raw_body", "content_type", "source_ip", "parsed", "action", "market",
    "dedupe_key", "status", "reason", "paper",
)
# stamped by the transaction, not the row: when the write of its batch began (the alert's "stored")
STAMP = "stored_at"


class Transaction(Protocol):
    """What `signal_store` does inside one write transaction. Rows have the attributes in COLUMNS."""

    async def insert_keyed(self, rows: Sequence[Any]) -> list[Inserted]:
        """INSERT ... ON CONFLICT (user_address, dedupe_key) DO NOTHING, in the order given."""

    async def insert_one(self, row: Any) -> int:
        """A plain INSERT; the new id."""

    async def existing(self, pairs: Sequence[tuple[str, str]]) -> list[Existing]:
        """The rows holding these (user_address, dedupe_key) pairs."""

    async def rekey(self, signal_id: int, key: str, new_key: str) -> int:
        """Move row `signal_id` from `key` to `new_key` if it still holds `key`; rows changed."""


# -- PostgreSQL ----------------------------------------------------------------------

# The count stops at %(most)s: each counted row is a heap visit, and only "at the cap or not"
# matters to the caller
_PG_LOOKUP = """
SELECT u.webhook_uuid, u.address, u.webhook_secret_enc, u.webhook_ip_allowlist,
       CASE WHEN u.webhook_uuid = ANY(%(count)s::varchar[]) THEN
       (SELECT count(*) FROM (SELECT 1 FROM signals s
        WHERE s.user_address = u.address AND s.received_at > %(since)s AND s.dedupe_key IS NOT NULL
        LIMIT %(most)s) AS recent) ELSE -1 END,
       COALESCE(a.network, 'paper'), a.paused_at IS NOT NULL
FROM users u LEFT JOIN trading_accounts a ON a.address = u.address
WHERE u.webhook_uuid = ANY(%(uuids)s::varchar[])
"""


def _pg_inserts() -> tuple[str, str]:
    """The two INSERT texts, derived from the `Signal` model so a column added there is never
    silently missing here: the inbox's columns come from the row, `updated_at` is the receive
    time, `stored_at` the transaction's stamp, every other column takes its model default (or
    NULL). A NOT NULL column without a scalar default stops the import: the inbox would have to
    learn to fill it."""
    names, from_json, from_params = [], [], []
    for column in _SIGNALS.columns:
        if column.name == "id":
            continue
        names.append(column.name)
        if column.name == STAMP:
            from_json.append(f"%({STAMP})s")
            from_params.append(f"%({STAMP})s")
            continue
        if column.name in COLUMNS or column.name == "updated_at":
            source = "received_at" if column.name == "updated_at" else column.name
            from_json.append(f"u.{source}")
            from_params.append(f"%({source})s")
            continue
        scalar = column.default if isinstance(column.default, ScalarElementColumnDefault) else None
        default = scalar.arg if scalar is not None else None
        if default is None and not column.nullable:
            raise RuntimeError(
                f"signals.{column.name} is NOT NULL without a scalar default: the inbox must set it"
            )
        if not isinstance(default, bool | int | None):
            raise RuntimeError(f"signals.{column.name}: default {default!r} has no SQL literal here")
        literal = "NULL" if default is None else str(default).lower()  # true / false / digits
        from_json.append(literal)
        from_params.append(literal)
    record = ", ".join(f"{c} {_SIGNALS.c[c].type.compile(dialect=postgresql.dialect())}" for c in COLUMNS)
    # S608 is silenced below: the texts are built once, at import, from the model's own columns
    keyed = (
        f"INSERT INTO signals ({', '.join(names)}) SELECT {', '.join(from_json)} "  # noqa: S608
        f"FROM json_to_recordset(%(rows)s::json) AS u({record}) "
        "ON CONFLICT (user_address, dedupe_key) DO NOTHING RETURNING id, user_address, dedupe_key"
    )
    one = f"INSERT INTO signals ({', '.join(names)}) VALUES ({', '.join(from_params)}) RETURNING id"  # noqa: S608
    return keyed, one


_PG_KEYED_INSERT, _PG_INSERT_ONE = _pg_inserts()
_PG_EXISTING = """
SELECT id, user_address, dedupe_key, received_at FROM signals
WHERE (user_address, dedupe_key) IN (SELECT * FROM unnest(%(users)s::varchar[], %(keys)s::varchar[]))
ORDER BY id
"""
_PG_REKEY = "UPDATE signals SET dedupe_key = %(new_key)s WHERE id = %(id)s AND dedupe_key = %(key)s"


_VALUES = operator.attrgetter(*COLUMNS)


def _rows_json(rows: Sequence[Any]) -> str:
    # json.dumps is C; ensure_ascii keeps any odd character an escape PostgreSQL decodes
    records = []
    for row in rows:
        record = dict(zip(COLUMNS, _VALUES(row), strict=True))
        record["received_at"] = record["received_at"].isoformat()
        records.append(record)
    return json.dumps(records)


def _readable(conn: psycopg.AsyncConnection[Any]) -> bool:
    """An idle connection has nothing to read unless the server said something, usually that it
    is closing it (a restart, an administrator): a 2 µs check instead of a round trip."""
    try:
        return socket_readable(conn.pgconn.socket)
    except (OSError, ValueError, psycopg.Error):
        return True


class PostgresConnections:
    """psycopg connections kept open between batches: a connection is taken for one flush and put
    back if it is healthy and idle. A batcher flushes one batch at a time, so in steady state it
    reuses a single connection; concurrent callers of `store_batch` get their own. Connections of
    another event loop or database URL are never reused. One that sat idle for PING_AFTER seconds,
    or that the server wrote to while idle, is pinged first (the database may have restarted)."""

    PING_AFTER = 10.0

    def __init__(self, autocommit: bool, keep: int = 2) -> None:
        self._autocommit = autocommit
        self._keep = keep
        self._idle: list[tuple[psycopg.AsyncConnection[Any], float]] = []  # (connection, idle since)
        self._key: tuple[str, int] | None = None

    async def _take(self, url: str) -> psycopg.AsyncConnection[Any]:
        while self._idle:
            conn, since = self._idle.pop()
            if time.monotonic() - since < self.PING_AFTER and not _readable(conn):
                return conn
            try:
                await conn.execute("SELECT 1")
                if not self._autocommit:
                    # the ping opened a transaction: left open, the caller's `transaction()` would
                    # become a savepoint inside it and its commit would never reach the database
                    await conn.rollback()
                return conn
            except psycopg.Error:
                with contextlib.suppress(Exception):
                    await conn.close()
        conninfo = make_url(url).set(drivername="postgresql").render_as_string(hide_password=False)
        return await psycopg.AsyncConnection.connect(conninfo, autocommit=self._autocommit, connect_timeout=3)

    @contextlib.asynccontextmanager
    async def connection(self) -> AsyncIterator[psycopg.AsyncConnection[Any]]:
        url = get_settings().database_url
        key = (url, id(asyncio.get_running_loop()))
        if key != self._key:
            self._idle, self._key = [], key  # the old ones belong to a dead loop or another database
        conn = await self._take(url)
        try:
            yield conn
        finally:
            # rolled back or committed and idle: reusable; cut off or cancelled mid-way: closed
            reusable = not conn.broken and conn.info.transaction_status == psycopg.pq.TransactionStatus.IDLE
            if reusable and self._key == key and len(self._idle) < self._keep:
                self._idle.append((conn, time.monotonic()))
            else:
                with contextlib.suppress(Exception):
                    await conn.close()


class _PgTransaction:
    def __init__(self, conn: psycopg.AsyncConnection[Any]) -> None:
        self._conn = conn
        self._stamp = utcnow()

    async def insert_keyed(self, rows: Sequence[Any]) -> list[Inserted]:
        params = {"rows": _rows_json(rows), STAMP: self._stamp}
        cursor = await self._conn.execute(_PG_KEYED_INSERT, params)
        return [tuple(r) for r in await cursor.fetchall()]

    async def insert_one(self, row: Any) -> int:
        params = {c: getattr(row, c) for c in COLUMNS}
        params[STAMP] = self._stamp
        cursor = await self._conn.execute(_PG_INSERT_ONE, params)
        return (await cursor.fetchone())[0]  # type: ignore[index]

    async def existing(self, pairs: Sequence[tuple[str, str]]) -> list[Existing]:
        params = {"users": [p[0] for p in pairs], "keys": [p[1] for p in pairs]}
        cursor = await self._conn.execute(_PG_EXISTING, params)
        return [tuple(r) for r in await cursor.fetchall()]

    async def rekey(self, signal_id: int, key: str, new_key: str) -> int:
        cursor = await self._conn.execute(_PG_REKEY, {"id": signal_id, "key": key, "new_key": new_key})
        return cursor.rowcount


_pg_readers = PostgresConnections(autocommit=True)
_pg_writers = PostgresConnections(autocommit=False)


# -- SQLite --------------------------------------------------------------------------

_SQLITE_KEYED_INSERT = (
    sqlite.insert(_SIGNALS)
    .on_conflict_do_nothing(index_elements=[_SIGNALS.c.user_address, _SIGNALS.c.dedupe_key])
    .returning(_SIGNALS.c.id, _SIGNALS.c.user_address, _SIGNALS.c.dedupe_key)
)
_SQLITE_LOOKUP = select(
    _USERS.c.webhook_uuid, _USERS.c.address, _USERS.c.webhook_secret_enc, _USERS.c.webhook_ip_allowlist,
    select(func.count()).select_from(_SIGNALS).where(
        _SIGNALS.c.user_address == _USERS.c.address,
        _SIGNALS.c.received_at > bindparam("since", type_=_SIGNALS.c.received_at.type),
        _SIGNALS.c.dedupe_key.is_not(None),
    ).scalar_subquery(),
    func.coalesce(_ACCOUNTS.c.network, "paper"),
    _ACCOUNTS.c.paused_at.is_not(None),
).select_from(_USERS.outerjoin(_ACCOUNTS, _ACCOUNTS.c.address == _USERS.c.address)).where(
    _USERS.c.webhook_uuid.in_(bindparam("uuids", expanding=True, type_=String))
)


def _values(row: Any, stamp: datetime) -> dict[str, object]:
    # the other columns take the model's defaults (SQLAlchemy fills them in)
    values: dict[str, object] = {c: getattr(row, c) for c in COLUMNS}
    values["updated_at"] = row.received_at
    values[STAMP] = stamp
    return values


class _SqliteTransaction:
    def __init__(self, conn: AsyncConnection) -> None:
        self._conn = conn
        self._stamp = utcnow()

    async def insert_keyed(self, rows: Sequence[Any]) -> list[Inserted]:
        # an executemany that SQLAlchemy sends as one multi-row INSERT ("insertmanyvalues")
        values = [_values(row, self._stamp) for row in rows]
        result = await self._conn.execute(_SQLITE_KEYED_INSERT, values)
        return [tuple(r) for r in result.all()]

    async def insert_one(self, row: Any) -> int:
        insert = sqlite.insert(_SIGNALS).values(_values(row, self._stamp)).returning(_SIGNALS.c.id)
        result = await self._conn.execute(insert)
        return result.scalar_one()

    async def existing(self, pairs: Sequence[tuple[str, str]]) -> list[Existing]:
        result = await self._conn.execute(
            select(_SIGNALS.c.id, _SIGNALS.c.user_address, _SIGNALS.c.dedupe_key, _SIGNALS.c.received_at)
            .where(tuple_(_SIGNALS.c.user_address, _SIGNALS.c.dedupe_key).in_(list(pairs)))
            .order_by(_SIGNALS.c.id)
        )
        return [tuple(r) for r in result.all()]

    async def rekey(self, signal_id: int, key: str, new_key: str) -> int:
        result = await self._conn.execute(
            update(_SIGNALS)
            .where(_SIGNALS.c.id == signal_id, _SIGNALS.c.dedupe_key == key)
            .values(dedupe_key=new_key)
        )
        return result.rowcount


# -- entry points --------------------------------------------------------------------


@contextlib.asynccontextmanager
async def transaction() -> AsyncIterator[Transaction]:
    """One write transaction: committed when the block ends, rolled back on any error."""
    if get_settings().is_sqlite:
        async with get_engine().begin() as conn:
            yield _SqliteTransaction(conn)
        return
    async with _pg_writers.connection() as pg, pg.transaction():
        yield _PgTransaction(pg)


async def lookup(uuids: Sequence[str], since: datetime, most: int, count: Sequence[str] | None = None
                 ) -> list[Owner]:
    """(uuid, address, secret ciphertext, allowlist flag, alerts since `since`, network, paused) of
    known webhooks. The alerts are counted up to `most`, on PostgreSQL only for the uuids in `count`
    (default: all; -1 for the others). The network is the owner's trading account's ("paper"
    before the account row exists); paused is whether the account has trading paused (false
    before the account row exists)."""
    params = {"uuids": list(uuids), "since": since}
    if get_settings().is_sqlite:
        async with get_engine().connect() as conn:
            rows = (await conn.execute(_SQLITE_LOOKUP, params)).all()
        wanted = None if count is None else set(count)
        return [(*r[:4], r[4] if wanted is None or r[0] in wanted else -1, r[5], bool(r[6])) for r in rows]
    async with _pg_readers.connection() as conn:
        counted = list(uuids) if count is None else list(count)
        cursor = await conn.execute(_PG_LOOKUP, {**params, "most": max(most, 0), "count": counted})
        return [tuple(r) for r in await cursor.fetchall()]
