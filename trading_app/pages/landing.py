"""The public landing page."""

import reflex as rx

FEATURES = [
    ("Wallet sign-in", "Sign in with your Ethereum wallet. No passwords, no email."),
    ("Two-factor webhook", "A private URL plus a secret in the body. Every alert logged with its outcome."),
    (
        "Protected by default",
        "Every position gets an exchange-side stop-loss and take-profit, or is flattened.",
    ),
    ("Exactly once", "Retries and duplicate alerts never place a second order."),
    ("Paper first", "Trade on real dYdX prices without risking money, then switch to testnet or mainnet."),
    ("Live dashboard", "Positions, PnL and alerts update by themselves; Telegram tells you what happened."),
]


def _feature(title: str, body: str) -> rx.Component:
    return rx.card(
        rx.vstack(rx.heading(title, size="4"), rx.text(body, size="2", color_scheme="gray")),
        width="100%",
    )


def landing_page() -> rx.Component:
    """The page at `/`."""
    return rx.container(
        rx.vstack(
            rx.heading("dYdX Alert Trader", size="8", as_="h1"),
            rx.text(
                "Turn TradingView alerts into protected dYdX v4 perpetual positions.",
                size="5",
            ),
            rx.hstack(
                rx.link(rx.button("Sign in with your wallet", size="3"), href="/login"),
                rx.badge("Paper trading is the default", color_scheme="green", size="2"),
                align="center",
                spacing="4",
            ),
            rx.grid(
                *[_feature(title, body) for title, body in FEATURES],
                columns=rx.breakpoints(initial="1", sm="2", lg="3"),
                spacing="4",
                width="100%",
            ),
            spacing="6",
            padding_y="3em",
        ),
        size="4",
    )
