"""Driving a trader's bot from Telegram's side (the fake Bot API), in either delivery mode.

`Remote.say` pushes a message into the fake; with a webhook set the fake POSTs it to our route
(the call returns once our app answered), otherwise `poll_once` of a worker fetches it with
getUpdates. Either way the test then reads what the bot sent back.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from typing import Any

from sqlalchemy import update
from sqlmodel import col

from tests.fakes.telegram import FakeTelegram, SentMessage
from tests.services.engine_support import LONG_BTC, make_signal, orders, positions, signal
from trading_app.db.engine import session_scope
from trading_app.db.models import TelegramConfirmation
from trading_app.domain.clock import utcnow
from trading_app.services.engine import executor
from trading_app.services.notify.command_confirm import EXPIRED
from trading_app.services.notify.commands import HELP, NOT_LINKED
from trading_app.services.notify.notifier import get_notifier
from trading_app.services.notify.telegram_polling import poll_once

OWN, OTHER = 77, 99  # the chat saved in Settings, and a stranger's chat with the same bot


@dataclass
class Remote:
    fake: FakeTelegram
    token: str
    mode: str  # webhook or polling
    worker: str = "worker-1"

    async def _after(self, status: int | None) -> None:
        if self.mode == "polling":
            assert status is None, "a webhook is set: the update was not queued for getUpdates"
            await poll_once(self.worker)
        else:
            assert status == 200, status
        await get_notifier().drain(5)

    async def say(self, chat: int, text: str) -> list[SentMessage]:
        """Send `text` from `chat`; the bot's messages sent in answer."""
        await get_notifier().drain(5)  # trade notifications sent before are not answers
        before = len(self.fake.messages)
        await self._after(await asyncio.to_thread(self.fake.push_message, self.token, chat, text))
        return self.fake.messages[before:]

    async def tap(
        self, chat: int, message: SentMessage, which: int = 0
    ) -> tuple[list[dict[str, Any]], list[SentMessage]]:
        """Tap button `which` of `message`; (answerCallbackQuery calls, edits) that followed."""
        assert message.reply_markup is not None, message
        data = message.reply_markup["inline_keyboard"][0][which]["callback_data"]
        answers, edits = len(self.fake.answers), len(self.fake.edits)
        status = await asyncio.to_thread(self.fake.push_callback, self.token, chat, message.message_id, data)
        await self._after(status)
        return self.fake.answers[answers:], self.fake.edits[edits:]


async def expire_confirmations(user: str) -> None:
    """Time passes: every pending confirmation of `user` is past its expiry."""
    async with session_scope() as session:
        await session.execute(
            update(TelegramConfirmation)
            .where(col(TelegramConfirmation.user_address) == user)
            .values(expires_at=utcnow())
        )


async def scenario(remote: Remote, user: str) -> None:
    """The issue's story, from Telegram alone: see, refuse a stranger, close with confirmation,
    an expired confirm does nothing, pause refuses alerts, resume trades again."""
    opened = await executor.execute_signal(await make_signal(user, LONG_BTC))
    assert opened is not None and opened.status.value == "EXECUTED"

    [shown] = await remote.say(OWN, "/positions")
    assert shown.chat_id == str(OWN)
    assert "LONG BTC-USD" in shown.plain and "Entry 65," in shown.plain, shown.plain
    assert "TP 70,000" in shown.plain and "SL 60,000" in shown.plain and "Unrealized PnL" in shown.plain

    # a stranger learns nothing, whatever they ask
    for text in ("/positions", "/status", "/close BTC-USD", "/pause"):
        [answer] = await remote.say(OTHER, text)
        assert (answer.chat_id, answer.plain) == (str(OTHER), NOT_LINKED)

    [status] = await remote.say(OWN, "/status")
    assert "Open positions: 1" in status.plain and "Trading: on" in status.plain, status.plain

    # /close asks; a confirm that expired closes nothing
    [question] = await remote.say(OWN, "/close btc-usd")
    assert "Close LONG BTC-USD" in question.plain and question.reply_markup is not None
    await expire_confirmations(user)
    answers, edits = await remote.tap(OWN, question)
    assert [a.get("text") for a in answers] == [EXPIRED] and edits == []
    assert [p.status for p in await positions(user)] == ["OPEN"]

    # a stranger's tap on a live confirmation does nothing either
    [question] = await remote.say(OWN, "/close BTC-USD")
    answers, edits = await remote.tap(OTHER, question)
    assert [a.get("text") for a in answers] == [NOT_LINKED] and edits == []
    assert [p.status for p in await positions(user)] == ["OPEN"]

    # the trader's confirm closes it, once
    answers, edits = await remote.tap(OWN, question)
    assert [a.get("text") for a in answers] == ["Closed."]
    [edit] = edits
    assert edit.message_id == question.message_id and edit.plain.startswith("Closed LONG BTC-USD at")
    assert [p.status for p in await positions(user)] == ["CLOSED"]
    answers, edits = await remote.tap(OWN, question)  # tapped again: used already
    assert [a.get("text") for a in answers] == [EXPIRED] and edits == []

    # paused: an alert accepted meanwhile is refused as paused and trades nothing
    [paused] = await remote.say(OWN, "/pause")
    assert "Trading paused" in paused.plain
    orders_before = len(await orders(user))
    sid = await make_signal(user, LONG_BTC)
    await executor.execute_signal(sid)
    row = await signal(sid)
    assert (row.status, (row.reason or "").split(":")[0]) == ("REJECTED", "paused")
    assert len(await orders(user)) == orders_before
    [status] = await remote.say(OWN, "/status")
    assert "Trading: PAUSED" in status.plain

    # resumed: trades again
    [resumed] = await remote.say(OWN, "/resume")
    assert "Trading resumed" in resumed.plain
    outcome = await executor.execute_signal(await make_signal(user, LONG_BTC))
    assert outcome is not None and outcome.status.value == "EXECUTED"
    assert [p.status for p in await positions(user)] == ["CLOSED", "OPEN"]


async def other_commands(remote: Remote, user: str) -> None:
    """/closeall (Cancel, then Confirm), /pnl with and without days, /help, an unknown command."""
    await executor.execute_signal(await make_signal(user, LONG_BTC))
    eth = {**LONG_BTC, "market": "ETH-USD", "sl": "2800", "tp": "3300"}
    await executor.execute_signal(await make_signal(user, eth))
    [question] = await remote.say(OWN, "/closeall")
    assert "Close all 2 open positions" in question.plain
    answers, [edit] = await remote.tap(OWN, question, which=1)  # Cancel
    assert [a.get("text") for a in answers] == ["Cancelled."] and edit.plain.startswith("Cancelled")
    assert {p.status for p in await positions(user)} == {"OPEN"}
    [question] = await remote.say(OWN, "/closeall")
    answers, [edit] = await remote.tap(OWN, question)
    assert "Closed LONG BTC-USD" in edit.plain and "Closed LONG ETH-USD" in edit.plain
    assert {p.status for p in await positions(user)} == {"CLOSED"}
    [pnl] = await remote.say(OWN, "/pnl 30")
    assert "PnL, last 30 days" in pnl.plain and "(2 closed trades)" in pnl.plain, pnl.plain
    [pnl] = await remote.say(OWN, "/pnl")
    assert "PnL, last 7 days" in pnl.plain and "(2 closed trades)" in pnl.plain, pnl.plain
    [bad] = await remote.say(OWN, "/pnl lots")
    assert bad.plain.startswith("Usage: /pnl")
    [none] = await remote.say(OWN, "/closeall")
    assert none.plain == "No open positions."
    [shown] = await remote.say(OWN, "/help")
    assert shown.text == HELP and "/closeall" in shown.plain
    [unknown] = await remote.say(OWN, "/moon")
    assert unknown.plain.startswith("Unknown command.")
