"""Small coloured labels: network, side, status, PnL. Each takes a Var (or a str) of the raw value."""

from __future__ import annotations

import reflex as rx

STATUS_COLORS = (
    ("OPEN", "green"),
    ("OPENING", "blue"),
    ("CLOSING", "amber"),
    ("FAILED_PROTECTION", "red"),
    ("CLOSED", "gray"),
    ("FAILED", "red"),
    ("ACCEPTED", "blue"),
    ("EXECUTING", "blue"),
    ("EXECUTED", "green"),
    ("REJECTED", "orange"),
)


def network_badge(network: rx.Var | str, **props: object) -> rx.Component:
    """PAPER (green), TESTNET (amber) or MAINNET (red): where orders go, impossible to miss."""
    return rx.badge(
        rx.match(network, ("mainnet", "MAINNET"), ("testnet", "TESTNET"), "PAPER"),
        color_scheme=rx.match(network, ("mainnet", "red"), ("testnet", "amber"), "green"),
        variant="solid",
        size="2",
        high_contrast=False,
        **props,
    )


def side_badge(side: rx.Var | str) -> rx.Component:
    """LONG in green, SHORT in red."""
    return rx.badge(side, color_scheme=rx.cond(side == "LONG", "green", "red"), variant="soft")


def status_badge(status: rx.Var | str, text: rx.Var | str | None = None) -> rx.Component:
    """A position or alert status in its colour (`text` overrides the words shown)."""
    return rx.badge(
        text if text is not None else status,
        color_scheme=rx.match(status, *STATUS_COLORS, "gray"),
        variant="soft",
    )


def pnl_text(text: rx.Var | str, tone: rx.Var | str, **props: object) -> rx.Component:
    """A PnL amount coloured by its tone ("up", "down", "flat", "none"), in tabular digits."""
    return rx.text(
        text,
        color=rx.match(tone, ("up", "var(--green-11)"), ("down", "var(--red-11)"), "var(--gray-12)"),
        weight="medium",
        style={"fontVariantNumeric": "tabular-nums"},
        **props,
    )
