"""The engine's refusal of an alert: decided before any venue is built, ended in one write with its
whole story, told to the trader (Telegram record, a push of the alert log) and followed by the next
signal of the market, in few round trips (bench/burst.py's rejection round)."""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import AsyncIterator, Iterator
from contextlib import contextmanager

import pytest
from sqlmodel import col, select

from tests.db.engine_events import listening
from tests.fakes.indexer import FakeIndexer
from tests.services.engine_support import LONG_BTC, make_signal, make_user, signal
from trading_app.db.engine import session_scope
from trading_app.db.models import Notification, SignalEvent
from trading_app.services.engine import executor, timeline
from trading_app.services.notify import events
from trading_app.services.notify.notifier import get_notifier


@pytest.fixture
async def told() -> AsyncIterator[dict[str, list[str]]]:
    """Who the engine reported to the live push, by hook: positions changed, alert log changed."""
    seen: dict[str, list[str]] = {"positions": [], "alerts": []}

    async def positions(user: str) -> None:
        seen["positions"].append(user)

    async def alerts(user: str) -> None:
        seen["alerts"].append(user)

    events.subscribe(positions)
    events.subscribe_alerts(alerts)
    yield seen
    events.unsubscribe(positions)
    events.unsubscribe_alerts(alerts)


async def _settle() -> None:
    await get_notifier().drain(5)
    await timeline.drain()


@contextmanager
def round_trips() -> Iterator[Counter[str]]:
    """The statements the app's engine sends (by verb), and the BEGINs of its transactions."""
    seen: Counter[str] = Counter()

    def on_sql(sql: str) -> None:
        seen[sql.split(None, 1)[0].upper()] += 1

    def on_begin(conn) -> None:  # noqa: ANN001
        if conn.get_execution_options().get("isolation_level") != "AUTOCOMMIT":
            seen["BEGIN"] += 1

    with listening(on_sql, on_begin=on_begin):
        yield seen


async def _story(user: str, signal_id: int) -> list[str]:
    async with session_scope() as session:
        rows = await session.exec(
            select(SignalEvent.phase)
            .where(SignalEvent.signal_id == signal_id, SignalEvent.user_address == user)
            .order_by(col(SignalEvent.at), col(SignalEvent.id))
        )
        return list(rows.all())


async def _notes(user: str) -> list[tuple[str, str]]:
    async with session_scope() as session:
        rows = await session.exec(
            select(Notification.kind, Notification.status)
            .where(Notification.user_address == user)
            .order_by(col(Notification.id))
        )
        return [(k, s) for k, s in rows.all()]


async def test_a_repeated_alert_is_refused_with_its_story_its_record_and_an_alert_log_push(
    db_url: str, paper_market: FakeIndexer, told: dict[str, list[str]]
) -> None:
    user = await make_user(41)
    await executor.execute_signal(await make_signal(user, LONG_BTC))
    await _settle()
    told["positions"].clear()
    # two more of the same, accepted back to back: the second waits behind the first
    first, second = await make_signal(user, LONG_BTC), await make_signal(user, LONG_BTC)
    assert await executor.execute_signal(second) is None  # not before the earlier one

    outcome = await executor.execute_signal(first)  # then runs the one in line behind it
    await _settle()

    assert outcome is not None and outcome.status.value == "REJECTED"
    for sid in (first, second):
        row = await signal(sid)
        assert row.status == "REJECTED" and str(row.reason).startswith("position_exists")
        assert await _story(user, sid) == ["claimed", "rejected", "pushed"]
    # the alert log moved, no position did; Telegram is not linked: recorded as skipped
    assert told == {"positions": [], "alerts": [user, user]}
    assert await _notes(user) == [("opened", "skipped"), ("rejected", "skipped"), ("rejected", "skipped")]


async def test_a_refusal_needs_no_venue(db_url: str, paper_market: FakeIndexer) -> None:
    # testnet without saved credentials: building its venue fails, refusing the alert does not
    user = await make_user(42, network="testnet")
    sid = await make_signal(user, {"action": "close", "market": "BTC-USD"})
    outcome = await executor.execute_signal(sid)
    await _settle()
    assert outcome is not None and outcome.status.value == "REJECTED", outcome
    assert str(outcome.reason).startswith("no_position")
    assert await _story(user, sid) == ["claimed", "rejected", "pushed"]


async def test_a_refusal_on_postgresql_costs_five_statements_and_no_transaction(
    pg_url: str, paper_market: FakeIndexer
) -> None:
    user = await make_user(43)
    await executor.execute_signal(await make_signal(user, LONG_BTC))
    await _settle()
    sid = await make_signal(user, LONG_BTC)
    with round_trips() as seen:
        outcome = await executor.execute_signal(sid)
        await _settle()
    assert outcome is not None and str(outcome.reason).startswith("position_exists")
    # claim, account with positions (one statement); the end with its story (one statement), the
    # next in line; the notification record (one statement for a trader without Telegram)
    assert seen == Counter({"SELECT": 2, "UPDATE": 1, "WITH": 1, "INSERT": 1}), seen
    assert await _story(user, sid) == ["claimed", "rejected", "pushed"]
    assert re.match(r"position_exists", str((await signal(sid)).reason))
