"""Restarts of the real app process: an accepted alert executes exactly once, whenever the process died.

One app (one PostgreSQL database, one trader per case) lives through four starts:

1. an alert accepted while no process runs (stored by `services.intake.inbox.receive_alert`, exactly as the
   webhook stores it) is executed by the first start's sweep;
2. the process is SIGKILLed the moment the alert's 202 arrives (the realistic race: the execution
   after the response has rarely begun) and the next start executes the alert;
3. the process is SIGKILLed after the paper venue filled the entry but before the app recorded it
   (held there deterministically by a test-only trigger); the next start takes over the stale claim
   and follows the same order: nothing reaches the venue twice;
4. one more clean restart (start-up sweep, monitor ticks) changes nothing for any of them.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable
from datetime import timedelta
from typing import Any

import httpx
import psycopg
import pytest
from sqlalchemy import update
from sqlmodel import col

from tests.e2e_process.app_process import APP_DB_NAME
from tests.e2e_process.conftest import Running
from tests.e2e_process.support import (
    LONG_BTC,
    LONG_ETH,
    D,
    Trader,
    books,
    clean_log,
    executed_once,
    finished,
    new_trader,
    orders_of,
    paper_orders_of,
    post,
    signals_of,
    until,
)
from trading_app.db.engine import session_scope
from trading_app.db.models import Signal
from trading_app.domain.clock import utcnow
from trading_app.services.engine.executor import STALE_CLAIM
from trading_app.services.intake.inbox import IncomingAlert, Verdict, receive_alert

pytestmark = pytest.mark.slow
log = logging.getLogger(__name__)

EXECUTES_WITHIN = 10.0  # seconds after a start for a pending signal to finish

# Test-only: the app's first UPDATE of this trader's pending entry (right after the venue answered)
# waits in the database, so the process can be killed in exactly that window.
HOLD_ENTRY_RECORD = """
CREATE FUNCTION hold_entry_record() RETURNS trigger AS $$
BEGIN PERFORM pg_sleep(300); RETURN NEW; END $$ LANGUAGE plpgsql;
CREATE TRIGGER hold_entry_record BEFORE UPDATE ON orders FOR EACH ROW
WHEN (OLD.role = 'ENTRY' AND OLD.status = 'PENDING' AND OLD.user_address = '{address}')
EXECUTE FUNCTION hold_entry_record();
"""
RELEASE_ENTRY_RECORD = "DROP TRIGGER hold_entry_record ON orders; DROP FUNCTION hold_entry_record();"
HELD = "SELECT pid FROM pg_stat_activity WHERE datname = current_database() AND wait_event = 'PgSleep'"
# Every backend of the dead app, not only the held one: a statement the app had sent before it died
# (the monitor's autocommit UPDATE of the same entry, queued behind the held row lock) would otherwise
# run, and commit, once the hold ends. PostgreSQL does not notice a dead client until it writes to it.
END_HELD = (
    "SELECT pg_terminate_backend(pid) FROM pg_stat_activity "  # noqa: S608 - constant text
    f"WHERE datname = current_database() AND application_name = '{APP_DB_NAME}'"
)


def _sql(database_url: str, sql: str) -> list[tuple[Any, ...]]:
    with psycopg.connect(database_url.replace("postgresql+psycopg", "postgresql"), autocommit=True) as conn:
        cursor = conn.execute(sql)  # type: ignore[arg-type]
        return cursor.fetchall() if cursor.description else []


async def _signal(signal_id: int) -> Signal:
    async with session_scope() as session:
        row = await session.get(Signal, signal_id)
    assert row is not None
    return row


async def _age_claim(signal_id: int) -> None:
    """A dead worker's claim is taken over once it is STALE_CLAIM old: age it rather than wait."""
    aged = utcnow() - STALE_CLAIM - timedelta(seconds=1)
    async with session_scope() as session:
        query = update(Signal).where(col(Signal.id) == signal_id).values(claimed_at=aged)
        await session.exec(query)  # type: ignore[call-overload]


def _restart(rig: Running, what: str) -> None:
    began = time.monotonic()
    rig.process.start().wait_ready()
    log.info("%s: ready in %.1fs", what, time.monotonic() - began)


async def _accepted_while_stopped(trader: Trader) -> int:
    receipt = await receive_alert(IncomingAlert(
        webhook_uuid=trader.webhook_uuid, body=trader.text(LONG_BTC) + b"\n", received_at=utcnow(),
        source_ip="127.0.0.1", content_type="text/plain"))
    assert receipt.outcome is Verdict.ACCEPTED and receipt.signal_id is not None
    assert [(s.id, s.status) for s in await signals_of(trader.address)] == [(receipt.signal_id, "ACCEPTED")]
    return receipt.signal_id


async def _killed_at_the_202(rig: Running, trader: Trader, answers: list[httpx.Response]) -> Signal:
    async with httpx.AsyncClient(timeout=10) as client:
        r = await post(client, answers, trader.url, trader.text(LONG_ETH))
        rig.process.kill()  # at once: the execution that follows the response races this
    assert r.status_code == 202 and r.json()["status"] == "accepted", r.text
    at_kill = await _signal(r.json()["signal_id"])
    log.info("killed at the 202: the signal was %s (attempts %s)", at_kill.status, at_kill.attempts)
    if at_kill.status == "EXECUTING":  # the kill landed mid-execution
        await _age_claim(r.json()["signal_id"])
    return at_kill


async def _killed_between_fill_and_record(rig: Running, trader: Trader, answers: list[httpx.Response]) -> int:
    _sql(rig.database_url, HOLD_ENTRY_RECORD.format(address=trader.address))
    async with httpx.AsyncClient(timeout=10) as client:
        r = await post(client, answers, trader.url, trader.text(LONG_BTC))
    assert r.status_code == 202, r.text
    signal_id: int = r.json()["signal_id"]

    async def held() -> list[tuple[Any, ...]]:
        return _sql(rig.database_url, HELD)

    await until(held, EXECUTES_WITHIN, "the app to record the venue's answer")
    rig.process.kill()
    # the dead app's transaction would sleep on: end it (its work rolls back) and lift the hold
    assert _sql(rig.database_url, END_HELD), "the app's connections carry its application_name"
    _sql(rig.database_url, RELEASE_ENTRY_RECORD)
    # the window: the venue filled the entry, our books do not know it yet
    [entry] = await orders_of(trader.address)
    assert (entry.role, entry.status) == ("ENTRY", "PENDING")
    [sent] = await paper_orders_of(trader.address)
    assert (sent.client_id, sent.status, sent.filled) == (entry.client_id, "FILLED", D(LONG_BTC["size"]))
    assert (await _signal(signal_id)).status == "EXECUTING"
    await _age_claim(signal_id)
    return signal_id


async def test_every_accepted_alert_executes_exactly_once_across_crashes_and_restarts(
    app_factory: Callable[[], Running], answers: list[httpx.Response]
) -> None:
    rig = app_factory()
    stopped, raced, held = await new_trader(), await new_trader(), await new_trader()

    first = await _accepted_while_stopped(stopped)
    _restart(rig, "first start")
    await until(lambda: finished(first), EXECUTES_WITHIN, "the start-up sweep")
    await executed_once(stopped.address, first, LONG_BTC)
    assert (await _signal(first)).attempts == 1

    at_kill = await _killed_at_the_202(rig, raced, answers)
    _restart(rig, "restart after the kill at the 202")
    second = at_kill.id or 0
    await until(lambda: finished(second), EXECUTES_WITHIN, "the raced signal to finish")
    await executed_once(raced.address, second, LONG_ETH)
    assert (await _signal(second)).attempts == at_kill.attempts + (at_kill.status != "EXECUTED")

    third = await _killed_between_fill_and_record(rig, held, answers)
    _restart(rig, "restart after the kill between fill and record")
    await until(lambda: finished(third), EXECUTES_WITHIN, "the held signal to finish")
    await executed_once(held.address, third, LONG_BTC)  # the filled entry was followed, never resent
    assert (await _signal(third)).attempts == 2

    before = {t.address: await books(t.address) for t in (stopped, raced, held)}
    rig.process.stop()
    _restart(rig, "clean restart")
    await asyncio.sleep(2)  # the start-up sweep and a few monitor ticks
    assert {t.address: await books(t.address) for t in (stopped, raced, held)} == before
    clean_log(rig.process.all_output())
