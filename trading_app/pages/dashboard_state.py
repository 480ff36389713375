"""The state behind `/dashboard`. Thin: every handler re-derives the trader from the verified
session and calls services with that address; a position id from the browser is only ever
used together with it (the trading service scopes every lookup by user).

The page registers `on_load=[AuthState.require_login, WalletFeed.link, DashboardState.load]`
and `live.feed_watcher(DashboardState.refresh)`, so every open tab reloads itself from the
services when `push(user)` bumps the trader's feed. What reaches the browser: display strings
of the trader's own positions, totals and alerts; no secret, nobody else's rows.
"""

from __future__ import annotations

import logging
from decimal import Decimal

import reflex as rx

from trading_app.components import format as fmt
from trading_app.domain.clock import utcnow
from trading_app.domain.numbers import ascii_int
from trading_app.jobs import scheduler_status
from trading_app.pages import views
from trading_app.services.accounts import account
from trading_app.services.engine import manual
from trading_app.services.intake.signal_store import list_signals
from trading_app.state import LOGIN_ROUTE, verified_address
from trading_app.venues.errors import VenueError
from trading_app.venues.paper.prices import price_source_from_settings

log = logging.getLogger(__name__)

RECENT_ALERTS = 6
_LOAD_FAILED = "Could not load your dashboard just now; it retries by itself."


def _venue_problem(e: VenueError) -> str:
    return f"The exchange did not confirm it ({type(e).__name__}). Nothing else was changed; try again."


class DashboardState(rx.State):
    """What the dashboard shows, and the manual close actions."""

    loaded: bool = False
    positions: list[dict[str, str]] = []
    summary: dict[str, str] = {}
    equity: list[dict[str, str | float]] = []
    alerts: list[dict[str, str]] = []
    network: str = "paper"
    price_source: dict[str, str] = {}
    monitor: dict[str, str] = {}
    updated_at: str = ""
    load_error: str = ""
    # the result of the last close: shown until the next action
    notice: str = ""
    notice_ok: bool = True
    closing: str = ""  # the position id being closed, "all", or ""

    async def _load(self, address: str) -> None:
        """Re-read everything from the services (the database is the source of truth)."""
        try:
            overview = await account.get_overview(address)
            open_views = await manual.list_positions(address, "open")
            closed_views = await manual.list_positions(address, "closed", limit=manual.MAX_ROWS)
            summary = await manual.pnl_summary(address)
            recent = await list_signals(address, limit=RECENT_ALERTS)
        except Exception:  # noqa: BLE001 - keep the last good view; the watcher retries
            log.exception("dashboard load failed")
            self.load_error = _LOAD_FAILED
            return
        now = utcnow()
        self.network = overview.network.value
        self.positions = [views.open_row(v, now) for v in open_views]
        self.summary = views.summary_texts(summary)
        self.equity = views.equity_points(closed_views)  # type: ignore[assignment]
        self.alerts = [views.alert_row(r) for r in recent.items]
        self.price_source = views.price_source_texts(price_source_from_settings().describe())
        # the monitor runs in every backend worker: this worker's scheduler speaks for the service
        self.monitor = views.monitor_health(scheduler_status(), now)
        self.updated_at = now.strftime("%H:%M:%S UTC")
        self.load_error = ""
        self.loaded = True

    @rx.event
    async def load(self):
        """`on_load`: the first view of the page."""
        self.notice = ""
        address = await verified_address(self)
        if address is None:
            return rx.redirect(LOGIN_ROUTE, replace=True)
        await self._load(address)
        return None

    @rx.event
    async def refresh(self):
        """The trader's feed moved (or the periodic refresh): reload this tab's rows."""
        address = await verified_address(self)
        if address is None:
            return rx.redirect(LOGIN_ROUTE, replace=True)
        await self._load(address)
        return None

    def _done(self, ok: bool, text: str) -> None:
        self.notice_ok, self.notice, self.closing = ok, text, ""

    @rx.event
    async def close_position(self, position_id: str):
        """Close one position at market (after the confirmation dialog); TP and SL are cancelled."""
        address = await verified_address(self)
        if address is None:
            yield rx.redirect(LOGIN_ROUTE, replace=True)
            return
        wanted = ascii_int(str(position_id), 1, None)
        if wanted is None:
            self._done(False, "That position does not exist.")
            return
        self.closing, self.notice = str(position_id), ""
        yield
        try:
            view = await manual.close_position(address, wanted)
        except manual.PositionNotFound:
            self._done(False, "That position does not exist.")
        except manual.PositionNotOpen:
            self._done(False, "That position is already closed.")
        except VenueError as e:
            self._done(False, _venue_problem(e))
        else:
            self._done(
                True,
                f"Closed {view.market} {view.side.lower()} at {fmt.number(view.exit_price)}: "
                f"realized {fmt.money(view.realized_pnl, signed=True)}.",
            )
        await self._load(address)

    @rx.event
    async def close_all(self):
        """Close every open position on the current network (after the confirmation dialog)."""
        address = await verified_address(self)
        if address is None:
            yield rx.redirect(LOGIN_ROUTE, replace=True)
            return
        self.closing, self.notice = "all", ""
        yield
        try:
            closed = await manual.close_all(address)
        except VenueError as e:
            self._done(False, _venue_problem(e))
        else:
            total = sum((v.realized_pnl for v in closed if v.realized_pnl is not None), Decimal(0))
            what = "position" if len(closed) == 1 else "positions"
            self._done(
                True,
                f"Closed {len(closed)} {what}: realized {fmt.money(total, signed=True)}."
                if closed
                else "There was nothing to close.",
            )
        await self._load(address)
