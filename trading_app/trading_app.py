"""Composition root: the Reflex app, its HTTP routes, pages and lifespan tasks."""

import reflex as rx

from trading_app.api.app import build_api
from trading_app.api.security import security_headers
from trading_app.db import models  # noqa: F401 - registers the tables with SQLModel's metadata
from trading_app.pages.landing import landing_page
from trading_app.services.telegram import configure_logging
from trading_app.settings import get_settings

settings = get_settings()
configure_logging()  # before any request: httpx logs URLs, and Telegram URLs contain bot tokens

app = rx.App(
    api_transformer=[build_api(), security_headers(settings.app_env == "production")],
    head_components=[rx.script(src="/wallet.js")],
    theme=rx.theme(appearance="light", accent_color="indigo", radius="medium"),
)
app.add_page(landing_page, route="/", title="dYdX Alert Trader")
