"""The trading engine on the paper venue: exactly once, never naked, and it tells the trader."""

from __future__ import annotations

import asyncio
from datetime import timedelta

import pytest
from sqlalchemy import update

from tests.fakes.indexer import FakeIndexer
from tests.fakes.telegram import FakeTelegram
from tests.services.engine_support import LONG_BTC, D, make_signal, make_user, orders, positions, signal
from trading_app.db.engine import session_scope
from trading_app.db.models import Signal
from trading_app.domain.clock import utcnow
from trading_app.services.engine import executor
from trading_app.services.notify.notifier import get_notifier


async def _drain() -> None:
    await get_notifier().drain(5)


async def test_long_with_tp_and_sl_opens_protected(
    db_url: str, paper_market: FakeIndexer, fake_telegram: FakeTelegram
) -> None:
    token = fake_telegram.add_bot(chats=[77])
    user = await make_user(1, telegram_token=token, chat_id="77")
    sid = await make_signal(user, LONG_BTC)

    outcome = await executor.execute_signal(sid)
    await _drain()

    assert outcome is not None and outcome.status.value == "EXECUTED", outcome and outcome.reason
    [position] = await positions(user)
    assert (position.status, position.side, position.market) == ("OPEN", "LONG", "BTC-USD")
    assert position.size == D("0.01") and position.sl_price == D("60000") and position.tp_price == D("70000")
    assert position.entry_price is not None and position.entry_price >= D("65000")
    assert position.fees > 0
    roles = {o.role: o for o in await orders(user)}
    assert set(roles) == {"ENTRY", "STOP_LOSS", "TAKE_PROFIT"}
    assert roles["ENTRY"].status == "FILLED"
    assert roles["STOP_LOSS"].status == "UNTRIGGERED" and roles["STOP_LOSS"].reduce_only
    assert roles["STOP_LOSS"].size == D("0.01") and roles["STOP_LOSS"].trigger_price == D("60000")
    assert roles["TAKE_PROFIT"].status == "UNTRIGGERED"
    assert len({o.client_id for o in roles.values()}) == 3
    row = await signal(sid)
    assert row.status == "EXECUTED" and row.position_id == position.id
    assert any("Opened" in m.plain and "BTC-USD" in m.plain for m in fake_telegram.messages)


async def test_the_same_signal_executes_once_even_when_raced(db_url: str, paper_market: FakeIndexer) -> None:
    user = await make_user(2)
    sid = await make_signal(user, LONG_BTC)
    results = await asyncio.gather(*(executor.execute_signal(sid) for _ in range(20)))
    assert sum(r is not None for r in results) == 1
    assert await executor.execute_signal(sid) is None  # finished: never again
    assert len(await positions(user)) == 1
    assert [o.role for o in await orders(user)] == ["ENTRY", "STOP_LOSS", "TAKE_PROFIT"]


async def test_a_crashed_execution_is_resumed_without_new_orders(
    db_url: str, paper_market: FakeIndexer
) -> None:
    user = await make_user(3)
    sid = await make_signal(user, LONG_BTC)
    await executor.execute_signal(sid)
    before = [(o.client_id, o.status) for o in await orders(user)]
    # the worker "died" mid-way: its claim is stale and the signal still says EXECUTING
    async with session_scope() as session:
        await session.exec(
            update(Signal)
            .where(Signal.id == sid)
            .values(  # type: ignore[call-overload]
                status="EXECUTING", claimed_at=utcnow() - timedelta(minutes=10)
            )
        )
    assert await executor.sweep() == [sid]
    assert (await signal(sid)).status == "EXECUTED"
    assert [(o.client_id, o.status) for o in await orders(user)] == before
    assert len(await positions(user)) == 1


async def test_sweep_executes_accepted_signals_nobody_dispatched(
    db_url: str, paper_market: FakeIndexer
) -> None:
    user = await make_user(4)
    sid = await make_signal(
        user, {**LONG_BTC, "market": "ETHUSDT.P", "size": "0.1", "sl": "2800", "tp": "3300"}
    )
    assert await executor.sweep(older_than=timedelta(0)) == [sid]
    [position] = await positions(user)
    assert position.market == "ETH-USD" and position.status == "OPEN"


@pytest.mark.parametrize(
    ("body", "reason"),
    [
        ({**LONG_BTC, "market": "NOPE-USD"}, "unknown_market"),
        ({**LONG_BTC, "sl": "66000"}, "sl_wrong_side"),
        ({**LONG_BTC, "size": "0.00001"}, "size_below_minimum"),
        ({"action": "buy", "market": "BTC-USD", "size": "0.01"}, "stop_required"),
        ({"action": "close", "market": "BTC-USD"}, "no_position"),
    ],
)
async def test_rejections_are_recorded_and_told(
    sqlite_url: str, paper_market: FakeIndexer, fake_telegram: FakeTelegram, body: dict, reason: str
) -> None:
    token = fake_telegram.add_bot(chats=[5])
    user = await make_user(5, telegram_token=token, chat_id="5")
    sid = await make_signal(user, body)
    outcome = await executor.execute_signal(sid)
    await _drain()
    assert outcome is not None and outcome.status.value == "REJECTED"
    row = await signal(sid)
    assert row.status == "REJECTED" and row.reason is not None and row.reason.startswith(reason)
    assert await orders(user) == []
    assert any("rejected" in m.plain and reason in m.plain for m in fake_telegram.messages)


async def test_second_signal_same_market_is_rejected_and_close_flattens(
    db_url: str, paper_market: FakeIndexer
) -> None:
    user = await make_user(6)
    await executor.execute_signal(await make_signal(user, LONG_BTC))
    again = await executor.execute_signal(await make_signal(user, LONG_BTC))
    assert again is not None and again.reason is not None and again.reason.startswith("position_exists")
    short = await executor.execute_signal(
        await make_signal(
            user, {"action": "sell", "market": "BTC-USD", "size": "0.01", "sl": "70000", "tp": "60000"}
        )
    )
    assert short is not None and short.reason is not None and short.reason.startswith("position_exists")

    paper_market.set_price("BTC-USD", D("66000"))
    closed = await executor.execute_signal(await make_signal(user, {"action": "close", "market": "BTC-USD"}))
    assert closed is not None and closed.status.value == "EXECUTED"
    [position] = await positions(user)
    assert position.status == "CLOSED" and position.close_reason == "SIGNAL"
    assert position.exit_price is not None and position.realized_pnl is not None
    assert (
        position.realized_pnl == (position.exit_price - position.entry_price) * position.size - position.fees
    )
    statuses = {o.role: o.status for o in await orders(user)}
    assert statuses["STOP_LOSS"] == "CANCELED" and statuses["TAKE_PROFIT"] == "CANCELED"
    assert statuses["CLOSE"] == "FILLED"


async def test_reverse_flips_the_position(db_url: str, paper_market: FakeIndexer) -> None:
    user = await make_user(7)
    await executor.execute_signal(await make_signal(user, LONG_BTC))
    outcome = await executor.execute_signal(
        await make_signal(
            user, {"action": "reverse", "market": "BTC-USD", "size": "0.02", "sl_pct": "2", "rr": "2"}
        )
    )
    assert outcome is not None and outcome.status.value == "EXECUTED", outcome and outcome.reason
    first, second = await positions(user)
    assert first.status == "CLOSED" and first.close_reason == "REVERSED"
    assert second.status == "OPEN" and second.side == "SHORT" and second.size == D("0.02")
    assert second.sl_price is not None and second.sl_price > second.entry_price > second.tp_price


async def test_price_source_down_fails_the_signal_with_the_reason(
    db_url: str, paper_market: FakeIndexer, fake_telegram: FakeTelegram
) -> None:
    token = fake_telegram.add_bot(chats=[8])
    user = await make_user(8, telegram_token=token, chat_id="8")
    sid = await make_signal(user, LONG_BTC)
    paper_market.down()
    outcome = await executor.execute_signal(sid)
    await _drain()
    assert outcome is not None and outcome.status.value == "FAILED"
    assert (await signal(sid)).reason.startswith("venue_unavailable")  # type: ignore[union-attr]
    assert await positions(user) == [] and await orders(user) == []
    assert any("venue_unavailable" in m.plain for m in fake_telegram.messages)


async def test_fifty_users_at_once_keep_their_own_books(pg_url: str, paper_market: FakeIndexer) -> None:
    users = [await make_user(100 + n) for n in range(50)]
    markets = ["BTC-USD", "ETH-USD", "SOL-USD"]
    bodies = []
    for n, user in enumerate(users):
        market = markets[n % 3]
        price = {"BTC-USD": D("65000"), "ETH-USD": D("3000"), "SOL-USD": D("150")}[market]
        size = {"BTC-USD": "0.001", "ETH-USD": "0.01", "SOL-USD": "1"}[market]
        long = n % 2 == 0
        sl, tp = (price * D("0.9"), price * D("1.2")) if long else (price * D("1.1"), price * D("0.8"))
        bodies.append(
            (
                user,
                {
                    "action": "buy" if long else "sell",
                    "market": market,
                    "size": size,
                    "sl": str(sl.quantize(D("1"))),
                    "tp": str(tp.quantize(D("1"))),
                },
            )
        )
    ids = [await make_signal(user, body) for user, body in bodies]
    outcomes = await asyncio.gather(*(executor.execute_signal(i) for i in ids))
    assert all(o is not None and o.status.value == "EXECUTED" for o in outcomes), [
        o.reason for o in outcomes if o is not None and o.status.value != "EXECUTED"
    ]
    for (user, body), sid in zip(bodies, ids, strict=True):
        [position] = await positions(user)
        assert position.signal_id == sid and position.market == body["market"]
        assert position.side == ("LONG" if body["action"] == "buy" else "SHORT")
        assert position.size == D(body["size"]) and position.status == "OPEN"
        mine = await orders(user)
        assert [o.role for o in mine] == ["ENTRY", "STOP_LOSS", "TAKE_PROFIT"]
        assert all(o.user_address == user and o.position_id == position.id for o in mine)
        assert mine[1].size == position.size and mine[1].trigger_price == D(body["sl"])


async def test_a_test_alert_runs_on_paper_even_for_a_mainnet_account(
    db_url: str, paper_market: FakeIndexer
) -> None:
    user = await make_user(60, network="mainnet", credential_kind="mnemonic")
    sid = await make_signal(user, LONG_BTC)
    async with session_scope() as session:
        await session.exec(update(Signal).where(Signal.id == sid).values(paper=True))  # type: ignore[call-overload]
    outcome = await executor.execute_signal(sid)
    assert outcome is not None and outcome.status.value == "EXECUTED", outcome and outcome.reason
    [position] = await positions(user)
    assert position.network == "paper" and position.status == "OPEN"
    # without the flag the same account goes to mainnet, where no credentials exist: nothing is sent
    other = await executor.execute_signal(
        await make_signal(user, {**LONG_BTC, "market": "ETH-USD", "size": "0.1", "sl": "2800", "tp": "3300"})
    )
    assert other is not None and other.status.value == "FAILED" and "credentials" in (other.reason or "")


async def test_an_opening_alert_that_could_only_run_much_later_is_not_traded_late(
    db_url: str, paper_market: FakeIndexer
) -> None:
    user = await make_user(60)
    sid = await make_signal(user, LONG_BTC)
    async with session_scope() as session:  # it waited (behind one in doubt, for a dead worker)
        await session.exec(
            update(Signal)
            .where(Signal.id == sid)  # type: ignore[call-overload]
            .values(received_at=utcnow() - timedelta(minutes=10))
        )
    outcome = await executor.execute_signal(sid)
    assert outcome is not None and outcome.status.value == "REJECTED"
    assert outcome.reason is not None and outcome.reason.startswith("stale")
    assert await positions(user) == [] and await orders(user) == []


async def test_a_signal_that_keeps_failing_ends_failed_and_stops_blocking_its_market(
    db_url: str, paper_market: FakeIndexer
) -> None:
    user = await make_user(61)
    broken = await make_signal(user, LONG_BTC)
    after = await make_signal(user, {"action": "close", "market": "BTC-USD"})
    async with session_scope() as session:  # a row the executor cannot read (a bug, a bad migration)
        await session.exec(update(Signal).where(Signal.id == broken).values(parsed="{not json"))  # type: ignore[call-overload]
    outcomes = [await executor.execute_signal(broken) for _ in range(executor.MAX_ATTEMPTS)]
    assert [o.status.value for o in outcomes if o is not None][:-1] == ["EXECUTING"] * (
        executor.MAX_ATTEMPTS - 1
    )
    assert (await signal(broken)).status == "FAILED" and "internal_error" in (
        (await signal(broken)).reason or ""
    )
    # the alert behind it is no longer blocked: it ran right after (nothing to close)
    assert (await signal(after)).status == "REJECTED"


async def test_a_reverse_resumed_after_its_close_opens_the_other_side(
    db_url: str, paper_market: FakeIndexer
) -> None:
    user = await make_user(62, same_market_policy="reverse")
    first = await executor.execute_signal(await make_signal(user, LONG_BTC))
    assert first is not None and first.status.value == "EXECUTED"
    sid = await make_signal(
        user, {"action": "reverse", "market": "BTC-USD", "size": "0.01", "sl": "70000", "tp": "60000"}
    )
    # the worker died right after the reverse's close: the long is closed, nothing else happened yet
    [long] = await positions(user)
    from trading_app.services.engine.manual import close_position

    await close_position(user, long.id or 0)
    async with session_scope() as session:
        from trading_app.db.models import Position

        await session.exec(
            update(Position)
            .where(Position.id == long.id)  # type: ignore[call-overload]
            .values(close_reason="REVERSED")
        )
        await session.exec(
            update(Signal)
            .where(Signal.id == sid)
            .values(  # type: ignore[call-overload]
                status="EXECUTING", claimed_at=utcnow() - timedelta(minutes=5)
            )
        )
    assert await executor.sweep(older_than=timedelta(0)) == [sid]
    assert (await signal(sid)).status == "EXECUTED"
    short = (await positions(user))[-1]
    assert (short.side, short.status) == ("SHORT", "OPEN")


async def test_a_scale_out_alert_is_read_back_from_storage_and_opens_protected(
    db_url: str, paper_market: FakeIndexer
) -> None:
    # the stored form has lists (tp_more, tp_split): the engine reads it back whole
    body = {**LONG_BTC, "tp": ["70000", "72000"], "tp_split": [50, 50], "be_after_tp": 1, "trail": "500"}
    user = await make_user(3)
    sid = await make_signal(user, body)

    outcome = await executor.execute_signal(sid)

    assert outcome is not None and outcome.status.value == "EXECUTED", outcome and outcome.reason
    [position] = await positions(user)
    assert position.sl_price == D("60000") and position.tp_price == D("70000")  # level 1
    parsed = executor._parsed(await signal(sid))
    assert parsed.tp_more == (D("72000"),) and parsed.tp_split == (D(50), D(50)) and parsed.trail == D(500)
