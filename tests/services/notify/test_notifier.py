"""Notifications through each user's own bot, against the fake Bot API with the real PTB client."""

from __future__ import annotations

import asyncio
import logging
import secrets
import time
import uuid
from collections.abc import AsyncIterator
from decimal import Decimal

import pytest
from sqlmodel import select

from tests.fakes.telegram import FakeTelegram
from trading_app.db.engine import dispose_engines, session_scope
from trading_app.db.models import Notification, User
from trading_app.services.notify.messages import (
    PositionClosed,
    PositionOpened,
    ProtectionFailed,
    SignalRejected,
    TradingError,
)
from trading_app.services.notify.notifier import DeliveryStatus, TelegramNotifier
from trading_app.services.security.secrets import seal

EVIL = "<b>BTC&co</b>"
TOKEN_LOGGERS = ("httpx", "httpcore", "telegram", "trading_app")


def new_address() -> str:
    return "0x" + secrets.token_hex(20)


async def make_user(
    token: str | None = None, chat_id: int | str | None = None, address: str | None = None
) -> str:
    address = address or new_address()
    async with session_scope() as session:
        session.add(
            User(
                address=address,
                webhook_uuid=str(uuid.uuid4()),
                webhook_secret_enc=seal(address, "webhook_secret_enc", secrets.token_urlsafe(16)),
                telegram_token_enc=seal(address, "telegram_token_enc", token) if token else None,
                telegram_chat_id_enc=seal(address, "telegram_chat_id_enc", str(chat_id)) if chat_id else None,
            )
        )
    return address


async def rows(address: str | None = None) -> list[Notification]:
    async with session_scope() as session:
        query = select(Notification).order_by(Notification.id)
        if address:
            query = query.where(Notification.user_address == address)
        return list((await session.exec(query)).all())


@pytest.fixture
async def notifier(db_url: str, fake_telegram: FakeTelegram) -> AsyncIterator[TelegramNotifier]:
    """On both databases: for tests about what is recorded."""
    notifier = TelegramNotifier(min_interval=0)
    yield notifier
    await notifier.aclose()
    await dispose_engines()  # close pooled connections while their event loop is still alive


@pytest.fixture
async def lite(sqlite_url: str, fake_telegram: FakeTelegram) -> AsyncIterator[TelegramNotifier]:
    """On SQLite only: for tests about delivery, where the database does not matter."""
    notifier = TelegramNotifier(min_interval=0)
    yield notifier
    await notifier.aclose()
    await dispose_engines()  # close pooled connections while their event loop is still alive


def opened(market: str = "BTC-USD") -> PositionOpened:
    return PositionOpened(
        "paper", market, "LONG", Decimal("0.01"), Decimal("64000"), Decimal("70000"), "60000"
    )


async def test_sends_html_to_the_users_chat_and_records_it(
    notifier: TelegramNotifier, fake_telegram: FakeTelegram
):
    token = fake_telegram.add_bot(chats=[4242])
    address = await make_user(token, 4242)
    assert await notifier.notify(address, "opened", opened()) is DeliveryStatus.SENT
    [sent] = fake_telegram.messages
    assert (sent.token, sent.chat_id, sent.parse_mode) == (token, "4242", "HTML")
    assert "Opened LONG BTC-USD" in sent.plain and "Entry: 64,000" in sent.plain
    [row] = await rows(address)
    assert (row.kind, row.status, row.error, row.channel) == ("opened", "sent", None, "telegram")
    assert row.text == sent.text


EVENTS = [
    ("opened", PositionOpened("mainnet", EVIL, "SHORT", "1", "2", None, "3")),
    ("closed", PositionClosed("paper", EVIL, "LONG", "1", "2", EVIL, Decimal("-1.5"), Decimal("0.1"))),
    ("rejected", SignalRejected("testnet", 7, EVIL, EVIL, EVIL)),
    ("error", TradingError("paper", EVIL, "position flattened", EVIL, EVIL)),
    ("protection_failed", ProtectionFailed("mainnet", EVIL, "LONG", "1", EVIL, False, EVIL)),
    ("text", EVIL),
]


@pytest.mark.parametrize(("kind", "event"), EVENTS, ids=[k for k, _ in EVENTS])
async def test_every_kind_reaches_telegram_escaped(
    lite: TelegramNotifier, fake_telegram: FakeTelegram, kind: str, event: object
) -> None:
    token = fake_telegram.add_bot(chats=[5])
    address = await make_user(token, 5)
    # the fake rejects HTML Telegram could not parse, so "sent" proves the escaping
    assert await lite.notify(address, kind, event) is DeliveryStatus.SENT  # type: ignore[arg-type]
    assert EVIL in fake_telegram.messages[-1].plain
    assert EVIL not in fake_telegram.messages[-1].text


async def test_not_configured_is_skipped_and_recorded(
    notifier: TelegramNotifier, fake_telegram: FakeTelegram
):
    nothing = await make_user()
    token_only = await make_user(token=fake_telegram.add_bot(chats=[1]))
    for address in (nothing, token_only):
        assert await notifier.notify(address, "opened", opened()) is DeliveryStatus.SKIPPED
        [row] = await rows(address)
        assert (row.status, row.error) == ("skipped", None)
    assert fake_telegram.requests == []


async def test_unknown_user_is_skipped_without_a_row(lite: TelegramNotifier) -> None:
    assert await lite.notify(new_address(), "opened", opened()) is DeliveryStatus.SKIPPED
    assert await rows() == []


@pytest.mark.parametrize(
    ("setup", "error"),
    [
        ("blocked", "Forbidden: Forbidden: bot was blocked by the user"),
        ("no_chat", "BadRequest: Chat not found"),
        ("revoked", "InvalidToken: the bot token was rejected"),
        ("down", "NetworkError: "),
    ],
)
async def test_failures_are_recorded_never_raised(
    lite: TelegramNotifier, fake_telegram: FakeTelegram, setup: str, error: str
) -> None:
    token = fake_telegram.add_bot(chats=[9])
    if setup == "blocked":
        fake_telegram.block(token, 9)
    elif setup == "revoked":
        token = token.split(":")[0] + ":" + "R" * 35  # well-formed, unknown to Telegram
    elif setup == "down":
        lite.pool._base_url = "http://127.0.0.1:9/bot"  # nothing listens on the discard port
    address = await make_user(token, 9 if setup != "no_chat" else 10)
    assert await lite.notify(address, "closed", "closed") is DeliveryStatus.FAILED
    [row] = await rows(address)
    assert row.status == "failed" and row.error.startswith(error)
    assert token not in row.error


async def test_long_telegram_errors_fit_the_error_column(
    notifier: TelegramNotifier, fake_telegram: FakeTelegram
):
    token = fake_telegram.add_bot(chats=[9])
    fake_telegram.fail(token, 9, 400, "Bad Request: " + "x" * 600)  # PostgreSQL enforces 256 characters
    address = await make_user(token, 9)
    assert await notifier.notify(address, "closed", "closed") is DeliveryStatus.FAILED
    [row] = await rows(address)
    assert row.error == ("BadRequest: X" + "x" * 600)[:256]


async def test_undecryptable_secret_is_a_recorded_failure(
    lite: TelegramNotifier, fake_telegram: FakeTelegram
):
    token = fake_telegram.add_bot(chats=[3])
    victim = await make_user(token, 3)
    # a ciphertext copied from another user's row must not open here
    thief = await make_user(address=new_address())
    async with session_scope() as session:
        a, b = await session.get(User, victim), await session.get(User, thief)
        b.telegram_token_enc, b.telegram_chat_id_enc = a.telegram_token_enc, a.telegram_chat_id_enc
        session.add(b)
    assert await lite.notify(thief, "opened", opened()) is DeliveryStatus.FAILED
    [row] = await rows(thief)
    assert row.error.startswith("DecryptionError")
    assert fake_telegram.messages == []


async def test_flood_control_waits_and_retries_once(lite: TelegramNotifier, fake_telegram: FakeTelegram):
    token = fake_telegram.add_bot(chats=[8])
    address = await make_user(token, 8)
    fake_telegram.flood(token, 8, retry_after=1, times=1)
    started = time.monotonic()
    assert await lite.notify(address, "opened", opened()) is DeliveryStatus.SENT
    assert time.monotonic() - started >= 1.0
    assert len(fake_telegram.calls("sendMessage")) == 2 and len(fake_telegram.messages) == 1
    # a wait longer than we accept, or a second refusal, fails fast and is recorded
    lite.max_retry_wait = 5
    fake_telegram.flood(token, 8, retry_after=60, times=None)
    started = time.monotonic()
    assert await lite.notify(address, "opened", opened()) is DeliveryStatus.FAILED
    assert time.monotonic() - started < 2
    assert (await rows(address))[-1].error == "RetryAfter: flood control, retry in 60s"


async def test_notify_soon_does_not_block_the_caller(lite: TelegramNotifier, fake_telegram: FakeTelegram):
    token = fake_telegram.add_bot(chats=[6])
    address = await make_user(token, 6)
    fake_telegram.slow(token, 6, 0.5)
    started = time.monotonic()
    task = lite.notify_soon(address, "opened", opened())
    assert time.monotonic() - started < 0.1 and task is not None and not task.done()
    await lite.drain()
    assert task.result() is DeliveryStatus.SENT
    assert [r.status for r in await rows(address)] == ["sent"]


async def test_one_shared_client_for_every_user(lite: TelegramNotifier, fake_telegram: FakeTelegram):
    addresses = []
    for chat in range(100, 105):
        addresses.append(await make_user(fake_telegram.add_bot(chats=[chat]), chat))
    for address in addresses:
        assert await lite.notify(address, "opened", opened()) is DeliveryStatus.SENT
    calls = fake_telegram.calls("sendMessage")
    assert len({c.token for c in calls}) == 5
    assert lite.pool.requests_created == 1
    # one keep-alive connection carried every user's request: the client really is shared
    assert len({c.client_port for c in calls}) == 1
    assert fake_telegram.calls("getMe") == []  # no per-user initialize()


async def test_paces_messages_per_chat(lite: TelegramNotifier, fake_telegram: FakeTelegram) -> None:
    notifier = lite
    notifier.min_interval = 0.3
    token = fake_telegram.add_bot(chats=[1, 2])
    first, second = await make_user(token, 1), await make_user(token, 2)
    started = time.monotonic()
    await asyncio.gather(*(notifier.notify(first, "text", f"m{i}") for i in range(3)))
    assert time.monotonic() - started >= 0.6  # three to one chat: two pauses
    started = time.monotonic()
    await asyncio.gather(notifier.notify(first, "text", "x"), notifier.notify(second, "text", "y"))
    assert time.monotonic() - started < 0.55  # the other chat did not wait behind the first


async def test_token_never_in_logs_or_table(
    notifier: TelegramNotifier, fake_telegram: FakeTelegram, caplog: pytest.LogCaptureFixture
) -> None:
    for name in TOKEN_LOGGERS:
        caplog.set_level(logging.DEBUG, logger=name)
    good = fake_telegram.add_bot(chats=[11])
    revoked = "987654321:" + "Q" * 35
    blocked = fake_telegram.add_bot(chats=[12])
    fake_telegram.block(blocked, 12)
    users = [await make_user(good, 11), await make_user(revoked, 11), await make_user(blocked, 12)]
    for address in users:
        await notifier.notify(address, "error", TradingError("paper", "x", "y"))
    logged = caplog.text + "".join(r.getMessage() for r in caplog.records)
    assert "HTTP Request: POST" in logged and "/bot[REDACTED]/sendMessage" in logged  # httpx did log
    assert "Set Bot API URL" in logged  # PTB did log its base URL, redacted
    stored = "".join(f"{r.text}{r.error}" for r in await rows())
    for token in (good, revoked, blocked):
        assert token not in logged and token.split(":")[1] not in logged
        assert token not in stored
    assert [r.status for r in await rows()] == ["sent", "failed", "failed"]
