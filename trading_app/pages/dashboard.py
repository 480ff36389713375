"""`/dashboard`: a minimal protected page (the trading dashboard issue fills it in).

Register it with the guard: `on_load=AuthState.require_login`.
"""

from __future__ import annotations

import reflex as rx

from trading_app.state import AuthState


def checking_session() -> rx.Component:
    """What a protected page shows until the session is verified (no flash of content)."""
    return rx.center(rx.spinner(size="3"), rx.text("Checking your session…", color_scheme="gray"),
                     spacing="3", min_height="60vh", id="checking-session")  # fmt: skip


def _content() -> rx.Component:
    return rx.vstack(
        rx.hstack(
            rx.heading("Dashboard", size="7", as_="h1"),
            rx.spacer(),
            rx.button("Log out", on_click=AuthState.logout, variant="soft", id="logout"),
            width="100%",
            align="center",
        ),
        rx.card(
            rx.vstack(
                rx.text("Signed in as", size="2", color_scheme="gray"),
                rx.code(AuthState.display_address, size="4", id="wallet-address"),
                spacing="1",
            ),
            width="100%",
        ),
        rx.link("Settings: webhook, dYdX account, Telegram, risk limits", href="/settings"),
        spacing="5",
        width="100%",
    )


def dashboard_page() -> rx.Component:
    """The page at `/dashboard`."""
    return rx.container(
        rx.cond(AuthState.is_authenticated, _content(), checking_session()),
        size="3",
        padding_y="2em",
    )
