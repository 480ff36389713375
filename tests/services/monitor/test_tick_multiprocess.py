"""Two real app processes (`reflex run --env prod --backend-only`, two workers each) monitor one
PostgreSQL database: 200 positions over 20 traders go through their take-profits and stop-losses,
and every fill is handled exactly once.

"Exactly once" is measured by the database itself: test-only triggers record every UPDATE that
writes a position as CLOSED and every UPDATE that writes an order row as CANCELED, so a second
close_books or a second cancel of the same order by another worker would show up as a second row.
"""

from __future__ import annotations

import asyncio
import os
import shutil
import signal
import socket
import subprocess
import sys
from collections import Counter
from collections.abc import Iterator
from decimal import Decimal
from pathlib import Path

import httpx
import psycopg
import pytest
from sqlmodel import col, select

from tests.conftest import ROOT
from tests.fakes.indexer import FakeIndexer, default_markets
from tests.fakes.telegram import FakeTelegram
from tests.services.engine_support import make_signal, make_user
from tests.services.engine_support import signal as signal_row
from trading_app.db.engine import session_scope
from trading_app.db.models import MonitorWorker, Notification, Order, Position
from trading_app.services.engine import executor
from trading_app.services.notify.notifier import get_notifier

pytestmark = pytest.mark.slow

USERS, MARKETS = 20, [f"M{i}-USD" for i in range(10)]

AUDIT = """
CREATE TABLE audit_closed (position_id int, old_status text, at timestamptz DEFAULT clock_timestamp());
CREATE TABLE audit_cancelled (order_id int, position_id int, role text,
                              at timestamptz DEFAULT clock_timestamp());
CREATE FUNCTION audit_closed() RETURNS trigger AS $$
BEGIN INSERT INTO audit_closed (position_id, old_status) VALUES (NEW.id, OLD.status); RETURN NEW; END $$
LANGUAGE plpgsql;
CREATE FUNCTION audit_cancelled() RETURNS trigger AS $$
BEGIN INSERT INTO audit_cancelled (order_id, position_id, role) VALUES (NEW.id, NEW.position_id, NEW.role);
RETURN NEW; END $$ LANGUAGE plpgsql;
CREATE TRIGGER positions_closed AFTER UPDATE ON positions FOR EACH ROW WHEN (NEW.status = 'CLOSED')
EXECUTE FUNCTION audit_closed();
CREATE TRIGGER orders_cancelled AFTER UPDATE ON orders FOR EACH ROW WHEN (NEW.status = 'CANCELED')
EXECUTE FUNCTION audit_cancelled();
"""


@pytest.fixture
def ten_markets(monkeypatch: pytest.MonkeyPatch) -> Iterator[FakeIndexer]:
    btc = default_markets()["BTC-USD"]
    markets = {m: {**btc, "ticker": m, "clobPairId": str(100 + i)} for i, m in enumerate(MARKETS)}
    with FakeIndexer(markets=markets) as fake:
        monkeypatch.setenv("PAPER_PRICE_SOURCE", fake.url)
        from tests.conftest import reset_app_caches

        reset_app_caches()
        yield fake


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class AppProcess:
    """`reflex run --env prod --backend-only` in a project directory of its own (its own .web)."""

    def __init__(self, tmp: Path, name: str) -> None:
        self.dir = tmp / name
        self.dir.mkdir()
        for entry in ("trading_app", "assets"):
            (self.dir / entry).symlink_to(ROOT / entry)
        shutil.copy(ROOT / "rxconfig.py", self.dir / "rxconfig.py")
        self.port = _free_port()
        self.log = self.dir / "app.log"
        env = {
            **os.environ,
            "MONITOR_INTERVAL_SECONDS": "0.5",
            "GRANIAN_WORKERS": "2",
            "REFLEX_USE_SYSTEM_BUN": "1",
            "REFLEX_TELEMETRY_ENABLED": "false",
            "PATH": f"{ROOT / '.tools/node_modules/.bin'}:{os.environ['PATH']}",
        }
        self.proc = subprocess.Popen(  # noqa: S603 - our own interpreter and arguments
            [
                sys.executable,
                "-m",
                "reflex",
                "run",
                "--env",
                "prod",
                "--backend-only",
                "--backend-port",
                str(self.port),
            ],
            cwd=self.dir,
            env=env,
            stdout=self.log.open("w"),
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )

    async def ready(self, within: float = 90) -> None:
        async with httpx.AsyncClient() as client:
            for _ in range(int(within * 4)):
                assert self.proc.poll() is None, self.log.read_text()[-3000:]
                try:
                    r = await client.get(f"http://127.0.0.1:{self.port}/health/ready", timeout=2)
                    if r.status_code == 200 and r.json()["components"]["scheduler"]["ticks"] > 0:
                        return
                except httpx.HTTPError:
                    pass
                await asyncio.sleep(0.25)
        raise AssertionError(f"app on :{self.port} not ready:\n{self.log.read_text()[-3000:]}")

    def stop(self) -> None:
        if self.proc.poll() is None:
            os.killpg(self.proc.pid, signal.SIGTERM)
            try:
                self.proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                os.killpg(self.proc.pid, signal.SIGKILL)
                self.proc.wait(timeout=10)


async def _open(user: str) -> None:
    for market in MARKETS:
        body = {"action": "buy", "market": market, "size": "0.01", "sl": "60000", "tp": "70000"}
        signal_id = await make_signal(user, body)
        outcome = await executor.execute_signal(signal_id)
        if outcome is None:
            # an app's sweep claimed it first (this loop was starved past the sweep's 5 s under
            # load): that worker executes it; the audit below still proves it happened once
            for _ in range(240):
                row = await signal_row(signal_id)
                if row.status not in ("ACCEPTED", "EXECUTING"):
                    break
                await asyncio.sleep(0.25)
            assert row.status == "EXECUTED", (row.status, row.reason)
            continue
        assert outcome.status.value == "EXECUTED", outcome.reason


async def _count(query: object) -> int:
    async with session_scope() as session:
        return len((await session.exec(query)).all())  # type: ignore[call-overload]


async def _until(check: object, within: float, what: str) -> None:
    for _ in range(int(within * 4)):
        if await check():  # type: ignore[operator]
            return
        await asyncio.sleep(0.25)
    raise AssertionError(f"timed out waiting for {what}")


async def test_two_app_processes_handle_every_fill_exactly_once(
    pg_url: str, ten_markets: FakeIndexer, fake_telegram: FakeTelegram, tmp_path: Path
) -> None:
    with psycopg.connect(pg_url.replace("postgresql+psycopg", "postgresql"), autocommit=True) as conn:
        conn.execute(AUDIT)  # type: ignore[arg-type]
    token = fake_telegram.add_bot(chats=list(range(1, USERS + 1)))
    users = [await make_user(600 + i, telegram_token=token, chat_id=str(i + 1)) for i in range(USERS)]
    apps = [AppProcess(tmp_path, "a"), AppProcess(tmp_path, "b")]
    try:
        await asyncio.gather(*(app.ready() for app in apps))
        # positions open while both apps already watch: the monitors meet the executor mid-way too
        await asyncio.gather(*(_open(u) for u in users))
        assert await _count(select(Position).where(col(Position.status) == "OPEN")) == USERS * len(MARKETS)
        workers = await _count(select(MonitorWorker))
        assert workers == 4, "two processes with two workers each run the monitor"

        for i, market in enumerate(MARKETS):  # even markets through the take-profit, odd through the stop
            ten_markets.set_price(market, Decimal("70500") if i % 2 == 0 else Decimal("59000"))
        await _until(lambda: _all_closed(len(users) * len(MARKETS)), 90, "every position to close")
        await _until(lambda: _closed_notes(len(users) * len(MARKETS)), 90, "every close notification")
        await asyncio.sleep(2)  # a few more ticks: nothing may happen twice afterwards either
    finally:
        for app in apps:
            app.stop()
    await get_notifier().drain(15)

    async with session_scope() as session:
        positions = (await session.exec(select(Position))).all()
        orders = (await session.exec(select(Order))).all()
        notes = (await session.exec(select(Notification).where(Notification.kind == "closed"))).all()
    assert Counter(p.close_reason for p in positions) == {"TAKE_PROFIT": 100, "STOP_LOSS": 100}
    with psycopg.connect(pg_url.replace("postgresql+psycopg", "postgresql")) as conn:
        closes = Counter(r[0] for r in conn.execute("SELECT position_id FROM audit_closed"))
        cancels = Counter(r[0] for r in conn.execute("SELECT order_id FROM audit_cancelled"))
    assert closes == {p.id: 1 for p in positions}, "one CLOSED books update per position"
    siblings = {o.id for o in orders if o.role in ("STOP_LOSS", "TAKE_PROFIT") and o.status == "CANCELED"}
    assert len(siblings) == 200 and set(cancels) == siblings
    assert max(cancels.values()) == 1, "no order was cancelled twice"
    assert len(notes) == 200 and all(n.status == "sent" for n in notes)
    per_chat = Counter(
        (m.chat_id, m.plain.split("\n")[0]) for m in fake_telegram.messages if "Closed" in m.plain
    )
    assert sum(per_chat.values()) == 200 and max(per_chat.values()) == 1
    logs = "".join(app.log.read_text() for app in apps)
    assert "Traceback" not in logs, logs[-3000:]


async def _all_closed(n: int) -> bool:
    return await _count(select(Position).where(col(Position.status) == "CLOSED")) == n


async def _closed_notes(n: int) -> bool:
    return await _count(select(Notification).where(Notification.kind == "closed")) >= n
