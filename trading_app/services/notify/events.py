"""Hooks for "this user's positions changed" and "this user's alert log changed": the live push
of the dashboard and of the alert log listens here.

Services call `positions_changed(user)` after every change they commit (webhook execution,
the monitor, a manual close). The pages layer registers the pusher at start-up, so services
never import the UI. A failing listener is logged and never breaks the caller.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable

log = logging.getLogger(__name__)

Listener = Callable[[str], Awaitable[None]]
_listeners: list[Listener] = []
_alert_listeners: list[Listener] = []


def subscribe(listener: Listener) -> None:
    """Call `listener(user_address)` whenever that user's positions change."""
    if listener not in _listeners:
        _listeners.append(listener)


def unsubscribe(listener: Listener) -> None:
    """Stop calling `listener`."""
    if listener in _listeners:
        _listeners.remove(listener)


async def positions_changed(user_address: str) -> None:
    """Tell every listener that `user_address`'s positions changed."""
    for listener in list(_listeners):
        try:
            await listener(user_address)
        except Exception:  # noqa: BLE001 - a broken tab must not break trading
            log.exception("positions-changed listener failed")


def subscribe_alerts(listener: Listener) -> None:
    """Call `listener(user_address)` whenever an alert of that user is stored without execution."""
    if listener not in _alert_listeners:
        _alert_listeners.append(listener)


def unsubscribe_alerts(listener: Listener) -> None:
    """Stop calling `listener` for alerts."""
    if listener in _alert_listeners:
        _alert_listeners.remove(listener)


async def alerts_changed(user_address: str) -> None:
    """Tell every listener that `user_address`'s alert log changed without a position changing
    (an alert refused at the door). An executed alert reports `positions_changed`."""
    for listener in list(_alert_listeners):
        try:
            await listener(user_address)
        except Exception:  # noqa: BLE001 - a broken tab must not break the webhook
            log.exception("alerts-changed listener failed")
