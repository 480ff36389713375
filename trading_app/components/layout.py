"""The frame of every signed-in page: a top bar with navigation and log out, and the guard.

    def history_page():
        return app_shell("history", "Trade history", "Closed trades and their PnL.", content())

The page's `on_load` must start with `AuthState.require_login`; until the session is
verified the shell shows a spinner, never the page's content.
"""

from __future__ import annotations

import reflex as rx

from trading_app.state import AuthState

NAV = (
    ("dashboard", "Dashboard", "/dashboard", "layout_dashboard"),
    ("history", "History", "/history", "history"),
    ("alerts", "Alerts", "/alerts", "bell_ring"),
    ("settings", "Settings", "/settings", "settings"),
)


def checking_session() -> rx.Component:
    """What a protected page shows until the session is verified (no flash of content)."""
    return rx.center(
        rx.vstack(
            rx.spinner(size="3"), rx.text("Checking your session…", color_scheme="gray"), align="center"
        ),
        min_height="60vh",
        id="checking-session",
    )


def _nav_link(key: str, text: str, href: str, icon: str, active: str) -> rx.Component:
    current = key == active
    return rx.link(
        rx.hstack(
            rx.icon(icon, size=15), rx.text(text, size="2", weight="medium"), spacing="2", align="center"
        ),
        href=href,
        aria_current="page" if current else None,
        id=f"nav-{key}",
        underline="none",
        color=f"var(--{'accent-11' if current else 'gray-11'})",
        background="var(--accent-a3)" if current else "transparent",
        padding_x="0.75em",
        padding_y="0.4em",
        border_radius="var(--radius-2)",
        _hover={"background": "var(--accent-a3)" if current else "var(--gray-a3)", "color": "var(--gray-12)"},
    )


def navbar(active: str) -> rx.Component:
    """The top bar: brand, the four sections, who is signed in, and log out."""
    return rx.box(
        rx.hstack(
            rx.link(
                rx.hstack(
                    rx.center(
                        rx.icon("activity", size=16),
                        width="1.9em",
                        height="1.9em",
                        border_radius="var(--radius-2)",
                        background="var(--accent-9)",
                        color="white",
                    ),
                    rx.text("Alert Trader", weight="bold", size="3", color="var(--gray-12)"),
                    spacing="2",
                    align="center",
                ),
                href="/dashboard",
                underline="none",
            ),
            rx.el.nav(
                rx.hstack(*[_nav_link(*item, active) for item in NAV], spacing="1"),
                aria_label="Main",
                display=rx.breakpoints(initial="none", sm="block"),
            ),
            rx.spacer(),
            # the whole address is in the text (copyable, and what tests read); CSS shortens it on screen
            rx.code(
                AuthState.display_address,
                variant="ghost",
                id="wallet-address",
                title=AuthState.display_address,
                max_width=rx.breakpoints(initial="7em", md="12em"),
                overflow="hidden",
                text_overflow="ellipsis",
                white_space="nowrap",
                display="block",
            ),
            rx.button(
                rx.icon("log_out", size=15),
                "Log out",
                on_click=AuthState.logout,
                variant="ghost",
                color_scheme="gray",
                id="logout",
            ),
            spacing="4",
            align="center",
            max_width="1200px",
            margin_x="auto",
            padding_x="1.25em",
            height="3.5em",
        ),
        rx.el.nav(
            rx.hstack(
                *[_nav_link(*item, active) for item in NAV],
                spacing="1",
                padding_x="1em",
                padding_bottom="0.5em",
                overflow_x="auto",
            ),
            aria_label="Main (small screens)",
            display=rx.breakpoints(initial="block", sm="none"),
        ),
        position="sticky",
        top="0",
        z_index="10",
        background="var(--color-panel-solid)",
        border_bottom="1px solid var(--gray-a5)",
        width="100%",
    )


def page_header(title: str, description: str, *extra: rx.Component) -> rx.Component:
    """The page's h1, what the page is for, and anything shown beside it (badges, buttons)."""
    return rx.flex(
        rx.vstack(
            rx.heading(title, size="7", as_="h1"),
            rx.text(description, size="2", color_scheme="gray"),
            spacing="1",
        ),
        rx.spacer(),
        rx.hstack(*extra, spacing="3", align="center", wrap="wrap"),
        direction=rx.breakpoints(initial="column", sm="row"),
        spacing="3",
        align=rx.breakpoints(initial="start", sm="end"),
        width="100%",
    )


def app_shell(active: str, *content: rx.Component) -> rx.Component:
    """A signed-in page: the top bar over `content`, or a spinner until the session is verified."""
    return rx.box(
        rx.cond(
            AuthState.is_authenticated,
            rx.fragment(
                navbar(active),
                rx.box(
                    rx.vstack(*content, spacing="5", width="100%"),
                    max_width="1200px",
                    margin_x="auto",
                    padding_x="1.25em",
                    padding_y="1.75em",
                ),
            ),
            checking_session(),
        ),
        min_height="100vh",
        background="var(--gray-2)",
    )
