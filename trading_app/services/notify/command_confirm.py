"""The Confirm / Cancel buttons of /close and /closeall: single-use and short-lived.

A question stores a `telegram_confirmations` row under a random id; the buttons carry only
`ok:<id>` or `no:<id>` (Telegram's callback data is at most 64 bytes). A tap is honoured once, by
one conditional UPDATE that also checks the trader and the expiry, so an old, repeated or foreign
tap (another trader's id, or a tap after `CONFIRM_TTL`) closes nothing, whichever worker gets it.
"""

from __future__ import annotations

import logging
import secrets
from dataclasses import dataclass, field
from datetime import timedelta

from sqlalchemy import update
from sqlmodel import col

from trading_app.db.engine import session_scope
from trading_app.db.models import TelegramConfirmation
from trading_app.domain.clock import utcnow
from trading_app.services.engine import manual
from trading_app.services.notify.messages import esc, fit, fmt_grid, fmt_usd
from trading_app.venues.errors import VenueError

log = logging.getLogger(__name__)

__all__ = ["CONFIRM_TTL", "Answer", "Reply", "ask", "confirm"]

CONFIRM_TTL = timedelta(seconds=60)
EXPIRED = "This confirmation expired or was already used. Send the command again."


@dataclass(frozen=True)
class Reply:
    """An answer: HTML text and, for a question, inline buttons as (label, callback data)."""

    text: str
    buttons: tuple[tuple[str, str], ...] = field(default_factory=tuple)


@dataclass(frozen=True)
class Answer:
    """What a tap gets: a short notice (answerCallbackQuery) and the question's new text."""

    notice: str
    text: str | None  # None: leave the message as it is


async def ask(user: str, action: str, market: str | None, question: str) -> Reply:
    """Store a pending `action` and return the question with its Confirm / Cancel buttons."""
    now = utcnow()
    key = secrets.token_urlsafe(16)
    async with session_scope() as session:
        session.add(
            TelegramConfirmation(
                id=key, user_address=user, action=action, market=market, created_at=now,
                expires_at=now + CONFIRM_TTL,
            )
        )
    seconds = int(CONFIRM_TTL.total_seconds())
    return Reply(
        f"{question}\n<i>Confirm within {seconds} seconds.</i>",
        (("✅ Confirm", f"ok:{key}"), ("✖️ Cancel", f"no:{key}")),
    )


async def _take(user: str, key: str) -> TelegramConfirmation | None:
    now = utcnow()
    async with session_scope() as session:
        result = await session.execute(
            update(TelegramConfirmation)
            .where(
                col(TelegramConfirmation.id) == key,
                col(TelegramConfirmation.user_address) == user,
                col(TelegramConfirmation.used_at).is_(None),
                col(TelegramConfirmation.expires_at) > now,
            )
            .values(used_at=now)
            .returning(col(TelegramConfirmation.action), col(TelegramConfirmation.market))
        )
        row = result.first()
    if row is None:
        return None
    return TelegramConfirmation(id=key, user_address=user, action=row[0], market=row[1])


async def confirm(user: str, data: str) -> Answer:
    """Act on a tap of `user` with callback `data`; anything not pending for them does nothing."""
    verb, _, key = (data or "").partition(":")
    if verb not in ("ok", "no") or not key or len(key) > 32:
        return Answer("Unknown button.", None)
    pending = await _take(user, key)
    if pending is None:
        return Answer(EXPIRED, None)
    if verb == "no":
        return Answer("Cancelled.", "Cancelled: nothing was closed.")
    try:
        if pending.action == "close":
            return await _close_market(user, pending.market or "")
        return await _close_all(user)
    except (manual.PositionNotFound, manual.PositionNotOpen) as e:
        return Answer("Nothing to close.", f"Nothing closed: {esc(str(e), 200)}.")
    except VenueError as e:
        log.info("telegram close for %s failed: %s", user, type(e).__name__)
        return Answer("The exchange did not answer.", "The exchange did not answer: nothing was closed.")


async def _close_market(user: str, market: str) -> Answer:
    live = [v for v in await manual.list_positions(user, "open") if v.market == market]
    if not live:
        return Answer("Nothing to close.", f"No open {esc(market)} position: nothing was closed.")
    v = await manual.close_position(user, live[0].id)
    return Answer("Closed.", _closed_line(v))


async def _close_all(user: str) -> Answer:
    views = await manual.close_all(user)
    if not views:
        return Answer("Nothing to close.", "No open positions: nothing was closed.")
    return Answer("Closed.", fit("\n".join(_closed_line(v) for v in views)))


def _closed_line(v: manual.PositionView) -> str:
    if v.status != "CLOSED":
        return f"{esc(v.side)} {esc(v.market)}: {esc(v.status.lower())} (still being opened; try again)"
    return (
        f"Closed {esc(v.side)} {esc(v.market)} at {fmt_grid(v.exit_price, v.tick_size)}: "
        f"{fmt_usd(v.realized_pnl, signed=True)}"
    )
