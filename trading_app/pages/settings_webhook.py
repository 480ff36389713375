"""The webhook part of `/settings`: URL, secret (shown or copied on request only), rotation, alert text."""

from __future__ import annotations

import reflex as rx

from trading_app.components.dialogs import confirm
from trading_app.pages.settings_parts import labelled
from trading_app.pages.settings_state import SECRET_INPUT_ID
from trading_app.pages.settings_state import SettingsState as S
from trading_app.services.accounts.account import alert_template
from trading_app.services.intake.inbox import TRADINGVIEW_IPS

ALERT_PREVIEW = alert_template("<your webhook secret>")
TRADINGVIEW_ADDRESSES = ", ".join(sorted(str(ip) for ip in TRADINGVIEW_IPS))


def _allowlist() -> rx.Component:
    """The TradingView-only switch, naming the addresses it lets in."""
    return rx.vstack(
        rx.el.label(
            rx.hstack(
                rx.switch(
                    checked=S.webhook_allowlist,
                    on_change=S.set_webhook_allowlist,
                    id="webhook-allowlist",
                ),
                rx.text("Accept alerts only from TradingView's servers", size="2", weight="medium"),
                spacing="2",
                align="center",
            ),
            html_for="webhook-allowlist",
            style={"cursor": "pointer"},
        ),
        rx.text(
            "TradingView sends webhooks from ",
            rx.code(TRADINGVIEW_ADDRESSES, id="tradingview-addresses"),
            ". When this is on, an alert from any other address is refused (HTTP 403) even with the "
            "right secret, so a leaked secret alone cannot trade. While it is on, test alerts from "
            "this page or your own machine are refused too.",
            size="1",
            color_scheme="gray",
        ),
        spacing="1",
        width="100%",
    )


def _copy_row(control: rx.Component, *buttons: rx.Component) -> rx.Component:
    return rx.hstack(control, *buttons, spacing="2", width="100%", align="center")


def webhook_card() -> rx.Component:
    """The webhook URL, the secret behind Reveal/Copy, rotation and the ready-to-paste alert message."""
    return rx.vstack(
        labelled(
            "Webhook URL",
            _copy_row(
                rx.input(value=S.webhook_url, read_only=True, id="webhook-url", width="100%"),
                rx.button(
                    rx.icon("copy", size=14),
                    "Copy",
                    on_click=rx.set_clipboard(S.webhook_url),
                    type="button",
                    variant="soft",
                    aria_label="Copy webhook URL",
                ),
            ),
            "webhook-url",
            "Paste it into the Webhook URL of your TradingView alert.",
        ),
        labelled(
            "Webhook secret",
            _copy_row(
                # an uncontrolled input: Reveal writes the secret into it by script, never into state
                rx.el.input(
                    id=SECRET_INPUT_ID,
                    read_only=True,
                    placeholder="•••••••• hidden",
                    class_name="rt-reset rt-TextFieldInput",
                    style={
                        "width": "100%",
                        "fontFamily": "monospace",
                        "padding": "0.4em 0.6em",
                        "border": "1px solid var(--gray-a7)",
                        "borderRadius": "var(--radius-2)",
                    },
                ),
                rx.button(
                    rx.cond(S.secret_revealed, "Hide", "Reveal"),
                    type="button",
                    variant="soft",
                    on_click=rx.cond(S.secret_revealed, S.hide_secret, S.reveal_secret),
                ),
                rx.button(
                    rx.icon("copy", size=14),
                    "Copy",
                    on_click=S.copy_secret,
                    type="button",
                    variant="soft",
                    aria_label="Copy webhook secret",
                ),
            ),
            SECRET_INPUT_ID,
            rx.text(
                'Goes in the alert message as "secret". Last rotated ',
                S.webhook_rotated_at,
                ".",
                size="1",
                color_scheme="gray",
                id="webhook-rotated-at",
            ),
        ),
        confirm(
            rx.button("Rotate secret", type="button", variant="soft", color_scheme="red"),
            "Rotate the webhook secret?",
            "A new secret is created and the current one stops working immediately. Alerts that "
            "still send the old secret will be rejected until you update them.",
            "Rotate",
            S.rotate_secret,
        ),
        _allowlist(),
        rx.vstack(
            rx.text("TradingView alert message", size="2", weight="medium"),
            rx.code_block(
                ALERT_PREVIEW, language="json", wrap_long_lines=True, width="100%", id="alert-preview"
            ),
            rx.text(
                "Copy gives you this message with your real secret in it. size_usd, sl_pct and rr are "
                "examples: change them or drop them to use your risk defaults.",
                size="1",
                color_scheme="gray",
            ),
            rx.button(
                rx.icon("clipboard_copy", size=14),
                "Copy alert message",
                on_click=S.copy_alert_message,
                type="button",
            ),
            spacing="2",
            width="100%",
        ),
        spacing="4",
        width="100%",
    )
