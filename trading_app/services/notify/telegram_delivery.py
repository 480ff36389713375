"""How each trader's bot receives commands: a webhook with a public API_URL, else polling.

- Webhook (API_URL is https and not a loopback or .local host): `setWebhook` to
  `{API_URL}/api/telegram/{hook_id}` with a random `secret_token` per trader; only its SHA-256 is
  stored. Telegram then POSTs every update there (see `telegram_updates.webhook_update`).
- Polling (development, no public URL): the webhook is removed and one worker at a time polls
  the bot with getUpdates (`telegram_polling`).

`sync_delivery` sets a trader's bot up (after Settings saves a token or chat, and for rows whose
token or mode is out of date); its outcome is stored in the row, so Settings shows the mode and
whether the bot answered. A revoked token ends as `bad_token` (polling stops until a new token);
a replaced one first has its webhook removed with the old token (`forget_token`).
"""

from __future__ import annotations

import asyncio
import logging
import secrets
import urllib.parse
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import select as sa_select
from sqlalchemy import update
from sqlalchemy.exc import IntegrityError
from sqlmodel import col
from telegram import Bot

from trading_app.db.engine import session_scope
from trading_app.db.models import TelegramLink, User
from trading_app.domain.clock import utcnow
from trading_app.services.notify import telegram_api as tg
from trading_app.services.notify.notifier import get_notifier
from trading_app.services.notify.telegram_setup import MESSAGES
from trading_app.services.notify.telegram_updates import linked_bot, secret_digest
from trading_app.services.security.crypto import DecryptionError
from trading_app.settings import get_settings

log = logging.getLogger(__name__)

__all__ = [
    "DeliveryStatus",
    "begin_discovery",
    "check_delivery",
    "delivery_mode",
    "delivery_status",
    "forget_token",
    "mark_unreadable",
    "sync_delivery",
    "failure_values",
    "shared_bot",
    "store_link",
    "sync_stale",
]

ALLOWED_UPDATES = ["message", "callback_query"]
LEASE_TTL = timedelta(seconds=30)
# how long a chat id discovery keeps the bot's updates for getUpdates (no webhook, no poller)
DISCOVERY_TTL = timedelta(minutes=10)
RECHECK_EVERY = timedelta(hours=1)  # a revoked token or a removed webhook is noticed this late
_LOCAL_HOSTS = ("localhost", "127.0.0.1", "::1", "0.0.0.0")  # noqa: S104 - names, not a bind


def webhook_base() -> str | None:
    """The public base of our API when Telegram can reach it (https, not a local host), else None."""
    url = urllib.parse.urlsplit(get_settings().api_url.strip())
    host = (url.hostname or "").lower()
    if url.scheme != "https" or not host or host in _LOCAL_HOSTS or host.endswith((".local", ".localhost")):
        return None
    return f"https://{url.netloc}{url.path.rstrip('/')}"


def delivery_mode() -> str:
    """`webhook` or `polling`, from the configured API_URL."""
    return "webhook" if webhook_base() else "polling"


@dataclass(frozen=True)
class DeliveryStatus:
    """What Settings shows: the mode, whether the bot answered, and words for the trader."""

    mode: str  # webhook, polling, off
    reachable: bool | None  # None: not checked yet
    message: str
    checked_at: datetime | None


async def _link(user: str) -> TelegramLink:
    try:
        return await _get_or_add_link(user)
    except IntegrityError:
        # another worker created the row at the same moment (every worker looks at every bot at
        # start-up): theirs is the row
        return await _get_or_add_link(user)


async def _get_or_add_link(user: str) -> TelegramLink:
    async with session_scope() as session:
        link = await session.get(TelegramLink, user)
        if link is None:
            link = TelegramLink(user_address=user, hook_id=secrets.token_urlsafe(24))
            session.add(link)
        await session.flush()
        session.expunge(link)
    return link


async def store_link(user: str, **values: object) -> None:
    """Update the trader's `telegram_links` row (no row: nothing happens)."""
    async with session_scope() as session:
        await session.execute(
            update(TelegramLink).where(col(TelegramLink.user_address) == user).values(**values)
        )


async def _token_set_at(user: str) -> datetime | None:
    async with session_scope() as session:
        row = await session.get(User, user)
    return row.telegram_token_set_at if row is not None else None


async def mark_unreadable(user: str) -> None:
    """The stored token cannot be decrypted with the loaded master keys: told in Settings, and the
    bot is neither polled nor set up until the trader saves a token again (which syncs afresh).
    Without this, every poll round restarted a poll that died at once (a traceback a second)."""
    log.warning("the Telegram token of %s cannot be decrypted (retired master key?); not used", user)
    await store_link(user, status="unreadable", status_detail=MESSAGES["unreadable"], owner=None,
                     checked_at=utcnow())


async def sync_delivery(user: str) -> DeliveryStatus:
    """Set the trader's bot up for the configured mode and record how it went (never raises)."""
    link = await _link(user)
    try:
        linked = await linked_bot(user)
    except DecryptionError:
        await mark_unreadable(user)
        return await delivery_status(user)
    now = utcnow()
    if linked is None:
        await store_link(user, mode="off", secret_hash=None, owner=None, status="unknown", status_detail=None,
                     checked_at=now, token_set_at=None)
        return await delivery_status(user)
    mode = delivery_mode()
    values: dict[str, object] = {"mode": mode, "token_set_at": await _token_set_at(user), "checked_at": now}
    try:
        bot = await shared_bot(linked.token)
        if mode == "webhook":
            secret = secrets.token_urlsafe(32)
            await bot.set_webhook(
                f"{webhook_base()}/api/telegram/{link.hook_id}",
                secret_token=secret,
                allowed_updates=ALLOWED_UPDATES,
            )
            values["secret_hash"] = secret_digest(secret)
        else:
            await bot.delete_webhook(drop_pending_updates=False)
            await bot.get_me()
            values["secret_hash"] = None
        values.update(status="ok", status_detail=None)
    except Exception as e:  # noqa: BLE001 - stored for Settings, never raised
        values.update(failure_values(e, linked.token))
    await store_link(user, **values)
    return await delivery_status(user)


async def check_delivery(user: str) -> DeliveryStatus:
    """Look without changing anything (getWebhookInfo, or getMe when polling); a webhook that is
    gone or points elsewhere, or a row of another mode, is set up again (`sync_delivery`)."""
    async with session_scope() as session:
        link = await session.get(TelegramLink, user)
    try:
        linked = await linked_bot(user)
    except DecryptionError:
        await mark_unreadable(user)
        return await delivery_status(user)
    if link is None or linked is None or link.mode != delivery_mode():
        return await sync_delivery(user)
    values: dict[str, object] = {"status": "ok", "status_detail": None}
    try:
        bot = await shared_bot(linked.token)
        if link.mode == "webhook":
            info = await bot.get_webhook_info()
            if info.url != f"{webhook_base()}/api/telegram/{link.hook_id}":
                return await sync_delivery(user)
        else:
            await bot.get_me()
    except Exception as e:  # noqa: BLE001 - stored for Settings, never raised
        values = failure_values(e, linked.token)
    await store_link(user, checked_at=utcnow(), **values)
    return await delivery_status(user)


async def shared_bot(token: str) -> Bot:
    """A `Bot` for `token` on the notifier's shared HTTP client (for one call)."""
    return await get_notifier().pool.bot(token)


def failure_values(error: BaseException, token: str) -> dict[str, object]:
    """The row's status and words for the trader after a failed Bot API call (never the token)."""
    code = tg.reason_code(error)
    words = MESSAGES.get(code, "Telegram refused: {detail}")
    detail = tg.describe(error, token).split(": ", 1)[-1]
    return {"status": code, "status_detail": words.format(seconds="a few", detail=detail)[:256]}


async def forget_token(user: str, old_token: str) -> None:
    """Before a token is replaced or removed: delete its webhook while it still works (best effort)."""
    try:
        bot = await shared_bot(old_token)
        await asyncio.wait_for(bot.delete_webhook(drop_pending_updates=False), timeout=10)
    except Exception as e:  # noqa: BLE001 - a revoked token cannot delete anything: nothing to undo
        log.info("could not remove the old webhook of %s: %s", user, tg.describe(e, old_token))
    await store_link(user, secret_hash=None, owner=None, update_offset=0)


async def begin_discovery(user: str) -> None:
    """The settings page's chat id discovery reads the bot's /start with getUpdates itself: until
    it ends (a chat is saved, or `DISCOVERY_TTL` passes) the webhook is removed and nobody polls."""
    try:
        linked = await linked_bot(user)
    except DecryptionError:
        linked = None  # the discovery's own getUpdates needs the token the trader is typing anew
    if linked is not None:
        try:
            await (await shared_bot(linked.token)).delete_webhook(drop_pending_updates=False)
        except Exception as e:  # noqa: BLE001 - the discovery reports a bad token itself
            log.info("could not remove the webhook of %s: %s", user, tg.describe(e, linked.token))
    await store_link(user, status="discovery", status_detail=None, owner=None, checked_at=utcnow())


async def delivery_status(user: str) -> DeliveryStatus:
    """The mode and the last check of the trader's bot, for Settings."""
    async with session_scope() as session:
        link = await session.get(TelegramLink, user)
    if link is None or link.mode == "off":
        return DeliveryStatus("off", None, "Commands need a saved bot token and chat id.", None)
    how = "polling (this app asks Telegram)"
    if link.mode == "webhook":
        how = "webhook (Telegram calls this app)"
    if link.status == "ok":
        return DeliveryStatus(link.mode, True, f"Commands by {how}: the bot answers.", link.checked_at)
    if link.status == "discovery":
        return DeliveryStatus(link.mode, None, "Waiting for Start in your bot's chat.", link.checked_at)
    if link.status == "unknown":
        return DeliveryStatus(link.mode, None, f"Commands by {how}: not checked yet.", link.checked_at)
    detail = link.status_detail or link.status
    return DeliveryStatus(link.mode, False, f"Commands by {how}: not reachable. {detail}", link.checked_at)


async def sync_stale(limit: int = 50) -> list[str]:
    """Set up the bots whose row is missing, of another mode, made for an older token or left by
    a discovery that ended; look at those not checked for `RECHECK_EVERY` (`check_delivery`).

    Returns:
        The traders whose bot was set up or looked at.
    """
    mode = delivery_mode()
    async with session_scope() as session:
        rows = (
            await session.execute(
                sa_select(
                    col(User.address),
                    col(User.telegram_token_set_at),
                    col(TelegramLink.mode),
                    col(TelegramLink.token_set_at),
                    col(TelegramLink.status),
                    col(TelegramLink.checked_at),
                )
                .outerjoin(TelegramLink, col(TelegramLink.user_address) == col(User.address))
                .where(col(User.telegram_token_enc).is_not(None))
                .limit(limit * 4)
            )
        ).all()
    ended = utcnow() - DISCOVERY_TTL
    stale = [
        a
        for a, set_at, m, link_set_at, status, checked in rows
        if m != mode
        or link_set_at != set_at
        or (status == "discovery" and (checked is None or checked < ended))
    ][:limit]
    due = utcnow() - RECHECK_EVERY
    looks = [
        a
        for a, _, _, _, status, checked in rows
        if a not in stale and status != "discovery" and (checked is None or checked < due)
    ][: max(limit - len(stale), 0)]
    for address in stale:
        await sync_delivery(address)
    for address in looks:
        await check_delivery(address)
    return stale + looks
