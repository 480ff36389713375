"""Telegram commands by long polling (no public API_URL), through the real python-telegram-bot
against the fake Bot API: the whole story, the other commands, and one poller per bot."""

from __future__ import annotations

import asyncio
import os
import time

from sqlmodel import select

from tests.fakes.indexer import FakeIndexer
from tests.fakes.telegram import FakeTelegram
from tests.services.engine_support import LONG_BTC, make_signal, make_user, positions
from tests.services.notify.telegram_support import OTHER, OWN, Remote, other_commands, scenario
from tests.services.ops.log_support import captured_logs, json_lines
from trading_app.db.engine import session_scope
from trading_app.db.models import TelegramLink, User
from trading_app.services.accounts.telegram import finish_chat_discovery, save_telegram, start_chat_discovery
from trading_app.services.engine import executor
from trading_app.services.notify.command_confirm import EXPIRED, confirm
from trading_app.services.notify.commands import HELP
from trading_app.services.notify.telegram_delivery import delivery_status, sync_delivery
from trading_app.services.notify.telegram_polling import Poller, poll_once
from trading_app.services.ops.logs import short_address
from trading_app.services.security.crypto import Keyring
from trading_app.services.security.secrets import seal


async def _linked(fake: FakeTelegram, n: int) -> tuple[str, str]:
    token = fake.add_bot(chats=[OWN, OTHER])
    user = await make_user(n, telegram_token=token, chat_id=str(OWN))
    status = await sync_delivery(user)
    assert (status.mode, status.reachable) == ("polling", True), status
    return user, token


async def test_the_whole_story_by_polling(
    db_url: str, paper_market: FakeIndexer, fake_telegram: FakeTelegram
) -> None:
    user, token = await _linked(fake_telegram, 1)
    assert fake_telegram.webhook(token) is None and fake_telegram.calls("deleteWebhook")
    await scenario(Remote(fake_telegram, token, "polling"), user)
    # every update was confirmed with its offset: none is answered twice
    offsets = [c.params.get("offset") for c in fake_telegram.calls("getUpdates")]
    assert any(offsets)
    assert await poll_once("worker-1") == {user: 0}


async def test_one_worker_polls_a_bot(db_url: str, fake_telegram: FakeTelegram) -> None:
    user, token = await _linked(fake_telegram, 2)
    assert await poll_once("worker-1") == {user: 0}
    assert await poll_once("worker-2") == {}  # the first worker's lease holds
    fake_telegram.push_message(token, OWN, "/help")
    counts = await asyncio.gather(poll_once("worker-1"), poll_once("worker-2"))
    assert counts == [{user: 1}, {}]
    [answer] = fake_telegram.messages
    assert answer.text == HELP and "/closeall" in answer.plain
    async with session_scope() as session:
        link = (await session.exec(select(TelegramLink))).one()
    assert link.owner == "worker-1"


async def test_pnl_closeall_and_help(
    db_url: str, paper_market: FakeIndexer, fake_telegram: FakeTelegram
) -> None:
    user, token = await _linked(fake_telegram, 3)
    await other_commands(Remote(fake_telegram, token, "polling"), user)


async def test_a_revoked_token_is_told_in_settings(db_url: str, fake_telegram: FakeTelegram) -> None:
    user, token = await _linked(fake_telegram, 4)
    fake_telegram.fail(token, None, 401, "Unauthorized")
    await poll_once("worker-1")
    status = await delivery_status(user)
    assert status.reachable is False and "rejected the bot token" in status.message
    assert token not in status.message
    await poll_once("worker-1")  # a rejected token is not polled again until it changes
    assert len(fake_telegram.calls("getUpdates")) == 1


async def test_another_traders_confirmation_closes_nothing(
    db_url: str, paper_market: FakeIndexer, fake_telegram: FakeTelegram
) -> None:
    alice, token = await _linked(fake_telegram, 5)
    bob = await make_user(6)
    await executor.execute_signal(await make_signal(alice, LONG_BTC))
    [question] = await Remote(fake_telegram, token, "polling").say(OWN, "/close BTC-USD")
    assert question.reply_markup is not None
    data = question.reply_markup["inline_keyboard"][0][0]["callback_data"]
    assert (await confirm(bob, data)).notice == EXPIRED
    assert [p.status for p in await positions(alice)] == ["OPEN"]
    assert (await confirm(alice, data)).notice == "Closed."


async def test_a_chat_discovery_is_not_eaten_by_the_poller(db_url: str, fake_telegram: FakeTelegram) -> None:
    user, token = await _linked(fake_telegram, 7)
    discovery = await start_chat_discovery(user)
    assert (await delivery_status(user)).message == "Waiting for Start in your bot's chat."
    fake_telegram.push_start(token, 4242, discovery.code)
    assert await poll_once("worker-1") == {}  # the bot is left to the discovery
    assert await finish_chat_discovery(user, discovery.code)
    status = await delivery_status(user)
    assert (status.mode, status.reachable) == ("polling", True)
    fake_telegram.push_message(token, 4242, "/help")
    assert await poll_once("worker-1") == {user: 1}
    assert fake_telegram.messages[-1].chat_id == "4242" and "/closeall" in fake_telegram.messages[-1].plain


async def test_a_long_poll_answers_at_once_and_one_worker_holds_the_bot(
    db_url: str, fake_telegram: FakeTelegram
) -> None:
    user, token = await _linked(fake_telegram, 8)
    first, second = Poller("worker-1", wait=5), Poller("worker-2", wait=5)
    try:
        assert await first.round() == [user]
        assert await second.round() == []  # the first worker's lease holds
        await asyncio.sleep(0.3)  # its getUpdates is waiting at Telegram
        started = time.monotonic()
        fake_telegram.push_message(token, OWN, "/help")
        for _ in range(80):
            if fake_telegram.messages:
                break
            await asyncio.sleep(0.05)
        assert fake_telegram.messages and fake_telegram.messages[0].chat_id == str(OWN)
        assert time.monotonic() - started < 3  # well before the 5 s poll ended
        assert len(fake_telegram.calls("getUpdates")) == 1  # the waiting poll got it, no second call
        assert await first.round() == [user]  # renewed
    finally:
        await first.stop()
    assert await second.round() == [user]  # given up at stop: taken over at once
    await second.stop()


async def test_a_discovery_that_begins_during_a_long_poll_still_finds_its_start(
    db_url: str, fake_telegram: FakeTelegram
) -> None:
    user, token = await _linked(fake_telegram, 9)
    poller = Poller("worker-1", wait=5)
    try:
        assert await poller.round() == [user]
        await asyncio.sleep(0.3)  # the long poll waits at Telegram
        discovery = await start_chat_discovery(user)
        fake_telegram.push_start(token, 4343, discovery.code)
        await asyncio.sleep(0.5)  # the waiting poll got the /start, and left it alone
        assert fake_telegram.messages == []
        assert await poller.round() == []  # not polled during the discovery
        assert await finish_chat_discovery(user, discovery.code)
    finally:
        await poller.stop()


async def test_a_commands_log_lines_name_its_trader(
    db_url: str, paper_market: FakeIndexer, fake_telegram: FakeTelegram
) -> None:
    user, token = await _linked(fake_telegram, 10)
    await executor.execute_signal(await make_signal(user, LONG_BTC))
    remote = Remote(fake_telegram, token, "polling")
    with captured_logs("json") as stream:
        [question] = await remote.say(OWN, "/close BTC-USD")
        await remote.tap(OWN, question)
    assert [p.status for p in await positions(user)] == ["CLOSED"]
    lines = json_lines(stream)
    sent = [line for line in lines if "sendMessage" in str(line["message"])]
    tapped = [line for line in lines if "answerCallbackQuery" in str(line["message"])]
    assert sent and tapped
    for line in sent + tapped:  # the answers to the trader's command and tap, and the close between
        assert line.get("user") == short_address(user), line


async def test_a_token_our_keys_cannot_open_is_told_and_not_polled(
    db_url: str, fake_telegram: FakeTelegram
) -> None:
    """A token saved under a master key that was retired since: told in Settings, not polled (each
    poll round used to restart a poll that died at once, a traceback a second), a webhook delivery
    answered 200 without a 5xx Telegram would repeat; saving the token again brings it back."""
    user, token = await _linked(fake_telegram, 12)
    retired = Keyring({99: os.urandom(32)}, 99)
    async with session_scope() as session:
        row = await session.get(User, user)
        assert row is not None
        row.telegram_token_enc = seal(user, "telegram_token_enc", token, retired)
        session.add(row)
    polls = len(fake_telegram.calls("getUpdates"))
    with captured_logs("text") as logs:
        assert await poll_once("worker-1") == {user: 0}
        assert await poll_once("worker-1") == {}  # not claimed again
    assert len(fake_telegram.calls("getUpdates")) == polls
    assert logs.getvalue().count("cannot be decrypted") == 1 and "Traceback" not in logs.getvalue()
    status = await delivery_status(user)
    assert status.reachable is False and "can no longer be read" in status.message
    assert (await sync_delivery(user)).reachable is False  # Settings' own check does not raise
    await save_telegram(user, token=token)  # the trader saves it again
    status = await delivery_status(user)
    assert (status.mode, status.reachable) == ("polling", True), status
    fake_telegram.push_message(token, OWN, "/help")
    assert await poll_once("worker-1") == {user: 1}
