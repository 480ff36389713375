"""Reflex configuration, derived from the validated settings (`trading_app/settings.py`)."""

import reflex as rx

from trading_app.settings import get_settings

_settings = get_settings()

config = rx.Config(
    app_name="trading_app",
    db_url=_settings.database_url,
    async_db_url=_settings.async_database_url,
    redis_url=_settings.redis_url,
    api_url=_settings.api_url,
    deploy_url=_settings.public_url,
    # CORS and the websocket's Origin check (socket.io refuses other origins): never `*` by default
    cors_allowed_origins=_settings.browser_origins(),
    telemetry_enabled=False,
    show_built_with_reflex=False,
    # the app-wide Radix theme lives here: `rx.App(theme=...)` is deprecated since Reflex 0.9
    plugins=[
        rx.plugins.RadixThemesPlugin(
            theme=rx.theme(appearance="light", accent_color="indigo", radius="medium")
        ),
        rx.plugins.SitemapPlugin(),
    ],
)
