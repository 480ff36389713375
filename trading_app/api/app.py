"""The Starlette app with every custom route; Reflex mounts its own routes behind it."""

from __future__ import annotations

from starlette.applications import Starlette

from trading_app.api import auth, health, signals, trading, webhooks


def build_api() -> Starlette:
    """Collect the routes of every API module. All of them live under /api or /health."""
    return Starlette(
        routes=[*health.routes, *auth.routes(), *webhooks.routes(), *signals.routes(), *trading.routes()]
    )
