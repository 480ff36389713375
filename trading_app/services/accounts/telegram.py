"""A trader's Telegram bot: token and chat id sealed at rest, the connection test, chat id discovery.

Both the token and the chat id are secrets here (`users.telegram_token_enc`,
`users.telegram_chat_id_enc`): the page shows only when each was set. The test and the discovery
use what the trader just typed when given, otherwise the saved values, opened for that one call.
"""

from __future__ import annotations

import logging
import secrets
from dataclasses import dataclass
from typing import TypeGuard

from trading_app.db.engine import session_scope
from trading_app.db.models import Notification
from trading_app.domain.clock import utcnow
from trading_app.services.accounts.account import SettingsInvalid, load_account
from trading_app.services.notify.telegram_api import TOKEN_SHAPE
from trading_app.services.notify.telegram_delivery import begin_discovery, forget_token, sync_delivery
from trading_app.services.notify.telegram_setup import (
    CHAT_ID_SHAPE,
    TelegramCheckFailed,
    TestResult,
    bot_username,
    discover_chat_id,
    send_test_message,
)
from trading_app.services.security.crypto import DecryptionError
from trading_app.services.security.secrets import open_secret, seal

MAX_TOKEN_CHARS = 128  # real tokens are about 46 characters
NOT_CONFIGURED = "Enter a bot token and a chat id (or save them first), then send the test."


@dataclass(frozen=True)
class Discovery:
    """A started chat id discovery: the trader opens `link` in Telegram and presses Start."""

    link: str
    code: str  # the one-time /start payload; keep it server-side until `finish_chat_discovery`


log = logging.getLogger(__name__)


def normalize_bot_token(token: str) -> str:
    """Check the shape of a Telegram bot token ("123456789:AAE...")."""
    value = (token or "").strip()
    if len(value) > MAX_TOKEN_CHARS or not TOKEN_SHAPE.match(value):
        raise SettingsInvalid("telegram_token", "A bot token looks like 123456789:AAE... (from @BotFather).")
    return value


def normalize_chat_id(chat_id: str) -> str:
    """Check a chat id: a number (negative for groups and channels) or @channelusername."""
    value = (chat_id or "").strip()
    if not CHAT_ID_SHAPE.match(value):
        raise SettingsInvalid(
            "telegram_chat_id", "A chat id is a number like 123456789 (or -100... for a group)."
        )
    return value


def _entered(value: str | None) -> TypeGuard[str]:
    return bool(value and value.strip())


async def save_telegram(address: str, token: str | None = None, chat_id: str | None = None) -> None:
    """Save the bot token and/or the chat id; an empty value keeps the saved one.

    Raises:
        SettingsInvalid: A malformed value, or nothing entered; nothing was saved.
    """
    token = normalize_bot_token(token) if _entered(token) else None
    chat_id = normalize_chat_id(chat_id) if _entered(chat_id) else None
    if token is None and chat_id is None:
        raise SettingsInvalid("telegram_token", "Enter a bot token or a chat id to save.")
    old_token = (await _saved(address))[0] if token is not None else None
    if old_token and old_token != token:
        await forget_token(address, old_token)  # its webhook would keep pointing at us
    async with session_scope() as session:
        user, _ = await load_account(session, address, for_update=True)
        now = utcnow()
        if token is not None:
            user.telegram_token_enc = seal(address, "telegram_token_enc", token)
            user.telegram_token_set_at = now
        if chat_id is not None:
            user.telegram_chat_id_enc = seal(address, "telegram_chat_id_enc", chat_id)
            user.telegram_chat_id_set_at = now
        session.add(user)
    await sync_delivery(address)  # commands by webhook or polling; the outcome shows in Settings


async def remove_telegram(address: str) -> None:
    """Forget the bot token and chat id (notifications and commands stop)."""
    old_token = (await _saved(address))[0]
    if old_token:
        await forget_token(address, old_token)
    async with session_scope() as session:
        user, _ = await load_account(session, address, for_update=True)
        user.telegram_token_enc = user.telegram_chat_id_enc = None
        user.telegram_token_set_at = user.telegram_chat_id_set_at = None
        session.add(user)
    await sync_delivery(address)


async def _saved(address: str) -> tuple[str | None, str | None]:
    async with session_scope() as session:
        user, _ = await load_account(session, address)
        token_enc, chat_enc = user.telegram_token_enc, user.telegram_chat_id_enc
    token = _opened(address, "telegram_token_enc", token_enc)
    return token, _opened(address, "telegram_chat_id_enc", chat_enc)


def _opened(address: str, column: str, sealed: str | None) -> str | None:
    """A saved value, or None when there is none or the loaded master keys cannot open it (a
    retired key): the trader enters it again, as if it had never been saved."""
    if not sealed:
        return None
    try:
        return open_secret(address, column, sealed)
    except DecryptionError:
        log.warning("the saved %s of %s cannot be decrypted (retired master key?)", column, address)
        return None


async def send_telegram_test(
    address: str, token: str | None = None, chat_id: str | None = None
) -> TestResult:
    """Send a test message with the typed values, falling back to the saved ones; record the attempt.

    Returns:
        The outcome: ok, or the exact reason (bad_token, chat_not_found, bot_blocked,
        network_error, ...; "not_configured" when there is nothing to test with).
    """
    saved_token, saved_chat = await _saved(address)
    use_token = token.strip() if _entered(token) else saved_token
    use_chat = chat_id.strip() if _entered(chat_id) else saved_chat
    if not use_token or not use_chat:
        return TestResult(False, "not_configured", NOT_CONFIGURED)
    result = await send_test_message(use_token, use_chat)
    async with session_scope() as session:
        session.add(
            Notification(
                user_address=address,
                kind="test",
                text="Connection test",
                status="sent" if result.ok else "failed",
                error=None if result.ok else result.reason_code,
            )
        )
    return result


async def start_chat_discovery(address: str, token: str | None = None) -> Discovery:
    """Make the deep link the trader opens to tell us their chat (typed token, else the saved one).

    Raises:
        SettingsInvalid: No token, or Telegram refused it (the message says why).
    """
    use_token = normalize_bot_token(token) if _entered(token) else (await _saved(address))[0]
    if not use_token:
        raise SettingsInvalid("telegram_token", "Enter your bot token first.")
    try:
        username = await bot_username(use_token)
    except TelegramCheckFailed as e:
        raise SettingsInvalid("telegram_token", e.message) from None
    # the /start must wait in getUpdates for us: the saved bot (the same one, mostly) is neither
    # polled nor on a webhook until the discovery ends
    await begin_discovery(address)
    code = secrets.token_urlsafe(12)
    return Discovery(link=f"https://t.me/{username}?start={code}", code=code)


async def finish_chat_discovery(address: str, code: str, token: str | None = None) -> bool:
    """Look for the trader's /start with `code`; when found, save the chat id (and the typed token).

    Returns:
        True when the chat was found and saved; False when Start has not been pressed yet.

    Raises:
        SettingsInvalid: No token, or Telegram refused it.
    """
    typed = normalize_bot_token(token) if _entered(token) else None
    use_token = typed or (await _saved(address))[0]
    if not use_token:
        raise SettingsInvalid("telegram_token", "Enter your bot token first.")
    try:
        chat = await discover_chat_id(use_token, code)
    except TelegramCheckFailed as e:
        raise SettingsInvalid("telegram_token", e.message) from None
    if chat is None:
        return False
    await save_telegram(address, token=typed, chat_id=chat)
    return True
