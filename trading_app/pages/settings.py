"""`/settings`: where the trader trades, their dYdX credentials, Telegram, webhook and risk defaults.

Register with the guard first: `on_load=[AuthState.require_login, SettingsState.load]`.
Saved secrets are never sent back: the page shows when each was set, and secret inputs start
empty (see `settings_state` for how each secret travels).
"""

from __future__ import annotations

import reflex as rx

from trading_app.components.layout import app_shell, page_header
from trading_app.pages.settings_account import credentials_card, network_card, sessions_card
from trading_app.pages.settings_alerts import alerts_card
from trading_app.pages.settings_control import control_card
from trading_app.pages.settings_parts import error_notice, labelled, section, text_input
from trading_app.pages.settings_state import SettingsState
from trading_app.pages.settings_telegram import telegram_card
from trading_app.pages.settings_webhook import webhook_card
from trading_app.services.accounts.risk import (
    MAX_LEVERAGE,
    MAX_OPEN_POSITIONS,
    MAX_SLIPPAGE_PCT,
    SAME_MARKET_POLICIES,
    SIZE_MODE_LABELS,
)

S = SettingsState
# The controls of the risk defaults (`domain.risk_settings.RISK_FIELDS`): a select and a radio group
# for the two choices, and a text input (label, hint, placeholder) for every number, in form order
RISK_CHOICES = ("size_mode", "same_market_policy")
RISK_INPUTS = {
    "size_value": ("Default size", "Units of the mode: base units, USD or percent.", ""),
    "max_open_positions": ("Max open positions", f"1 to {MAX_OPEN_POSITIONS}.", ""),
    "max_leverage": ("Max leverage", f"Notional ÷ equity, at most {MAX_LEVERAGE}.", ""),
    "max_notional_usd": ("Max notional per position (USD)", "Empty for no limit.", "no limit"),
    "daily_loss_limit_usd": ("Daily loss limit (USD)", "New entries stop for the day once hit.", "no limit"),
    "slippage_pct": (
        "Slippage (%)",
        f"Worst price allowed for market orders, at most {MAX_SLIPPAGE_PCT}%.",
        "",
    ),
}


def _risk_input(field: str) -> rx.Component:
    label, hint, placeholder = RISK_INPUTS[field]
    control = text_input(
        field,
        value=S.risk_form[field],
        on_change=S.set_risk_field(field),
        input_mode="decimal",
        placeholder=placeholder,
    )
    return labelled(label, control, field, hint)


def _same_market_policy() -> rx.Component:
    """What an opposite-side alert does while a position in that market is open."""
    choices = rx.radio_group.root(
        rx.vstack(
            *[
                rx.el.label(
                    rx.hstack(
                        rx.radio_group.item(value=value, id=f"same-market-{value}"),
                        rx.text(label, size="2"),
                        spacing="2",
                        align="center",
                    ),
                    html_for=f"same-market-{value}",
                    style={"cursor": "pointer"},
                )
                for value, label in SAME_MARKET_POLICIES.items()
            ],
            spacing="2",
        ),
        value=S.risk_form["same_market_policy"],
        on_change=S.set_risk_field("same_market_policy"),
        aria_label="Same-market policy",
        name="same_market_policy",
        id="same_market_policy",
    )
    return labelled(
        "Opposite alert while a position is open",
        choices,
        "same_market_policy",
        "E.g. a sell alert for BTC-USD while you are long BTC-USD. A same-side alert is always "
        "rejected (no pyramiding); close and reverse alerts always work.",
    )


def _risk() -> rx.Component:
    mode = rx.select.root(
        rx.select.trigger(id="size_mode", width="100%"),
        rx.select.content(*[rx.select.item(label, value=value) for value, label in SIZE_MODE_LABELS.items()]),
        value=S.risk_form["size_mode"],
        on_change=S.set_risk_field("size_mode"),
        name="size_mode",
    )
    return rx.vstack(
        rx.grid(
            labelled("Default size mode", mode, "size_mode", "Used when an alert does not give a size."),
            *[_risk_input(field) for field in RISK_INPUTS],
            columns=rx.breakpoints(initial="1", sm="2"),
            spacing="4",
            width="100%",
        ),
        _same_market_policy(),
        error_notice(S.risk_error, "risk-error"),
        rx.button("Save risk defaults", on_click=S.save_risk, type="button"),
        spacing="4",
        width="100%",
    )


def _content() -> rx.Component:
    return rx.vstack(
        page_header(
            "Settings",
            "Where your alerts trade, your dYdX credentials, Telegram, your webhook and risk defaults.",
        ),
        section(
            "wallet",
            "Trading account",
            "Where your alerts trade, and how we sign orders on dYdX.",
            network_card(),
            rx.separator(size="4"),
            credentials_card(),
            section_id="trading-account",
        ),
        section(
            "webhook",
            "TradingView webhook",
            "Where TradingView sends your alerts, and the secret that proves they are yours.",
            webhook_card(),
            section_id="webhook",
        ),
        section(
            "zap",
            "Alert builder",
            "Build a TradingView alert message checked against the live market, and send a test alert.",
            alerts_card(),
            section_id="alert-builder",
        ),
        section(
            "bell",
            "Telegram notifications",
            "Your own bot tells you about every trade, rejection and error.",
            telegram_card(),
            section_id="telegram",
        ),
        section(
            "pause",
            "Pause and remote control",
            "Stop trading alerts at once, here or with /pause from your bot's chat.",
            control_card(),
            section_id="control",
        ),
        section(
            "shield",
            "Risk defaults",
            "Applied by the trading engine to every alert, unless it says otherwise.",
            _risk(),
            section_id="risk",
        ),
        section(
            "log_out",
            "Sign-in sessions",
            "Where this wallet is signed in to the app.",
            sessions_card(),
            section_id="sessions",
        ),
        spacing="5",
        width="100%",
    )


def settings_page() -> rx.Component:
    """The page at `/settings`: the shared top bar over the sections, once the settings are loaded."""
    return app_shell(
        "settings",
        rx.cond(
            S.loaded,
            _content(),
            rx.center(rx.spinner(size="3"), min_height="60vh", id="loading-settings"),
        ),
    )
