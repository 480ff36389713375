"""`/dashboard`: open positions, PnL, the equity curve, recent alerts and the service's health,
kept current by the trader's live feed.

Register it with the guard first, then the feed, then the data:
`on_load=[AuthState.require_login, WalletFeed.link, DashboardState.load, FundsState.load,
ControlState.load]`.
Until the session is verified the page shows a spinner (`components.layout.app_shell`), never positions.
"""

from __future__ import annotations

import reflex as rx

from trading_app.components.layout import app_shell, checking_session, page_header
from trading_app.pages.dashboard_account import FundsState, funds_cards
from trading_app.pages.dashboard_parts import (
    alerts_panel,
    equity_panel,
    positions_panel,
    status_line,
    summary_cards,
)
from trading_app.pages.dashboard_pending import pending_panel
from trading_app.pages.dashboard_state import DashboardState
from trading_app.pages.live import WalletFeed, feed_watcher
from trading_app.pages.settings_control import ControlState, paused_badge

__all__ = ["DashboardState", "WalletFeed", "checking_session", "dashboard_page"]


def _load_error() -> rx.Component:
    return rx.cond(
        DashboardState.load_error != "",
        rx.callout(
            DashboardState.load_error,
            icon="triangle_alert",
            color_scheme="amber",
            width="100%",
            role="alert",
            id="load-error",
        ),
    )


def _content() -> rx.Component:
    return rx.fragment(
        page_header(
            "Dashboard", "Your positions and results, updated live as alerts arrive and orders fill."
        ),
        status_line(),
        paused_badge(),
        _load_error(),
        summary_cards(),
        pending_panel(),
        funds_cards(),
        positions_panel(),
        rx.grid(
            equity_panel(),
            alerts_panel(),
            columns=rx.breakpoints(initial="1", lg="2"),
            spacing="5",
            width="100%",
        ),
    )


def dashboard_page() -> rx.Component:
    """The page at `/dashboard`."""
    return app_shell(
        "dashboard",
        feed_watcher(DashboardState.refresh),
        feed_watcher(FundsState.refresh),
        feed_watcher(ControlState.load),
        rx.cond(DashboardState.loaded, _content(), rx.center(rx.spinner(size="3"), min_height="40vh")),
    )
