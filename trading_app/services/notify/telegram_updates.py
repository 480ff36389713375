"""Updates from a trader's own bot: who may command, and the answer, whichever way they arrived.

Updates come by webhook (`webhook_update`, called by `POST /api/telegram/{hook_id}`) or by
polling (`telegram_polling`); both end in `handle_update`. Only the chat saved in Settings
commands the trader's account: any other chat gets `NOT_LINKED` and nothing else (not even
whether the bot belongs to anyone). Updates are handled once: `telegram_links.update_offset`
holds the next update id expected, so a webhook delivery Telegram repeats is skipped.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import logging
from dataclasses import dataclass

from sqlalchemy import update
from sqlmodel import col, select
from telegram import Bot, InlineKeyboardButton, InlineKeyboardMarkup, LinkPreviewOptions, Update
from telegram.constants import ParseMode

from trading_app.db.engine import session_scope
from trading_app.db.models import TelegramLink, User
from trading_app.services.notify import telegram_api as tg
from trading_app.services.notify.command_confirm import Reply, confirm
from trading_app.services.notify.commands import NOT_LINKED, run_command
from trading_app.services.notify.notifier import get_notifier
from trading_app.services.ops.logs import log_context
from trading_app.services.security.crypto import DecryptionError
from trading_app.services.security.secrets import open_secret

log = logging.getLogger(__name__)

__all__ = ["Linked", "handle_update", "linked_bot", "secret_digest", "webhook_update"]

MAX_UPDATE_BYTES = 1 << 20
# compared when the hook id is unknown, so a miss costs the same as a wrong secret
_NOBODY = hashlib.sha256(b"no such hook").hexdigest()


def secret_digest(secret: str) -> str:
    """What we keep of a webhook secret token: its SHA-256 (Telegram sends the secret itself)."""
    return hashlib.sha256(secret.encode()).hexdigest()


@dataclass(frozen=True)
class Linked:
    """A trader's bot, opened for one batch of updates (never cached, never logged)."""

    user: str
    token: str
    chat_id: str | None

    def __repr__(self) -> str:
        return f"Linked(user={self.user!r})"


async def linked_bot(user: str) -> Linked | None:
    """The trader's token and saved chat, opened for this call; None without a token."""
    async with session_scope() as session:
        row = await session.get(User, user)
    if row is None or not row.telegram_token_enc:
        return None
    token = open_secret(user, "telegram_token_enc", row.telegram_token_enc)
    chat_enc = row.telegram_chat_id_enc
    chat = open_secret(user, "telegram_chat_id_enc", chat_enc) if chat_enc else None
    return Linked(user, token, chat)


async def _bot(token: str) -> Bot:
    return await get_notifier().pool.bot(token)


async def _send(bot: Bot, chat_id: int, reply: Reply) -> None:
    markup = None
    if reply.buttons:
        markup = InlineKeyboardMarkup([[InlineKeyboardButton(t, callback_data=d) for t, d in reply.buttons]])
    await bot.send_message(
        chat_id,
        reply.text,
        parse_mode=ParseMode.HTML,
        reply_markup=markup,
        link_preview_options=LinkPreviewOptions(is_disabled=True),
    )


async def handle_update(linked: Linked, data: dict[str, object]) -> None:
    """Answer one update of `linked`'s bot (a command message or a button tap).

    Every log line written meanwhile (the answer, a close it confirms) names the trader.
    """
    with log_context(user=linked.user):
        await _handle(linked, data)


async def _handle(linked: Linked, data: dict[str, object]) -> None:
    bot = await _bot(linked.token)
    upd = Update.de_json(data, bot)
    if upd.callback_query is not None:
        query = upd.callback_query
        chat = query.message.chat.id if query.message is not None else None
        if linked.chat_id is None or str(chat) != linked.chat_id:
            await bot.answer_callback_query(query.id, text=NOT_LINKED)
            return
        answer = await confirm(linked.user, query.data or "")
        await bot.answer_callback_query(query.id, text=answer.notice)
        if answer.text is not None and query.message is not None:
            await bot.edit_message_text(
                answer.text, chat_id=chat, message_id=query.message.message_id, parse_mode=ParseMode.HTML
            )
        return
    message = upd.message
    if message is None or not message.text or not message.text.startswith("/"):
        return  # plain chatter, edits, joins: nothing to do
    if linked.chat_id is None or str(message.chat.id) != linked.chat_id:
        await _send(bot, message.chat.id, Reply(NOT_LINKED))
        return
    await _send(bot, message.chat.id, await run_command(linked.user, message.text))


async def take_update(user: str, update_id: int) -> bool:
    """Mark `update_id` handled; False when it (or a later one) was handled already."""
    async with session_scope() as session:
        result = await session.execute(
            update(TelegramLink)
            .where(col(TelegramLink.user_address) == user, col(TelegramLink.update_offset) <= update_id)
            .values(update_offset=update_id + 1)
            .returning(col(TelegramLink.user_address))
        )
        return result.first() is not None


async def webhook_update(hook_id: str, secret: str | None, body: bytes) -> int:
    """One webhook delivery: the HTTP status to answer (401 for a wrong secret, nothing run).

    The secret token header is compared in constant time with the digest we keep; an unknown
    hook id is compared too (against nothing anyone knows) and gets the same 401.
    """
    async with session_scope() as session:
        link = (await session.exec(select(TelegramLink).where(TelegramLink.hook_id == hook_id))).first()
    usable = link is not None and link.mode == "webhook" and link.secret_hash
    expected = link.secret_hash if usable and link is not None and link.secret_hash else _NOBODY
    given = secret_digest(secret or "")
    if not hmac.compare_digest(given, expected) or link is None or expected == _NOBODY or not secret:
        return 401
    try:
        data = json.loads(body)
        update_id = int(data["update_id"])
    except (ValueError, KeyError, TypeError):
        return 400
    try:
        linked = await linked_bot(link.user_address)
    except DecryptionError:
        # our keys cannot open the token (Settings says so after the next check): answered 200,
        # as a 5xx would make Telegram repeat the delivery for nothing
        log.warning("telegram update for %s not answered: its token cannot be decrypted", link.user_address)
        return 200
    if linked is None:
        return 200  # the token was removed: nothing of this trader's is answered any more
    if not await take_update(link.user_address, update_id):
        return 200  # a repeated delivery
    try:
        await handle_update(linked, data)
    except Exception as e:  # noqa: BLE001 - answered 200 anyway: Telegram would repeat it for ever
        log.warning("telegram update for %s failed: %s", link.user_address, tg.describe(e, linked.token))
    return 200
