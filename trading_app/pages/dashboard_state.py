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

import reflex as rx

from trading_app.components import format as fmt
from trading_app.domain.clock import utcnow
from trading_app.domain.numbers import ascii_int
from trading_app.jobs import scheduler_status
from trading_app.pages import pending_rows, scale_rows, views
from trading_app.services.accounts import account
from trading_app.services.engine import manual, pending
from trading_app.services.intake.signal_store import list_signals
from trading_app.state import LOGIN_ROUTE, verified_address
from trading_app.venues.errors import VenueError
from trading_app.venues.paper.prices import price_source_from_settings

log = logging.getLogger(__name__)

RECENT_ALERTS = 6
# A close's banner stays at least this long, then goes at the next reload: the next pushed event
# or the periodic refresh (its own push comes ~0.3 s after the close and must not take it away)
NOTICE_SECONDS = 6.0
_LOAD_FAILED = "Could not load your dashboard just now; it retries by itself."


def _venue_problem(e: VenueError) -> str:
    return f"The exchange did not confirm it ({type(e).__name__}). Nothing else was changed; try again."


class DashboardState(rx.State):
    """What the dashboard shows, and the manual close actions."""

    loaded: bool = False
    positions: list[dict[str, str]] = []
    pending: list[dict[str, str]] = []  # entries resting on the book (not open positions)
    # a scaled position's take-profit levels and stop history, by position id (see `scale_rows`)
    levels: dict[str, list[dict[str, str]]] = {}
    stop_history: dict[str, list[dict[str, str]]] = {}
    summary: dict[str, str] = {}
    equity: list[dict[str, str | float]] = []
    alerts: list[dict[str, str]] = []
    network: str = "paper"
    price_source: dict[str, str] = {}
    monitor: dict[str, str] = {}
    updated_at: str = ""
    load_error: str = ""
    # the result of the last close: shown until dismissed, the next action, or the first reload
    # NOTICE_SECONDS after it (a backend-only var: the time never reaches the browser)
    notice: str = ""
    notice_ok: bool = True
    _notice_at: float = 0.0
    closing: str = ""  # the position id being closed, "all", or ""

    async def _load(self, address: str) -> None:
        """Re-read everything from the services (the database is the source of truth)."""
        if self.notice and utcnow().timestamp() - self._notice_at >= NOTICE_SECONDS:
            self.notice = ""
        try:
            overview = await account.get_overview(address)
            open_views = await manual.list_positions(address, "open")
            resting = await pending.list_pending(address)
            closed_views = await manual.list_positions(address, "closed", limit=manual.MAX_ROWS)
            summary = await manual.pnl_summary(address)
            recent = await list_signals(address, limit=RECENT_ALERTS)
        except Exception:  # noqa: BLE001 - keep the last good view; the watcher retries
            log.exception("dashboard load failed")
            self.load_error = _LOAD_FAILED
            return
        now = utcnow()
        self.network = overview.network.value
        self.positions = [{**views.open_row(v, now), **scale_rows.scale_fields(v)} for v in open_views]
        scaled = [(str(v.id), v, v.scale) for v in open_views if v.scale is not None]
        self.levels = {i: scale_rows.level_rows(s, v.tick_size, v.step_size) for i, v, s in scaled}
        self.stop_history = {i: scale_rows.history_rows(s, v.tick_size) for i, v, s in scaled}
        self.pending = [pending_rows.pending_row(v, now) for v in resting]
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
        self._notice_at = utcnow().timestamp()

    @rx.event
    async def dismiss_notice(self):
        """The banner's close button."""
        self.notice = ""

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
                f"Closed {view.market} {view.side.lower()} at {fmt.number(view.exit_price, view.tick_size)}: "
                f"realized {fmt.money(view.realized_pnl, signed=True)}.",
            )
        await self._load(address)

    @rx.event
    async def cancel_pending(self, position_id: str):
        """Cancel a resting entry (after the confirmation dialog)."""
        address = await verified_address(self)
        if address is None:
            yield rx.redirect(LOGIN_ROUTE, replace=True)
            return
        raw = str(position_id)
        if not (raw.isascii() and raw.isdigit() and len(raw) <= 18):  # a BIGINT id, ASCII digits only
            self._done(False, "That pending entry does not exist.")
            return
        self.closing, self.notice = raw, ""
        yield
        try:
            view = await pending.cancel_pending(address, int(raw))
        except manual.PositionNotFound:
            self._done(False, "That pending entry does not exist.")
        except manual.PositionNotOpen as e:  # filled meanwhile, already ended, or still being placed
            self._done(False, f"Not cancelled: {e}.")
        except VenueError as e:
            self._done(False, _venue_problem(e))
        else:
            self._done(
                True,
                f"Cancelled the pending {view.market} {view.side.lower()} entry."
                if view.status == "CANCELLED"
                else f"Cancelled the rest of the {view.market} entry; the part that filled "
                f"({fmt.number(view.size)}) is open and protected.",
            )
        await self._load(address)

    @rx.event
    async def close_all(self):
        """Close every open position on the current network and cancel its pending entries (after
        the confirmation dialog)."""
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
            self._done(True, pending_rows.close_all_text(closed))
        await self._load(address)
