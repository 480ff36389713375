"""Database engines and sessions, one async engine per URL per process."""

from __future__ import annotations

import asyncio
import weakref
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from sqlalchemy import event
from sqlalchemy.ext.asyncio import AsyncEngine, create_async_engine
from sqlmodel.ext.asyncio.session import AsyncSession

from trading_app.settings import get_settings

# Async pools are bound to the event loop that created them, so engines are kept per
# (url, loop): the app's loop and a test's or a script's loop never share connections.
_engines: dict[tuple[str, int], tuple[AsyncEngine, object]] = {}


def _sqlite_pragmas(dbapi_connection: object, _record: object) -> None:
    cursor = dbapi_connection.cursor()  # type: ignore[attr-defined]
    # WAL lets readers run beside the single writer; busy_timeout waits instead of failing
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA synchronous=FULL")
    cursor.execute("PRAGMA busy_timeout=5000")
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.close()


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
                                         max_overflow=settings.db_max_overflow, pool_pre_ping=True)
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


async def dispose_engines() -> None:
    """Close the pools of the running event loop (tests and shutdown)."""
    loop_id = id(asyncio.get_running_loop())
    for key in [k for k in _engines if k[1] == loop_id]:
        await _engines.pop(key)[0].dispose()
