"""The Starlette app with every custom route; Reflex mounts its own routes behind it."""

from __future__ import annotations

from starlette.applications import Starlette
from starlette.middleware import Middleware

from trading_app.api import auth, health, metrics, signals, telegram, trading, webhooks
from trading_app.api.guards import SameOriginJson


def build_api() -> Starlette:
    """Collect the routes of every API module. All of them live under /api or /health, but /metrics.

    The webhook route comes first: it takes the bursts, and the router tries routes in order
    (no two routes share a path, so the order changes nothing else).

    `SameOriginJson` guards every write under /api but the webhooks (TradingView's and
    Telegram's), the routes of later modules included, before any route runs.
    """
    return Starlette(
        routes=[
            *webhooks.routes(), *health.routes, *metrics.routes, *auth.routes(), *signals.routes(),
            *trading.routes(), *telegram.routes(),
        ],
        middleware=[Middleware(SameOriginJson)],
    )
