"""Pooled PostgreSQL connections: a backend the server terminated never reaches a caller."""

from __future__ import annotations

import asyncio

import psycopg
from sqlalchemy import text

from tests.conftest import PG_ADMIN_DSN
from trading_app.db.engine import get_engine, session_scope


async def _backend_pid() -> int:
    async with session_scope() as session:
        return int((await session.exec(text("SELECT pg_backend_pid()"))).scalar_one())  # type: ignore[call-overload]


async def _terminate(pids: set[int]) -> None:
    with psycopg.connect(PG_ADMIN_DSN, autocommit=True) as admin:
        for pid in pids:
            admin.execute("SELECT pg_terminate_backend(%s, 5000)", (pid,))
    # the termination notice reaches the client socket asynchronously
    await asyncio.sleep(0.2)


async def test_terminated_pooled_connections_are_replaced_on_checkout(pg_url: str) -> None:
    """What a PostgreSQL restart does to a pool: every idle connection is gone at once."""
    async def hold_two() -> set[int]:
        # two connections checked out at the same time, so the pool keeps two
        first, second = session_scope(), session_scope()
        a, b = await first.__aenter__(), await second.__aenter__()
        pids = {int((await s.exec(text("SELECT pg_backend_pid()"))).scalar_one()) for s in (a, b)}  # type: ignore[call-overload]
        await second.__aexit__(None, None, None)
        await first.__aexit__(None, None, None)
        return pids

    old = await hold_two()
    assert get_engine().pool.checkedin() == 2
    await _terminate(old)
    # no pre-ping round trip: the dead connections are noticed and replaced without an error
    for _ in range(3):
        assert await _backend_pid() not in old


async def test_a_live_pooled_connection_is_reused(pg_url: str) -> None:
    """The check costs no reconnect when nothing happened: the same backend serves again."""
    first = await _backend_pid()
    assert await _backend_pid() == first


async def test_a_connection_on_a_high_descriptor_is_reused(pg_url: str) -> None:
    """A worker with many sockets open gets descriptors above 1024 (select()'s limit): the check
    must still see a live connection as live, not replace it at every checkout."""
    import os

    spare = [os.dup(0) for _ in range(1100)]  # the next connection's socket lands above them
    try:
        first = await _backend_pid()
        assert await _backend_pid() == first
    finally:
        for fd in spare:
            os.close(fd)
