"""The Starlette app with every custom route; Reflex mounts its own routes behind it."""

from __future__ import annotations

from starlette.applications import Starlette
from starlette.middleware import Middleware
from starlette.types import Receive, Scope, Send

from trading_app.api import auth, health, metrics, signals, telegram, trading, webhooks
from trading_app.api.guards import SameOriginJson


class Api(Starlette):
    """The API's Starlette, with the webhook's POSTs sent straight to their endpoint
    (`webhooks.serve_direct`: the hottest route skips the router and the middleware stack)."""

    def __init__(self, webhook: webhooks.WebhookRoutes, **kwargs: object) -> None:
        super().__init__(**kwargs)  # type: ignore[arg-type]
        self._webhook = webhook

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        hook = webhooks.webhook_of(scope)
        if hook is None:
            await super().__call__(scope, receive, send)
        else:
            scope["app"] = self
            await webhooks.serve_direct(self._webhook, hook, scope, receive, send)


def build_api() -> Starlette:
    """Collect the routes of every API module. All of them live under /api or /health, but /metrics.

    The webhook route comes first: it takes the bursts, and the router tries routes in order
    (no two routes share a path, so the order changes nothing else).

    `SameOriginJson` guards every write under /api but the webhooks (TradingView's and
    Telegram's), the routes of later modules included, before any route runs.
    """
    webhook_routes = webhooks.routes()
    return Api(
        webhook_routes[0].endpoint,  # type: ignore[arg-type]  # a WebhookRoutes
        routes=[
            *webhook_routes,
            *health.routes,
            *metrics.routes,
            *auth.routes(),
            *signals.routes(),
            *trading.routes(),
            *telegram.routes(),
        ],
        middleware=[Middleware(SameOriginJson)],
    )
