"""Live updates: one `rx.SharedState` per trader, bumped whenever their positions change.

How a change reaches every open tab of one trader, and nobody else's:

1. Every page that shows positions runs `WalletFeed.link` in `on_load` (after the login guard).
   It links the tab's `WalletFeed` to `feed_token(address)`, where `address` is the wallet of
   the tab's server-verified session, never a value sent by the browser. The token is an HMAC
   of the address under a server key (`services.security.feed`): nobody can compute another
   trader's feed token, and it never reaches the browser.
2. A service that changed a trader's positions calls `events.positions_changed(user)` (the
   webhook, for an alert it refused, `events.alerts_changed(user)`); `push` (subscribed by
   `install(app)`) bumps that trader's feed through `app.modify_state`. Reflex sends the new
   feed values to every tab linked to the token, on whichever worker holds its socket (through
   Redis when there are several).
3. `feed_watcher(handler)` on the page notices the new version and fires `handler` in that tab:
   the tab's own state re-reads its rows from the services (the database is the source of
   truth; the feed only carries a counter and a short, non-sensitive text).

`push` only starts the update and returns: an event handler of the trader's own tab (a manual
close) may be holding the feed's lock, and waiting for it there would deadlock.
"""

from __future__ import annotations

import asyncio
import logging
from typing import Any

import reflex as rx
from reflex_base.event import EventChain, EventHandler, EventSpec, no_args_event_spec
from reflex_base.vars.base import Var, VarData

from trading_app.domain.clock import utcnow
from trading_app.services.notify import events
from trading_app.services.security.feed import FEED_PREFIX, feed_token
from trading_app.state import verified_address

log = logging.getLogger(__name__)

__all__ = [
    "FEED_PREFIX",
    "REFRESH_EVERY_MS",
    "WalletFeed",
    "feed_token",
    "feed_watcher",
    "push",
    "push_alert",
]

REFRESH_EVERY_MS = 15_000  # mark prices and monitor health move without a push
_app: rx.App | None = None
_pending: set[asyncio.Task[None]] = set()


class WalletFeed(rx.SharedState):
    """What all tabs of one trader share: a change counter and the last change, in words."""

    version: int = 0
    last_event: str = ""
    last_event_at: str = ""
    # False in a tab's private (unlinked) copy; the watcher ignores changes until it is True
    live: bool = False

    @rx.event
    async def link(self):
        """Join the signed-in trader's feed (`on_load`, after `AuthState.require_login`)."""
        address = await verified_address(self)
        if address is None:
            # signed out in this tab: stop receiving the previous trader's feed
            linked = self.get_full_name() in (self._reflex_internal_links or {})
            return await self._unlink() if linked else None
        feed = await self._link_to(feed_token(address))
        if not feed.live:
            feed.live = True
        return None


async def push(user: str, event: str = "Positions updated") -> None:
    """Tell every open tab of `user` that their positions changed.

    Works from an HTTP route, a scheduler job or an event handler, on any worker: it needs only
    the app (`install`), whose state manager reaches every worker's sockets. The feed is bumped in
    a task of its own, so it never waits inside the caller: an event handler of one of the
    trader's tabs may hold the feed's lock until it returns (the in-memory and disk state
    managers load the whole state tree, the linked feed included). `flush()` awaits delivery.
    """
    app = _app
    if app is None:
        from reflex_base.registry import RegistrationContext

        app = RegistrationContext.get().app
    task = asyncio.get_running_loop().create_task(_bump(app, feed_token(user), event), name="live-push")
    _pending.add(task)
    task.add_done_callback(_finished)


async def _bump(app: rx.App, token: str, event: str) -> None:
    async with app.modify_state(rx.BaseStateToken(ident=token, cls=WalletFeed)) as root:
        feed = await root.get_state(WalletFeed)
        if not feed._linked_from:
            # no tab has linked this feed (or it expired with its links): nobody to tell. Left
            # clean, Reflex sends nothing; a burst of alerts from traders without an open tab
            # costs no deltas, no Redis relays and no "disconnected client" warnings.
            return
        feed.version += 1
        feed.last_event = event
        feed.last_event_at = utcnow().strftime("%H:%M:%S UTC")
        # a feed that expired from the state store starts over; its tabs are still live
        feed.live = True


def _finished(task: asyncio.Task[None]) -> None:
    _pending.discard(task)
    if not task.cancelled() and task.exception() is not None:
        # the tabs miss one update (the periodic refresh catches up); trading goes on
        log.error("live push failed", exc_info=task.exception())


async def flush(wait_seconds: float = 5.0) -> None:
    """Wait until the pushes started so far are applied (tests, shutdown)."""
    if _pending:
        await asyncio.wait(list(_pending), timeout=wait_seconds)


async def push_alert(user: str) -> None:
    """Tell every open tab of `user` that an alert was refused at the door (the alert log shows it,
    the dashboard says so); an executed alert pushes through `push` like any position change."""
    await push(user, "Alert rejected")


class _FeedDeltaNoise(logging.Filter):
    """Drops Reflex's warning about the feed token itself having no socket.

    Modifying a shared state sends its delta to the state's own token first (a feed token never
    has a socket, so Reflex warns on every push) and then to the linked tabs, which is what
    reaches the browsers. The warning says nothing an operator can act on and, in a burst,
    floods the log; every other "disconnected client" warning is kept.
    """

    def filter(self, record: logging.LogRecord) -> bool:
        text = record.getMessage()
        return not (text.startswith("Attempting to send delta to disconnected") and FEED_PREFIX in text)


_NOISE = _FeedDeltaNoise()


def install(app: rx.App) -> None:
    """Push to the trader's tabs whenever a service reports a change (call once at start-up)."""
    global _app
    _app = app
    events.subscribe(push)
    events.subscribe_alerts(push_alert)
    logging.getLogger("reflex.app").addFilter(_NOISE)


def feed_watcher(handler: EventHandler | EventSpec) -> rx.Component:
    """An invisible component that fires `handler` in this tab when the feed moves.

    It fires on a new version of a linked feed (not on the first values it sees, nor when
    the tab links: the page's `on_load` loads the data then), and every REFRESH_EVERY_MS
    while the tab is visible, so mark prices and the monitor's health stay current.
    """
    fire = Var.create(EventChain.create(handler, args_spec=no_args_event_spec))
    version, live = WalletFeed.version, WalletFeed.live
    on_change: Var[Any] = Var(
        _js_expr=(
            "useEffect(() => { const now = {live: " + str(live) + ", version: " + str(version) + "};"
            " const prev = feedSeen.current; feedSeen.current = now;"
            " if (prev && prev.live && now.live && prev.version !== now.version) { (" + str(fire) + ")(); }"
            " }, [" + str(live) + ", " + str(version) + "]);"
        ),
        _var_data=VarData.merge(
            version._get_all_var_data(), live._get_all_var_data(), fire._get_all_var_data()
        ),
    )
    periodic: Var[Any] = Var(
        _js_expr=(
            "useEffect(() => { const timer = setInterval(() => {"
            " if (document.visibilityState === 'visible') { ("
            + str(fire)
            + ")(); } }, "
            + str(REFRESH_EVERY_MS)
            + "); return () => clearInterval(timer); }, []);"
        ),
        _var_data=fire._get_all_var_data(),
    )
    hooks = {
        "const feedSeen = useRef(null);": None,
        str(on_change): on_change._get_all_var_data(),
        str(periodic): periodic._get_all_var_data(),
    }
    marker: Var[Any] = Var(
        _js_expr="null",
        _var_data=VarData(hooks=hooks, imports={"react": ["useEffect", "useRef"]}),
    )
    return rx.fragment(marker)


def uninstall() -> None:
    """Stop pushing (shutdown, tests)."""
    global _app
    events.unsubscribe(push)
    events.unsubscribe_alerts(push_alert)
    _app = None
