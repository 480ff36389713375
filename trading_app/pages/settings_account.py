"""The trading account part of `/settings`: network choice, dYdX credentials, sign-in sessions."""

from __future__ import annotations

import reflex as rx

from trading_app.components.dialogs import confirm
from trading_app.pages.settings_parts import error_notice, labelled, steps, text_input
from trading_app.pages.settings_state import SettingsState as S
from trading_app.services.accounts.account import MAINNET_CONFIRMATION
from trading_app.settings import get_settings
from trading_app.state import AuthState

NETWORK_CHOICES = [
    ("paper", "Paper", "Simulated fills on real dYdX prices. No money at risk."),
    ("testnet", "dYdX testnet", "Real dYdX orders with test funds."),
    ("mainnet", "dYdX mainnet", "Real orders with real money."),
]


def network_card() -> rx.Component:
    """Where orders go: paper, testnet, or mainnet after an explicit confirmation."""
    choices = rx.radio_group.root(
        rx.vstack(
            *[
                rx.el.label(
                    rx.hstack(
                        rx.radio_group.item(value=value, id=f"network-{value}"),
                        rx.vstack(
                            rx.text(title, size="2", weight="medium"),
                            rx.text(body, size="1", color_scheme="gray"),
                            spacing="0",
                        ),
                        spacing="2",
                        align="start",
                    ),
                    html_for=f"network-{value}",
                    style={"cursor": "pointer"},
                )
                for value, title, body in NETWORK_CHOICES
            ],
            spacing="3",
        ),
        value=S.network_choice,
        on_change=S.set_network_choice,
        aria_label="Network",
        name="network",
    )
    return rx.vstack(
        rx.hstack(
            rx.text("Orders go to", size="2", color_scheme="gray"),
            rx.badge(
                rx.match(S.network, ("mainnet", "dYdX mainnet"), ("testnet", "dYdX testnet"), "Paper"),
                color_scheme=rx.match(S.network, ("mainnet", "red"), ("testnet", "amber"), "green"),
                size="2",
                id="current-network",
            ),
            align="center",
        ),
        rx.cond(
            S.network == "mainnet",
            rx.callout(
                "Live trading: your alerts place real orders with real money.",
                icon="circle_alert",
                color_scheme="red",
                width="100%",
                id="mainnet-live",
            ),
        ),
        choices,
        rx.cond(
            (S.network_choice == "mainnet") & (S.network != "mainnet"),
            rx.callout(
                rx.vstack(
                    rx.text(
                        "Mainnet trades real money. Alerts will open real positions on your dYdX account."
                    ),
                    rx.checkbox(
                        MAINNET_CONFIRMATION,
                        checked=S.confirm_mainnet,
                        on_change=S.set_confirm_mainnet,
                        id="confirm-mainnet",
                    ),
                    spacing="2",
                ),
                icon="triangle_alert",
                color_scheme="red",
                width="100%",
            ),
        ),
        error_notice(S.network_error, "network-error"),
        rx.button(
            "Save network", on_click=S.save_network, type="button", disabled=S.network_choice == S.network
        ),
        spacing="3",
        width="100%",
    )


def _api_key_form() -> rx.Component:
    return rx.form(
        rx.vstack(
            rx.callout(
                "Recommended. An API trading key can place and cancel orders for your account but can never "
                "withdraw or transfer funds, and you can revoke it on dydx.trade at any time.",
                icon="shield_check",
                color_scheme="green",
            ),
            rx.text("How to create one:", size="2", weight="medium"),
            steps(
                "Open dydx.trade and connect the wallet that owns your dYdX account.",
                "Go to More → API Trading Keys → Generate New API Key, then Authorize.",
                "Copy the key's private key (shown once), your dydx1 address and the authenticator id below.",
            ),
            labelled(
                "API key private key (hex)",
                text_input("api_private_key", type="password", placeholder="64 hexadecimal characters"),
                "api_private_key",
            ),
            labelled(
                "Owner dYdX address",
                text_input("owner_address", placeholder="dydx1…"),
                "owner_address",
                "The dydx1 address of your account (the one that authorised the key).",
            ),
            labelled(
                "Authenticator id",
                text_input("authenticator_id", placeholder="e.g. 7", input_mode="numeric"),
                "authenticator_id",
            ),
            rx.button("Save API key", type="submit"),
            spacing="3",
            width="100%",
        ),
        on_submit=S.save_api_key,
        reset_on_submit=False,
        id="dydx-api-key-form",
        width="100%",
    )


def _mnemonic_form() -> rx.Component:
    return rx.form(
        rx.vstack(
            rx.callout(
                "Full custody. The secret phrase controls everything in your dYdX account, withdrawals "
                "included. We keep it encrypted and use it only to sign orders, but anyone who obtains it "
                "can take your funds. Prefer an API trading key.",
                icon="triangle_alert",
                color_scheme="orange",
            ),
            labelled(
                "Secret phrase (24 words)",
                rx.text_area(
                    id="mnemonic",
                    name="mnemonic",
                    rows="3",
                    width="100%",
                    auto_complete=False,
                    spell_check=False,
                    placeholder="word1 word2 … word24",
                ),
                "mnemonic",
                "From dydx.trade: Settings → Export secret phrase. We derive and show its dydx1 address.",
            ),
            rx.button("Save secret phrase", type="submit", color_scheme="orange"),
            spacing="3",
            width="100%",
        ),
        on_submit=S.save_mnemonic,
        reset_on_submit=False,
        id="dydx-mnemonic-form",
        width="100%",
    )


def credentials_card() -> rx.Component:
    """What is saved (kind, dydx1 address, date; never the secret) and the two ways to save credentials."""
    saved = rx.cond(
        S.credential_kind != "none",
        rx.callout(
            rx.vstack(
                rx.text(
                    rx.cond(S.credential_kind == "api_key", "API trading key", "Secret phrase"),
                    " saved on ",
                    S.dydx_set_at,
                    weight="medium",
                ),
                rx.hstack(
                    rx.text("Orders are placed for", size="2"),
                    rx.code(S.dydx_address, id="dydx-address"),
                    rx.cond(
                        S.authenticator_id != "", rx.text("· authenticator ", S.authenticator_id, size="2")
                    ),
                    wrap="wrap",
                    align="center",
                ),
                spacing="1",
            ),
            icon="lock",
            color_scheme="green",
            width="100%",
            id="dydx-credentials-status",
        ),
        rx.callout(
            "No dYdX credentials saved: you can trade on paper.",
            icon="info",
            color_scheme="gray",
            width="100%",
            id="dydx-credentials-status",
        ),
    )
    return rx.vstack(
        rx.heading("dYdX credentials", size="3", as_="h3"),
        saved,
        rx.tabs.root(
            rx.tabs.list(
                rx.tabs.trigger("API trading key (recommended)", value="api_key"),
                rx.tabs.trigger("Secret phrase", value="mnemonic"),
            ),
            rx.tabs.content(rx.box(_api_key_form(), padding_top="1em"), value="api_key"),
            rx.tabs.content(rx.box(_mnemonic_form(), padding_top="1em"), value="mnemonic"),
            default_value="api_key",
            width="100%",
        ),
        error_notice(S.credentials_error, "credentials-error"),
        rx.cond(
            S.credential_kind != "none",
            confirm(
                rx.button("Remove dYdX credentials", type="button", variant="soft", color_scheme="red"),
                "Remove your dYdX credentials?",
                "The encrypted key is deleted and your account goes back to paper trading.",
                "Remove",
                S.remove_credentials,
            ),
        ),
        spacing="3",
        width="100%",
    )


def _duration(minutes: int) -> str:
    if minutes % (24 * 60) == 0:
        days = minutes // (24 * 60)
        return f"{days} day" + ("s" if days != 1 else "")
    if minutes % 60 == 0:
        return f"{minutes // 60} hour" + ("s" if minutes != 60 else "")
    return f"{minutes} minutes"


def sessions_card() -> rx.Component:
    """Sign out of every browser and device at once (e.g. after using a shared computer)."""
    settings = get_settings()
    return rx.vstack(
        rx.text(
            f"You stay signed in on each browser for up to {_duration(settings.session_ttl_hours * 60)}, "
            f"or until you have not used it for {_duration(settings.session_idle_minutes)}. If you "
            "signed in somewhere you no longer trust, end every session at once.",
            size="2",
            color_scheme="gray",
        ),
        confirm(
            rx.button(
                "Sign out everywhere",
                type="button",
                variant="soft",
                color_scheme="red",
                id="sign-out-everywhere",
            ),
            "Sign out everywhere?",
            "Every session of this wallet ends now, this one included: all browsers and devices "
            "must sign in with the wallet again. Your alerts keep trading.",
            "Sign out everywhere",
            AuthState.sign_out_everywhere,
            confirm_id="confirm-sign-out-everywhere",
        ),
        spacing="3",
        width="100%",
    )
