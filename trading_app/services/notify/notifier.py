"""Telling traders what happened, through their own Telegram bot, without ever hurting trading.

Each attempt leaves a row in `notifications` (sent, failed with the reason, or skipped when the
user has no Telegram configured). Nothing here raises into the caller. The user's token and chat id
are decrypted inside the send and dropped with it; they are never cached, logged or stored.

Trading code calls `notifier.notify_soon(address, kind, event)`: the send runs as a background task
(kept referenced until it ends) so a slow Telegram never delays an order. Tests `await notify(...)`.
"""

from __future__ import annotations

import asyncio
import hashlib
import logging
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from enum import StrEnum
from typing import Protocol

from sqlalchemy import Insert, Table, bindparam, insert, or_, select
from telegram import LinkPreviewOptions
from telegram.constants import ParseMode
from telegram.error import RetryAfter

from trading_app.db.engine import autocommit_connection
from trading_app.db.models import Notification, User
from trading_app.domain.clock import utcnow
from trading_app.services.notify import telegram_api as tg
from trading_app.services.notify.messages import Event, render
from trading_app.services.security.secrets import open_secret

log = logging.getLogger(__name__)

_USERS: Table = User.__table__  # type: ignore[attr-defined]
_NOTIFICATIONS: Table = Notification.__table__  # type: ignore[attr-defined]
tg.configure_logging()  # in case the app did not call it yet: httpx would log URLs with tokens


class DeliveryStatus(StrEnum):
    """What became of one notification (the `notifications.status` column)."""

    SENT = "sent"
    FAILED = "failed"
    SKIPPED = "skipped"  # the user has not configured Telegram


class Notifier(Protocol):
    """Where trading code sends its news. Implementations never raise.

    `text_or_event` is either an event from `trading_app.services.notify.messages` (it renders its own
    escaped HTML) or a plain text, which is escaped whole: never pass pre-built HTML as a str.
    """

    async def notify(self, user_address: str, kind: str, text_or_event: str | Event) -> DeliveryStatus:
        """Deliver now and record the outcome."""
        ...

    def notify_soon(
        self, user_address: str, kind: str, text_or_event: str | Event
    ) -> asyncio.Task[DeliveryStatus] | None:
        """Deliver in the background; returns the task (None when there is no running loop)."""
        ...


@dataclass
class _Pace:
    lock: asyncio.Lock
    last: float = 0.0


class TelegramNotifier:
    """Sends through each user's own bot over one shared HTTP client.

    Args:
        pool: The shared client holder (default: a new `BotPool` on settings.telegram_api_base_url).
        min_interval: Seconds between two messages to the same (bot, chat); Telegram allows ~1/s.
        max_retry_wait: The longest flood-control wait honoured (once) before giving up.
    """

    def __init__(
        self, pool: tg.BotPool | None = None, min_interval: float = 1.0, max_retry_wait: float = 30.0
    ):
        self.pool = pool or tg.BotPool()
        self.min_interval = min_interval
        self.max_retry_wait = max_retry_wait
        self._tasks: set[asyncio.Task[DeliveryStatus]] = set()
        self._paces: dict[str, _Pace] = {}
        self._loop: asyncio.AbstractEventLoop | None = None

    async def notify(self, user_address: str, kind: str, text_or_event: str | Event) -> DeliveryStatus:
        """Send now; always records one row (unless the user does not exist) and never raises."""
        try:
            text = render(text_or_event)
        except Exception as e:  # noqa: BLE001 - a bad message must not break the caller either
            return await self._record(
                user_address,
                kind,
                f"[{kind}] (message could not be built)",
                DeliveryStatus.FAILED,
                tg.describe(e),
            )
        if await self._skipped(user_address, kind, text):
            return DeliveryStatus.SKIPPED
        try:
            status, error = await self._deliver(user_address, text)
        except Exception as e:  # noqa: BLE001
            status, error = DeliveryStatus.FAILED, tg.describe(e)
        if status is None:
            return DeliveryStatus.SKIPPED
        return await self._record(user_address, kind, text, status, error)

    def notify_soon(
        self, user_address: str, kind: str, text_or_event: str | Event
    ) -> asyncio.Task[DeliveryStatus] | None:
        """Schedule `notify` on the running loop and keep the task referenced until it finishes."""
        try:
            task = asyncio.get_running_loop().create_task(self.notify(user_address, kind, text_or_event))
        except RuntimeError:
            log.warning("telegram %s notification for %s dropped: no running event loop", kind, user_address)
            return None
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)
        return task

    async def drain(self, within: float | None = None) -> None:
        """Wait for the background sends still running (tests, shutdown)."""
        pending = [t for t in self._tasks if not t.done()]
        if pending:
            await asyncio.wait(pending, timeout=within)

    async def aclose(self) -> None:
        """Finish pending sends (bounded) and close the shared client."""
        await self.drain(within=self.max_retry_wait + 15)
        await self.pool.aclose()

    async def _skipped(self, address: str, kind: str, text: str) -> bool:
        """Record SKIPPED in one statement when the user has no Telegram linked; False otherwise
        (linked, unknown user, or the statement failed: `_deliver` reads the user and decides)."""
        try:
            async with autocommit_connection() as conn:
                done = await conn.execute(
                    _RECORD_SKIPPED, _values(address, kind, text, DeliveryStatus.SKIPPED, None)
                )
                return done.first() is not None
        except Exception as e:  # noqa: BLE001 - the two-statement way below tries again
            log.warning(
                "could not check Telegram for a %s notification to %s: %s", kind, address, type(e).__name__
            )
            return False

    async def _deliver(self, address: str, text: str) -> tuple[DeliveryStatus | None, str | None]:
        # two columns in one autocommit statement, no ORM object: every alert's outcome passes
        # here, most of them for traders without Telegram (bench/burst.py's rejection round)
        async with autocommit_connection() as conn:
            row = (
                await conn.execute(
                    select(_USERS.c.telegram_token_enc, _USERS.c.telegram_chat_id_enc).where(
                        _USERS.c.address == address
                    )
                )
            ).first()
        if row is None:
            # no row can reference a user that does not exist; say so once in the log
            log.warning("telegram notification for unknown user %s dropped", address)
            return None, None
        token_enc, chat_enc = row
        if not token_enc or not chat_enc:
            return DeliveryStatus.SKIPPED, None
        return await self._send(address, token_enc, chat_enc, text)

    async def _send(
        self, address: str, token_enc: str, chat_enc: str, text: str
    ) -> tuple[DeliveryStatus, str | None]:
        token = ""
        try:
            # decrypted here and only for this call
            token = open_secret(address, "telegram_token_enc", token_enc)
            chat_id = open_secret(address, "telegram_chat_id_enc", chat_enc)
            bot = await self.pool.bot(token)
            async with self._paced(token, chat_id):
                try:
                    await self._send_once(bot, chat_id, text)
                except RetryAfter as e:
                    wait = tg.retry_after_seconds(e)
                    if wait > self.max_retry_wait:
                        raise
                    await asyncio.sleep(wait)
                    await self._send_once(bot, chat_id, text)
            return DeliveryStatus.SENT, None
        except Exception as e:  # noqa: BLE001 - recorded by the caller, never raised
            error = tg.describe(e, token)
            log.warning("telegram notification for %s failed: %s", address, error)
            return DeliveryStatus.FAILED, error

    @staticmethod
    async def _send_once(bot: object, chat_id: str, text: str) -> None:
        await bot.send_message(  # type: ignore[attr-defined]
            chat_id,
            text,
            parse_mode=ParseMode.HTML,
            link_preview_options=LinkPreviewOptions(is_disabled=True),
        )

    @asynccontextmanager
    async def _paced(self, token: str, chat_id: str) -> AsyncIterator[None]:
        # keyed by a digest: the plaintext token is not kept beyond the call
        key = hashlib.sha256(f"{token}\0{chat_id}".encode()).hexdigest()
        loop = asyncio.get_running_loop()
        if loop is not self._loop:  # locks belong to one loop
            self._paces.clear()
            self._loop = loop
        pace = self._paces.setdefault(key, _Pace(asyncio.Lock()))
        async with pace.lock:
            wait = pace.last + self.min_interval - time.monotonic()
            if wait > 0:
                await asyncio.sleep(wait)
            try:
                yield
            finally:
                pace.last = time.monotonic()

    async def _record(
        self, address: str, kind: str, text: str, status: DeliveryStatus, error: str | None
    ) -> DeliveryStatus:
        values = _values(address, kind, text, status, error)
        try:
            # one INSERT that commits by itself: no ORM unit of work, no BEGIN/COMMIT round trips
            async with autocommit_connection() as conn:
                await conn.execute(insert(_NOTIFICATIONS).values(**values))
        except Exception as e:  # noqa: BLE001 - losing the record must not break trading either
            log.warning("could not record a %s notification for %s: %s", kind, address, type(e).__name__)
        return status


def _values(
    address: str, kind: str, text: str, status: DeliveryStatus, error: str | None
) -> dict[str, object]:
    """One `notifications` row."""
    return {
        "user_address": address,
        "channel": "telegram",
        "kind": kind[:24],
        "text": tg.redact(text),
        "status": status.value,
        "error": error[: tg.MAX_ERROR_CHARS] if error else None,
        "created_at": utcnow(),  # the column has no database default (time_field)
    }


def _record_skipped() -> Insert:
    """INSERT the row SELECTed from the user only when the user has no Telegram linked (most
    traders: every alert's outcome then costs one statement, not a read and then a write)."""
    n, u = _NOTIFICATIONS.c, _USERS.c
    names = ("user_address", "channel", "kind", "text", "status", "error", "created_at")
    unlinked = or_(
        u.telegram_token_enc.is_(None),
        u.telegram_token_enc == "",
        u.telegram_chat_id_enc.is_(None),
        u.telegram_chat_id_enc == "",
    )
    row = select(*(bindparam(name, type_=n[name].type) for name in names)).where(
        u.address == bindparam("user_address"), unlinked
    )
    return insert(_NOTIFICATIONS).from_select(list(names), row).returning(n.id)


# built once: building the statement per call cost about as much as sending it
_RECORD_SKIPPED = _record_skipped()
_notifier: TelegramNotifier | None = None


def get_notifier() -> TelegramNotifier:
    """The process-wide notifier (one shared HTTP client for every user)."""
    global _notifier
    if _notifier is None:
        _notifier = TelegramNotifier()
    return _notifier
