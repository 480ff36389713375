"""Polling the bots of traders without a public API_URL: one worker per bot, by lease.

Each round (every second) a worker claims the bots nobody else holds (`telegram_links.owner` /
`lease_until`, taken only when free, expired or already its own, with `FOR UPDATE SKIP LOCKED` on
PostgreSQL, the same pattern as the monitor's account leases) and keeps one long poll (getUpdates
from the stored offset, `LONG_POLL_SECONDS`) in flight per bot it holds, answering what arrives
(`telegram_updates.handle_update`). A worker that dies stops renewing; its bots are taken over
`LEASE_TTL` later. A bot whose token Telegram rejects or our keys cannot open, or whose chat id
discovery is under way, is not polled.
"""

from __future__ import annotations

import asyncio
import logging
from datetime import datetime, timedelta

from sqlalchemy import or_, update
from sqlmodel import col, select
from telegram.error import Conflict, Forbidden, InvalidToken

from trading_app.db.engine import session_scope
from trading_app.db.models import TelegramLink
from trading_app.domain.clock import utcnow
from trading_app.services.notify import telegram_api as tg
from trading_app.services.notify.telegram_delivery import (
    ALLOWED_UPDATES,
    LEASE_TTL,
    delivery_mode,
    failure_values,
    mark_unreadable,
    shared_bot,
    store_link,
)
from trading_app.services.notify.telegram_updates import handle_update, linked_bot, take_update
from trading_app.services.security.crypto import DecryptionError

log = logging.getLogger(__name__)

__all__ = ["LONG_POLL_SECONDS", "Poller", "poll_once", "release"]

LONG_POLL_SECONDS = 10


async def _claim(worker_id: str, now: datetime, ttl: timedelta, limit: int) -> list[str]:
    free = or_(
        col(TelegramLink.owner) == worker_id,
        col(TelegramLink.owner).is_(None),
        col(TelegramLink.lease_until) < now,
    )
    takeable = (
        select(TelegramLink.user_address)
        .where(
            col(TelegramLink.mode) == "polling",
            col(TelegramLink.status).not_in(("bad_token", "discovery", "unreadable")),
            free,
        )
        .order_by(col(TelegramLink.user_address))
        .limit(limit)
        .with_for_update(skip_locked=True)  # a bot another worker is claiming now is not ours
    )
    async with session_scope() as session:
        rows = await session.execute(
            update(TelegramLink)
            .where(col(TelegramLink.user_address).in_(takeable))
            .values(owner=worker_id, lease_until=now + ttl)
            .returning(col(TelegramLink.user_address))
        )
        return sorted(r[0] for r in rows.all())


async def release(worker_id: str) -> None:
    """A clean shutdown: give up this worker's bots so another worker polls them at once."""
    async with session_scope() as session:
        await session.execute(
            update(TelegramLink)
            .where(col(TelegramLink.owner) == worker_id)
            .values(owner=None, lease_until=None)
        )


class Poller:
    """One worker's long polls: a getUpdates in flight per bot it holds, the leases renewed each
    `round()`. Long polls have their own HTTP client, so a thousand waiting bots never take the
    connections the notifications need.

    Args:
        worker_id: This worker's id (the lease owner).
        wait: getUpdates' `timeout`, the long poll's seconds (well inside LEASE_TTL).
        limit: The most bots this worker polls.
    """

    def __init__(self, worker_id: str, wait: int = LONG_POLL_SECONDS, limit: int = 200) -> None:
        self.worker_id, self.wait, self.limit = worker_id, wait, limit
        self.pool = tg.BotPool(pool_size=limit + 8, timeout=10.0)
        self._tasks: dict[str, asyncio.Task[int]] = {}

    async def round(self) -> list[str]:
        """Renew (or take) the leases and start a long poll for every held bot not polling now."""
        if delivery_mode() != "polling":
            return []
        users = await _claim(self.worker_id, utcnow(), LEASE_TTL, self.limit)
        loop = asyncio.get_running_loop()
        for user in users:
            task = self._tasks.get(user)
            if task is None or task.done():
                poll = _poll_bot(user, self.wait, self.pool)
                self._tasks[user] = loop.create_task(poll, name="telegram-poll")
        self._tasks = {u: t for u, t in self._tasks.items() if not t.done() or u in users}
        return users

    async def stop(self) -> None:
        """Cancel the polls in flight, give the leases up, close the client."""
        for task in self._tasks.values():
            task.cancel()
        await asyncio.gather(*self._tasks.values(), return_exceptions=True)
        self._tasks.clear()
        await release(self.worker_id)
        await self.pool.aclose()


async def poll_once(worker_id: str, wait: int = 0, limit: int = 200) -> dict[str, int]:
    """Claim the bots nobody else polls, read each one's updates once and answer them.

    Returns:
        {user: updates handled} for every bot this worker polled.
    """
    if delivery_mode() != "polling":
        return {}
    users = await _claim(worker_id, utcnow(), LEASE_TTL, limit)
    counts = await asyncio.gather(*(_poll_bot(u, wait) for u in users))
    return dict(zip(users, counts, strict=True))


async def _poll_bot(user: str, wait: int, pool: tg.BotPool | None = None) -> int:
    try:
        linked = await linked_bot(user)
    except DecryptionError:
        await mark_unreadable(user)  # not claimed again until a new token is saved
        return 0
    if linked is None or linked.chat_id is None:
        return 0  # no chat yet: the settings page's discovery reads /start itself
    async with session_scope() as session:
        link = await session.get(TelegramLink, user)
    offset = link.update_offset if link is not None else 0
    try:
        bot = await pool.bot(linked.token) if pool is not None else await shared_bot(linked.token)
        updates = await bot.get_updates(
            offset=offset or None, timeout=wait, allowed_updates=ALLOWED_UPDATES
        )
    except (InvalidToken, Forbidden, Conflict) as e:  # revoked token, or a webhook set elsewhere
        if not await _discovering(user):  # a discovery's own getUpdates ends our poll with 409
            await store_link(user, checked_at=utcnow(), **failure_values(e, linked.token))
        return 0
    except Exception as e:  # noqa: BLE001 - the next poll tries again
        log.info("polling the bot of %s failed: %s", user, tg.describe(e, linked.token))
        return 0
    if updates and await _discovering(user):
        return 0  # began while this poll waited: not confirmed, so the discovery reads them
    handled = 0
    for item in updates:
        if not await take_update(user, item.update_id):
            continue
        try:
            await handle_update(linked, item.to_dict())
        except Exception as e:  # noqa: BLE001 - one bad update must not block the others
            log.warning("telegram update for %s failed: %s", user, tg.describe(e, linked.token))
        handled += 1
    if updates or (link is not None and link.status != "ok"):
        await store_link(user, status="ok", status_detail=None, checked_at=utcnow())
    return handled


async def _discovering(user: str) -> bool:
    async with session_scope() as session:
        link = await session.get(TelegramLink, user)
    return link is not None and link.status == "discovery"
