"""Connecting a trader's own bot: the settings page's connection test and chat id discovery.

These take the plaintext token the trader just typed (or the settings service just opened) and
use it for one call. Results carry a reason code and a message fit for the trader; neither ever
contains the token.
"""

from __future__ import annotations

import re
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass

from telegram import Bot, LinkPreviewOptions
from telegram.constants import ParseMode
from telegram.error import Conflict, RetryAfter

from trading_app.services.notify.telegram_api import (
    TOKEN_SHAPE,
    BotPool,
    describe,
    reason_code,
    retry_after_seconds,
)

CHAT_ID_SHAPE = re.compile(r"^(-?\d{1,20}|@[A-Za-z][A-Za-z0-9_]{4,31})$")
START_CODE_SHAPE = re.compile(r"^[A-Za-z0-9_-]{1,64}$")  # Telegram's deep-link payload alphabet
TEST_TEXT = "✅ <b>Connected.</b> Your trading notifications will arrive in this chat."

MESSAGES = {
    "ok": "Test message sent. Check your Telegram.",
    "bad_token": "Telegram rejected the bot token. Copy it again from @BotFather.",
    "chat_not_found": "Chat not found. Open your bot in Telegram, press Start, then check the chat id.",
    "bot_blocked": "The bot is blocked in this chat. Unblock it in Telegram and try again.",
    "forbidden": "The bot may not write to this chat. Open the bot in Telegram and press Start first.",
    "network_error": "Could not reach Telegram. Try again in a moment.",
    "rate_limited": "Telegram asked us to slow down. Try again in {seconds} seconds.",
    "bad_request": "Telegram refused the message: {detail}",
    "conflict": "The bot is used by another program (webhook or polling). Stop it and try again.",
    "chat_migrated": "This group became a supergroup: use its new chat id.",
    # the server's keys cannot open the stored token (the key it was saved under was retired)
    "unreadable": "The saved bot token can no longer be read on this server. Save the token again.",
}


@dataclass(frozen=True)
class TestResult:
    """Outcome of a connection test. `reason_code` is one of `MESSAGES`' keys."""

    __test__ = False  # not a pytest class, despite the name

    ok: bool
    reason_code: str
    message: str


class TelegramCheckFailed(Exception):
    """A setup call failed; `reason_code` as in `TestResult`, the message is safe to show."""

    def __init__(self, reason: str, message: str) -> None:
        super().__init__(message)
        self.reason_code = reason
        self.message = message


def _failure(exc: BaseException, token: str) -> TestResult:
    code = reason_code(exc)
    detail = describe(exc, token).split(": ", 1)[-1]
    seconds = int(retry_after_seconds(exc)) if isinstance(exc, RetryAfter) else 0
    template = MESSAGES.get(code, "Telegram call failed: {detail}")
    return TestResult(False, code, template.format(seconds=seconds, detail=detail))


@asynccontextmanager
async def _one_off_bot(token: str, base_url: str | None, http_timeout: float) -> AsyncIterator[Bot]:
    # a private client, closed afterwards: these calls are rare and must not disturb the shared one
    pool = BotPool(base_url=base_url, timeout=http_timeout, pool_size=2)
    try:
        yield await pool.bot(token)
    finally:
        await pool.aclose()


def _check_token(token: str) -> str:
    token = (token or "").strip()
    if not TOKEN_SHAPE.match(token):
        raise TelegramCheckFailed("bad_token", "That does not look like a bot token (digits:letters).")
    return token


async def send_test_message(
    token: str, chat_id: str, base_url: str | None = None, http_timeout: float = 10.0
) -> TestResult:
    """Prove that `token` can write to `chat_id` by sending a short message there.

    Args:
        token: The bot token the trader entered (plaintext, used for this call only).
        chat_id: A numeric chat id or an @channel name.
        base_url: The Bot API base ending in /bot (default: settings.telegram_api_base_url).
        http_timeout: Seconds allowed for each HTTP phase (connect, write, read).

    Returns:
        TestResult with reason_code ok, bad_token, chat_not_found, bot_blocked, forbidden,
        network_error, rate_limited, or bad_request. Never raises for Telegram failures.
    """
    try:
        token = _check_token(token)
    except TelegramCheckFailed as e:
        return TestResult(False, e.reason_code, e.message)
    chat = (chat_id or "").strip()
    if not CHAT_ID_SHAPE.match(chat):
        return TestResult(
            False, "chat_not_found", "That chat id does not look right: use digits like 123456789."
        )
    try:
        async with _one_off_bot(token, base_url, http_timeout) as bot:
            await bot.send_message(
                chat,
                TEST_TEXT,
                parse_mode=ParseMode.HTML,
                link_preview_options=LinkPreviewOptions(is_disabled=True),
            )
    except Exception as e:  # noqa: BLE001 - every failure becomes a reason for the trader
        return _failure(e, token)
    return TestResult(True, "ok", MESSAGES["ok"])


async def bot_username(token: str, base_url: str | None = None, http_timeout: float = 10.0) -> str:
    """The bot's @username (without @) via getMe, for the https://t.me/<username>?start=<code> link.

    Raises:
        TelegramCheckFailed: bad token, network error, ...
    """
    token = _check_token(token)
    try:
        async with _one_off_bot(token, base_url, http_timeout) as bot:
            me = await bot.get_me()
    except Exception as e:  # noqa: BLE001
        failure = _failure(e, token)
        raise TelegramCheckFailed(failure.reason_code, failure.message) from None
    if not me.username:
        raise TelegramCheckFailed("bad_token", "This token does not belong to a bot with a username.")
    return me.username


async def discover_chat_id(
    token: str, code: str, base_url: str | None = None, http_timeout: float = 10.0
) -> str | None:
    """Find the chat that sent `/start <code>` to the bot (after the trader opened the deep link).

    Reads pending updates once (deleting a webhook first if Telegram answers 409), and on a match
    confirms the updates up to it so they are not delivered again.

    Returns:
        The chat id as text, or None when nobody has pressed Start with this code yet.

    Raises:
        ValueError: `code` is not 1-64 characters of A-Z a-z 0-9 _ -.
        TelegramCheckFailed: bad token, network error, ...
    """
    if not START_CODE_SHAPE.match(code or ""):
        raise ValueError("the start code must be 1-64 characters of A-Z a-z 0-9 _ -")
    token = _check_token(token)
    wanted = re.compile(rf"^/start(@\w+)?\s+{re.escape(code)}$")
    try:
        async with _one_off_bot(token, base_url, http_timeout) as bot:
            try:
                updates = await bot.get_updates(timeout=0, allowed_updates=["message"])
            except Conflict:  # a webhook is set: getUpdates is refused until it is removed
                await bot.delete_webhook(drop_pending_updates=False)
                updates = await bot.get_updates(timeout=0, allowed_updates=["message"])
            for update in reversed(updates):
                message = update.message
                if message and message.text and wanted.match(message.text.strip()):
                    await bot.get_updates(offset=update.update_id + 1, timeout=0)
                    return str(message.chat.id)
    except Exception as e:  # noqa: BLE001
        failure = _failure(e, token)
        raise TelegramCheckFailed(failure.reason_code, failure.message) from None
    return None
