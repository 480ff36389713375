"""Telling the trader about an alert the webhook refused: Telegram, and a push to the alert log.

The engine tells the trader about every alert it refuses (`engine.executor`); the webhook refuses
some before the engine sees them (invalid, unknown market, over the per-minute cap, not from
TradingView's addresses) and tells them here, after the row is stored. Requests that fail the
webhook's two factors (unknown UUID or wrong secret) are nobody's alerts and are never told.

A runaway strategy can be refused many times a minute: at most `NOTICES_PER_MINUTE` such messages
go to one trader per minute (on top of the notifier's one-per-second pacing); the rest are in the
alert log, which is pushed every time. Nothing here raises into the webhook.
"""

from __future__ import annotations

import asyncio
import logging

from trading_app.domain.enums import SignalStatus
from trading_app.domain.sent import sent_fields
from trading_app.services.notify import events, messages
from trading_app.services.notify.notifier import get_notifier
from trading_app.services.security.ratelimit import Limit, RateLimiter, create_rate_limiter

log = logging.getLogger(__name__)

__all__ = ["NOTICES_PER_MINUTE", "tell_refused"]

NOTICES_PER_MINUTE = 10
_LIMIT = Limit(hits=NOTICES_PER_MINUTE, window_seconds=60)
_limiters: dict[asyncio.AbstractEventLoop, RateLimiter] = {}


def _limiter() -> RateLimiter:
    # a Redis client belongs to the loop that created it (one per worker; tests run several)
    loop = asyncio.get_running_loop()
    limiter = _limiters.get(loop)
    if limiter is None:
        _limiters.clear()
        limiter = _limiters[loop] = create_rate_limiter("refused-alert-notices")
    return limiter


async def _allowed(user: str) -> bool:
    try:
        return (await _limiter().hit(f"user:{user}", _LIMIT)).allowed
    except Exception as e:  # noqa: BLE001 - without the counter, tell (the notifier still paces)
        log.warning("refused-alert notice limiter unavailable: %s", type(e).__name__)
        return True


async def tell_refused(user: str, network: str, signal_id: int | None, reason: str, body: str) -> None:
    """Push the refused alert to the trader's open tabs and send it to their Telegram.

    Args:
        user: The webhook's owner.
        network: The network the alert would have traded on (paper for a test alert).
        signal_id: The stored row.
        reason: The stored reason (the webhook's problems, joined).
        body: The stored (masked) body: the message names the market as the trader wrote it.
    """
    try:
        await events.alerts_changed(user)
        if not await _allowed(user):
            return
        market = sent_fields(body)[1]
        event = messages.SignalRejected.of(network, signal_id, market, reason, SignalStatus.REJECTED.value)
        get_notifier().notify_soon(user, event.kind, event)
    except Exception:  # noqa: BLE001 - the alert is stored and answered; telling it is best effort
        log.exception("telling %s about refused alert %s failed", user, signal_id)
