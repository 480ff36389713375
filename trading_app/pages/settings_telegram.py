"""The Telegram part of `/settings`: bot token and chat id, the test message, finding the chat id."""

from __future__ import annotations

import reflex as rx

from trading_app.pages.settings_parts import error_notice, labelled, set_badge, steps, text_input
from trading_app.pages.settings_state import SettingsState as S


def telegram_card() -> rx.Component:
    """Token and chat id (shown only as "set on"), the test message and the chat id discovery."""
    help_text = rx.vstack(
        rx.text("Finding your chat id", size="2", weight="medium"),
        steps(
            "Create a bot with @BotFather and paste its token above.",
            "Click “Find my chat id”, open the link in Telegram and press Start, then click “Check”.",
            "Or message @userinfobot in Telegram: it replies with your id.",
        ),
        spacing="2",
        width="100%",
    )
    discovery = rx.cond(
        S.discovery_link != "",
        rx.callout(
            rx.vstack(
                rx.text("Open this link in Telegram and press Start:"),
                rx.link(S.discovery_link, href=S.discovery_link, is_external=True, id="discovery-link"),
                rx.button("Check", on_click=S.check_discovery, type="button", size="1"),
                spacing="2",
            ),
            icon="send",
            width="100%",
        ),
    )
    result = rx.cond(
        S.telegram_test_message != "",
        rx.callout(
            S.telegram_test_message,
            icon=rx.cond(S.telegram_test_ok, "circle_check", "circle_x"),
            color_scheme=rx.cond(S.telegram_test_ok, "green", "red"),
            id="telegram-test-result",
            role="status",
            width="100%",
        ),
    )
    return rx.vstack(
        rx.hstack(
            set_badge(S.telegram_token_set_at, "Bot token", "telegram-token-status"),
            set_badge(S.telegram_chat_set_at, "Chat id", "telegram-chat-status"),
            wrap="wrap",
        ),
        rx.form(
            rx.grid(
                labelled(
                    "Bot token",
                    text_input("telegram_token", type="password", placeholder="123456789:AA…"),
                    "telegram_token",
                    "From @BotFather. Leave empty to keep the saved one.",
                ),
                labelled(
                    "Chat id",
                    text_input("telegram_chat_id", placeholder="123456789"),
                    "telegram_chat_id",
                    "Leave empty to keep the saved one.",
                ),
                columns=rx.breakpoints(initial="1", sm="2"),
                spacing="4",
                width="100%",
            ),
            rx.hstack(
                rx.button("Save Telegram", type="submit"),
                rx.button("Send test message", on_click=S.send_test, type="button", variant="soft"),
                rx.button("Find my chat id", on_click=S.find_chat_id, type="button", variant="soft"),
                rx.cond(
                    S.telegram_token_set_at != "",
                    rx.button(
                        "Turn off",
                        on_click=S.remove_telegram,
                        type="button",
                        variant="soft",
                        color_scheme="red",
                    ),
                ),
                spacing="3",
                wrap="wrap",
                margin_top="1em",
            ),
            on_submit=S.save_telegram,
            reset_on_submit=False,
            id="telegram-form",
            width="100%",
        ),
        error_notice(S.telegram_error, "telegram-error"),
        result,
        discovery,
        help_text,
        spacing="3",
        width="100%",
    )
