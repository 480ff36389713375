"""Kept PostgreSQL writer connections: a connection pinged after idling still commits."""

from __future__ import annotations

import psycopg

from trading_app.services.intake import signal_sql


async def test_a_writer_pinged_after_idling_still_commits(pg_url: str) -> None:
    writers = signal_sql.PostgresConnections(autocommit=False)
    async with writers.connection():
        pass  # one kept, idle connection
    writers.PING_AFTER = 0.0  # the next take pings it, as after a quiet spell in production
    async with writers.connection() as conn, conn.transaction():
        await conn.execute("CREATE TABLE ping_probe (x int)")
        await conn.execute("INSERT INTO ping_probe VALUES (1)")
    with psycopg.connect(pg_url.replace("postgresql+psycopg://", "postgresql://")) as other:
        assert other.execute("SELECT x FROM ping_probe").fetchall() == [(1,)]
