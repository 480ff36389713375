"""Database engines and sessions, one async engine per URL per process."""

from __future__ import annotations

import asyncio
import select
import weakref
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from typing import Any

from sqlalchemy import event, exc
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine, create_async_engine
from sqlmodel.ext.asyncio.session import AsyncSession

from trading_app.settings import get_settings

# Async pools are bound to the event loop that created them, so engines are kept per
# (url, loop): the app's loop and a test's or a script's loop never share connections.
# The second item answers the engine's loop while that loop lives (a weak reference, or a stand-in
# that answers None for engines made outside any loop).
_engines: dict[tuple[str, int], tuple[AsyncEngine, Callable[[], asyncio.AbstractEventLoop | None]]] = {}


def _sqlite_pragmas(dbapi_connection: object, _record: object) -> None:
    cursor = dbapi_connection.cursor()  # type: ignore[attr-defined]
    # WAL lets readers run beside the single writer; busy_timeout waits instead of failing
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA synchronous=FULL")
    cursor.execute("PRAGMA busy_timeout=5000")
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.close()


# A pooled connection older than this is replaced at its next checkout (bounds how long a
# connection a middlebox dropped silently can sit in the pool).
POOL_RECYCLE_SECONDS = 1800


def _drop_dead_connection(dbapi_connection: object, _record: object, _proxy: object) -> None:
    """Checkout check that costs no round trip (unlike `pool_pre_ping`'s SELECT 1 per checkout).

    An idle pooled connection has nothing to read. When PostgreSQL restarts or terminates a
    backend it sends an error and closes the socket, so the socket turns readable (or the
    driver already knows it is closed). Raising `InvalidatePoolError` makes the pool
    replace this connection, and every other one opened before now, before the caller
    sees it: trading continues on fresh connections after a database restart.
    """
    # psycopg's connection under SQLAlchemy's async adapter (only PostgreSQL engines listen here);
    # getattr's default makes it `Any | object`, and it is read by duck typing below
    raw: Any = getattr(dbapi_connection, "_connection", dbapi_connection)
    if getattr(raw, "closed", False) or getattr(raw, "broken", False):
        raise exc.InvalidatePoolError("connection closed while pooled")
    try:
        readable = socket_readable(raw.pgconn.socket)
    except Exception as e:  # noqa: BLE001 - a socket we cannot even poll is not worth keeping
        raise exc.InvalidatePoolError(f"pooled connection unusable: {type(e).__name__}") from e
    if readable:  # a termination notice or EOF (a harmless notice costs only a reconnect)
        raise exc.InvalidatePoolError("server spoke to an idle pooled connection (restart or termination)")


def socket_readable(fd: int) -> bool:
    """Whether an idle connection's socket has something to read (the server spoke: usually a
    restart or a termination notice), without waiting. poll, not select: select() refuses
    descriptors >= 1024, which a busy worker reaches."""
    poller = select.poll()
    poller.register(fd, select.POLLIN)
    return bool(poller.poll(0))


def get_engine(url: str | None = None) -> AsyncEngine:
    """Return the async engine for `url` (default: the configured database)."""
    url = url or get_settings().async_database_url
    try:
        loop: asyncio.AbstractEventLoop | None = asyncio.get_running_loop()
    except RuntimeError:
        loop = None
    loop_id = id(loop)
    cached = _engines.get((url, loop_id))
    # ids of dead loops get reused: only trust an entry whose loop is this very loop
    engine = cached[0] if cached is not None and cached[1]() is loop else None
    if engine is None:
        if url.startswith("sqlite"):
            engine = create_async_engine(url, connect_args={"timeout": 30})
            event.listen(engine.sync_engine, "connect", _sqlite_pragmas)
        else:
            settings = get_settings()
            engine = create_async_engine(url, pool_size=settings.db_pool_size,
                                         max_overflow=settings.db_max_overflow,
                                         pool_recycle=POOL_RECYCLE_SECONDS)
            event.listen(engine.sync_engine.pool, "checkout", _drop_dead_connection)
        _engines[(url, loop_id)] = (engine, weakref.ref(loop) if loop is not None else (lambda: None))
    return engine


@asynccontextmanager
async def session_scope(url: str | None = None) -> AsyncIterator[AsyncSession]:
    """An async session that commits on success and rolls back on error."""
    async with AsyncSession(get_engine(url), expire_on_commit=False) as session:
        try:
            yield session
            await session.commit()
        except BaseException:
            await session.rollback()
            raise


@asynccontextmanager
async def autocommit_scope(url: str | None = None) -> AsyncIterator[AsyncSession]:
    """A session whose every statement commits on its own: no BEGIN and COMMIT round trips.

    Only for work whose statements each stand alone: a conditional UPDATE that is the whole
    change, or reads that need no common snapshot. Several writes that must land together
    belong in `session_scope`.
    """
    async with autocommit_connection(url) as connection:
        async with AsyncSession(connection, expire_on_commit=False) as session:
            yield session


@asynccontextmanager
async def autocommit_connection(url: str | None = None) -> AsyncIterator[AsyncConnection]:
    """`autocommit_scope` without the session: a Core statement that stands alone, with no ORM
    object to load (the cheapest round trip: no session, no BEGIN/COMMIT)."""
    async with get_engine(url).connect() as connection:
        yield await connection.execution_options(isolation_level="AUTOCOMMIT")


async def dispose_engines() -> None:
    """Close the pools of the running event loop (tests and shutdown)."""
    loop_id = id(asyncio.get_running_loop())
    for key in [k for k in _engines if k[1] == loop_id]:
        await _engines.pop(key)[0].dispose()
