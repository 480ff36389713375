"""Composition root: the Reflex app, its HTTP routes, pages and lifespan tasks."""

import reflex as rx

from trading_app.api.app import build_api
from trading_app.api.request_context import request_context
from trading_app.api.security import security_headers
from trading_app.api.socket_session import socket_session
from trading_app.db import models  # noqa: F401 - registers the tables with SQLModel's metadata
from trading_app.jobs import monitor_lifespan, telegram_lifespan
from trading_app.pages import live
from trading_app.pages.alert_detail import ROUTE as ALERT_ROUTE
from trading_app.pages.alert_detail import AlertDetailState, alert_detail_page
from trading_app.pages.alerts import AlertsState, alerts_page
from trading_app.pages.dashboard import DashboardState, dashboard_page
from trading_app.pages.dashboard_account import FundsState
from trading_app.pages.history import HistoryState, history_page
from trading_app.pages.landing import landing_page
from trading_app.pages.login import LoginState, login_page
from trading_app.pages.settings import SettingsState, settings_page
from trading_app.pages.settings_control import ControlState
from trading_app.services.notify.telegram_api import configure_logging
from trading_app.services.ops import errors, logs, metrics
from trading_app.settings import get_settings
from trading_app.startup_gc import freeze_startup_heap
from trading_app.state import AuthState

settings = get_settings()
configure_logging()  # before any request: httpx logs URLs, and Telegram URLs contain bot tokens
# the root handler (LOG_FORMAT text or json) with the request / signal ids, redacting every secret
logs.configure_logging()
errors.configure_error_reports()  # Sentry, only when SENTRY_DSN is set

app = rx.App(
    # socket_session: Reflex's websocket never sees the session cookie (it would be stored in the
    # tabs' state) nor a client token naming a shared state
    # request_context last: the outermost, so every request (Reflex's own too) has its id
    api_transformer=[
        build_api(), socket_session(), security_headers(settings.app_env == "production"), request_context()
    ],
    head_components=[rx.script(src="/wallet.js")],
)  # the theme is configured with the Radix Themes plugin in rxconfig.py
app.add_page(landing_page, route="/", title="dYdX Alert Trader")
app.add_page(login_page, route="/login", title="Sign in", on_load=LoginState.redirect_if_signed_in)
app.add_page(
    dashboard_page,
    route="/dashboard",
    title="Dashboard",
    on_load=[
        AuthState.require_login, live.WalletFeed.link, DashboardState.load, FundsState.load, ControlState.load
    ],
)
app.add_page(
    history_page,
    route="/history",
    title="Trade history",
    on_load=[AuthState.require_login, live.WalletFeed.link, HistoryState.load],
)
app.add_page(
    alerts_page,
    route="/alerts",
    title="Alert log",
    on_load=[AuthState.require_login, live.WalletFeed.link, AlertsState.load],
)
app.add_page(
    alert_detail_page,
    route=ALERT_ROUTE,
    title="Alert story",
    on_load=[AuthState.require_login, live.WalletFeed.link, AlertDetailState.load],
)
app.add_page(
    settings_page,
    route="/settings",
    title="Settings",
    on_load=[AuthState.require_login, SettingsState.load, ControlState.load],
)
# every worker: the position monitor's scheduler and the signal executor (started per worker, not at import)
app.register_lifespan_task(monitor_lifespan)
# every worker: Telegram commands by polling (without a public API_URL), one worker per bot by lease
app.register_lifespan_task(telegram_lifespan)
# every change a service reports reaches the trader's open tabs (services never import the UI)
live.install(app)

app.register_lifespan_task(metrics.metrics_lifespan)  # multiprocess metrics: a stopped worker's gauges go
# last: once every other start-up task has run, the loaded heap leaves the collector's scans
app.register_lifespan_task(freeze_startup_heap)
