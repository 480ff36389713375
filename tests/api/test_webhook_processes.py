"""The webhook across processes and connections: copies racing on two server processes on one
PostgreSQL store one row; the kept database connections survive a server-side close."""

from __future__ import annotations

import asyncio
import contextlib
import os
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from datetime import timedelta

import httpx
import pytest

from tests.api.webhook_support import TV_IP, client, execute_sql, make_hook, signal_rows, wrapped_app
from tests.conftest import PG_ADMIN_DSN, ROOT
from trading_app.domain.clock import utcnow
from trading_app.settings import get_settings

PG_ADMIN_URL = PG_ADMIN_DSN.replace("postgresql://", "postgresql+psycopg://", 1)


@contextlib.contextmanager
def api_servers(count: int) -> Iterator[list[str]]:
    """`count` separate uvicorn processes serving the real API on the test's database."""
    ports, procs = [], []
    for _ in range(count):
        with socket.socket() as s:
            s.bind(("127.0.0.1", 0))
            ports.append(s.getsockname()[1])
    try:
        for port in ports:
            procs.append(
                subprocess.Popen(
                    [
                        sys.executable,
                        "-m",
                        "uvicorn",
                        "--factory",
                        "trading_app.api.app:build_api",
                        "--host",
                        "127.0.0.1",
                        "--port",
                        str(port),
                        "--log-level",
                        "warning",
                    ],
                    cwd=ROOT,
                    env=dict(os.environ),
                    stdout=subprocess.DEVNULL,
                    stderr=subprocess.PIPE,
                )
            )
        urls = [f"http://127.0.0.1:{port}" for port in ports]
        deadline = time.monotonic() + 60
        for url, proc in zip(urls, procs, strict=True):
            while True:
                assert proc.poll() is None, proc.stderr.read().decode() if proc.stderr else "server died"
                try:
                    if httpx.get(url + "/health/live", timeout=1).status_code == 200:
                        break
                except httpx.HTTPError:
                    pass
                assert time.monotonic() < deadline, "server did not start"
                time.sleep(0.1)
        yield urls
    finally:
        for proc in procs:
            proc.terminate()
        for proc in procs:
            proc.wait(timeout=10)


@pytest.mark.slow
async def test_copies_racing_on_two_server_processes_store_one_row(pg_url: str) -> None:
    hook = await make_hook()
    by_id, by_body = hook.text(alert_id="cross-1"), hook.text(alert_id=None)
    with api_servers(2) as urls:
        async with httpx.AsyncClient(timeout=30) as c:

            async def burst(content: str) -> list[httpx.Response]:
                return await asyncio.gather(*(c.post(url + hook.path, content=content) for url in urls * 10))

            for content in (by_id, by_body):
                answers = await burst(content)
                assert sorted(r.status_code for r in answers) == [200] * 19 + [202]
                assert len({r.json()["signal_id"] for r in answers}) == 1
            # the body window has passed: every process wants to re-key the old row, one succeeds
            window = get_settings().webhook_dedupe_window_seconds
            execute_sql(
                pg_url, "UPDATE signals SET received_at = :t", t=utcnow() - timedelta(seconds=window + 5)
            )
            answers = await burst(by_body)
            assert sorted(r.status_code for r in answers) == [200] * 19 + [202]
            fresh = {r.json()["signal_id"] for r in answers}
    rows = signal_rows(pg_url)
    assert len(rows) == 3 and {row["status"] for row in rows} == {"ACCEPTED"}
    assert fresh == {rows[2]["id"]} and rows[1]["dedupe_key"] == f"{rows[2]['dedupe_key']}:{rows[1]['id']}"


async def test_kept_connections_survive_a_database_restart(pg_url: str) -> None:
    hook = await make_hook()
    app = wrapped_app()
    async with client(app, ip=TV_IP) as c:
        assert (await c.post(hook.path, content=hook.text())).status_code == 202  # connections are kept now
        database = pg_url.rsplit("/", 1)[1]
        execute_sql(
            PG_ADMIN_URL,
            "SELECT pg_terminate_backend(pid, 5000) FROM pg_stat_activity "
            "WHERE datname = :db AND pid <> pg_backend_pid()",
            db=database,
        )
        content = hook.text(alert_id="after-restart")
        answers = [await c.post(hook.path, content=content) for _ in range(3)]  # TradingView resends on 5xx
    # the kept connections notice the server closed them and reconnect: no failed request at all
    assert [r.status_code for r in answers] == [202, 200, 200]
    assert {r.json()["signal_id"] for r in answers} == {answers[0].json()["signal_id"]}
    assert [row["dedupe_key"] for row in signal_rows(pg_url)][1:] == ["id:after-restart"]
