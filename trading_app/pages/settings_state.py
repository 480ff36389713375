"""The state behind `/settings`. Thin: every handler re-derives the trader from the verified
session and calls the settings services with that address, never with one from the browser.

What reaches the browser: only non-secret display values (network, dydx1 address, dates,
the webhook URL, risk numbers, messages). Secrets:
- typed secrets (API key, phrase, bot token, chat id) arrive in a form submission or a
  `call_script` callback, go straight to the service, and are never kept in a var; the
  form is reset once they are saved;
- the webhook secret is fetched only when its owner clicks Reveal or Copy. It is written into
  the page's DOM by a script (Reveal) or the clipboard (Copy), never into a state var, so it
  is neither in Reflex's state store nor in the browser's state, and leaving the page drops it.
"""

from __future__ import annotations

import json
from datetime import datetime

import reflex as rx
from reflex.event import EventSpec

from trading_app.domain.enums import Network
from trading_app.domain.risk_settings import RISK_FIELDS, RiskSettings
from trading_app.pages.settings_control import ControlState
from trading_app.services.accounts import account as svc
from trading_app.services.accounts import credentials as creds
from trading_app.services.accounts import telegram as telegram
from trading_app.services.accounts.account import AccountOverview, SettingsInvalid
from trading_app.services.accounts.risk import save_risk
from trading_app.state import LOGIN_ROUTE, verified_address

NETWORK_LABELS = {"paper": "Paper", "testnet": "dYdX testnet", "mainnet": "dYdX mainnet"}
SECRET_INPUT_ID = "webhook-secret"  # noqa: S105 - an element id, not a secret
# read the typed Telegram values at click time, without ever binding them to state
_TYPED_TELEGRAM = (
    "({token: document.getElementById('telegram_token').value, "
    "chat_id: document.getElementById('telegram_chat_id').value})"
)


def when(moment: datetime | None) -> str:
    """`2025-01-31 14:05 UTC`, or "" for never."""
    return moment.strftime("%Y-%m-%d %H:%M UTC") if moment else ""


def _reset_form(form_id: str) -> EventSpec:
    return rx.call_script(f"document.getElementById({json.dumps(form_id)})?.reset()")


def _show_secret(value: str) -> EventSpec:
    # straight into the read-only input's DOM value: no Reflex var ever holds it
    return rx.call_script(
        f"document.getElementById({json.dumps(SECRET_INPUT_ID)}).value = {json.dumps(value)}"
    )


class SettingsState(rx.State):
    """What the settings page shows, and its actions."""

    loaded: bool = False
    # trading account
    network: str = "paper"
    network_choice: str = "paper"
    confirm_mainnet: bool = False
    credential_kind: str = "none"
    dydx_address: str = ""
    authenticator_id: str = ""
    dydx_set_at: str = ""
    network_error: str = ""
    credentials_error: str = ""
    # telegram
    telegram_token_set_at: str = ""
    telegram_chat_set_at: str = ""
    telegram_error: str = ""
    telegram_test_ok: bool = False
    telegram_test_message: str = ""
    discovery_link: str = ""
    _discovery_code: str = ""
    # webhook
    webhook_url: str = ""
    webhook_rotated_at: str = ""
    webhook_allowlist: bool = False
    secret_revealed: bool = False
    # risk defaults, as typed: field (`RISK_FIELDS`) -> text
    risk_form: dict[str, str] = dict.fromkeys(RISK_FIELDS, "")
    risk_error: str = ""

    def _apply(self, view: AccountOverview) -> None:
        self.network = self.network_choice = view.network.value
        self.credential_kind = view.credential_kind.value
        self.dydx_address = view.dydx_address or ""
        self.authenticator_id = "" if view.authenticator_id is None else str(view.authenticator_id)
        self.dydx_set_at = when(view.dydx_credentials_set_at)
        self.telegram_token_set_at = when(view.telegram_token_set_at)
        self.telegram_chat_set_at = when(view.telegram_chat_id_set_at)
        self.webhook_url = view.webhook_url
        self.webhook_rotated_at = when(view.webhook_secret_rotated_at)
        self.webhook_allowlist = view.webhook_ip_allowlist
        self.risk_form = RiskSettings.of(view).texts()
        self.loaded = True

    async def _refresh(self, address: str) -> None:
        self._apply(await svc.get_overview(address))

    # -- loading -------------------------------------------------------------------------
    @rx.event
    async def load(self):
        """`on_load`: show this trader's settings (the guard before it redirects strangers)."""
        self.secret_revealed = False
        self.discovery_link = self._discovery_code = ""
        self.network_error = self.credentials_error = self.telegram_error = self.risk_error = ""
        self.telegram_test_message = ""
        self.confirm_mainnet = False
        address = await verified_address(self)
        if address is None:  # the guard before it redirects too; a session revoked in between
            self.loaded = False
            return rx.redirect(LOGIN_ROUTE, replace=True)
        await self._refresh(address)
        return None

    # -- trading account -----------------------------------------------------------------
    @rx.event
    def set_network_choice(self, value: str):
        self.network_choice = value
        self.network_error = ""

    @rx.event
    def set_confirm_mainnet(self, value: bool):
        self.confirm_mainnet = bool(value)

    @rx.event
    async def save_network(self):
        """Switch network (mainnet only with the confirmation ticked)."""
        address = await verified_address(self)
        if address is None:
            return rx.redirect(LOGIN_ROUTE)
        try:
            network = await svc.save_network(
                address, self.network_choice, confirm_mainnet=self.confirm_mainnet
            )
        except SettingsInvalid as e:
            self.network_error = e.message
            return None
        self.network_error = ""
        self.confirm_mainnet = False
        await self._refresh(address)
        warning = " Real money is at risk." if network is Network.MAINNET else ""
        return rx.toast.success(f"Orders now go to {NETWORK_LABELS[network.value]}.{warning}")

    @rx.event
    async def save_api_key(self, form: dict):
        """Save a permissioned API trading key (form: api_private_key, owner_address, authenticator_id)."""
        address = await verified_address(self)
        if address is None:
            return rx.redirect(LOGIN_ROUTE)
        form = form if isinstance(form, dict) else {}  # the socket may send anything
        try:
            owner = await creds.save_dydx_api_key(
                address,
                str(form.get("api_private_key") or ""),
                str(form.get("owner_address") or ""),
                str(form.get("authenticator_id") or ""),
            )
        except SettingsInvalid as e:
            self.credentials_error = e.message
            return None
        return await self._credentials_saved(
            address, f"API trading key saved for {owner}.", "dydx-api-key-form"
        )

    @rx.event
    async def save_mnemonic(self, form: dict):
        """Save a 24-word secret phrase (form: mnemonic)."""
        address = await verified_address(self)
        if address is None:
            return rx.redirect(LOGIN_ROUTE)
        form = form if isinstance(form, dict) else {}  # the socket may send anything
        try:
            owner = await creds.save_dydx_mnemonic(address, str(form.get("mnemonic") or ""))
        except SettingsInvalid as e:
            self.credentials_error = e.message
            return None
        return await self._credentials_saved(
            address, f"Secret phrase saved. Its address is {owner}.", "dydx-mnemonic-form"
        )

    async def _credentials_saved(self, address: str, note: str, form_id: str) -> list:
        self.credentials_error = ""
        await self._refresh(address)
        return [_reset_form(form_id), rx.toast.success(note)]

    @rx.event
    async def remove_credentials(self):
        """Forget the dYdX credentials (back to paper)."""
        address = await verified_address(self)
        if address is None:
            return rx.redirect(LOGIN_ROUTE)
        try:
            await creds.remove_dydx_credentials(address)
        except SettingsInvalid as e:
            self.credentials_error = e.message
            return None
        self.credentials_error = ""
        await self._refresh(address)
        return rx.toast.info("dYdX credentials removed. You are back on paper trading.")

    # -- telegram ------------------------------------------------------------------------
    @rx.event
    async def save_telegram(self, form: dict):
        """Save the bot token and/or chat id (form: telegram_token, telegram_chat_id)."""
        address = await verified_address(self)
        if address is None:
            return rx.redirect(LOGIN_ROUTE)
        form = form if isinstance(form, dict) else {}  # the socket may send anything
        try:
            await telegram.save_telegram(
                address, str(form.get("telegram_token") or ""), str(form.get("telegram_chat_id") or "")
            )
        except SettingsInvalid as e:
            self.telegram_error = e.message
            return None
        self.telegram_error = self.telegram_test_message = ""
        await self._refresh(address)
        return [_reset_form("telegram-form"), ControlState.load, rx.toast.success("Telegram settings saved.")]

    @rx.event
    def send_test(self):
        """Read the typed values in the page, then `run_test` with them (saved ones fill the gaps)."""
        return rx.call_script(_TYPED_TELEGRAM, callback=SettingsState.run_test)

    @rx.event
    async def run_test(self, typed: dict):
        address = await verified_address(self)
        if address is None:
            return rx.redirect(LOGIN_ROUTE)
        typed = typed if isinstance(typed, dict) else {}
        result = await telegram.send_telegram_test(
            address, str(typed.get("token") or ""), str(typed.get("chat_id") or "")
        )
        self.telegram_test_ok = result.ok
        self.telegram_test_message = result.message
        return None

    @rx.event
    def find_chat_id(self):
        """Start chat id discovery with the typed token (or the saved one)."""
        return rx.call_script(_TYPED_TELEGRAM, callback=SettingsState.start_discovery)

    @rx.event
    async def start_discovery(self, typed: dict):
        address = await verified_address(self)
        if address is None:
            return rx.redirect(LOGIN_ROUTE)
        typed = typed if isinstance(typed, dict) else {}
        try:
            discovery = await telegram.start_chat_discovery(address, str(typed.get("token") or ""))
        except SettingsInvalid as e:
            self.telegram_error = e.message
            return None
        self.telegram_error = ""
        self.discovery_link, self._discovery_code = discovery.link, discovery.code
        return None

    @rx.event
    def check_discovery(self):
        """After the trader pressed Start in Telegram: look for their chat."""
        return rx.call_script(_TYPED_TELEGRAM, callback=SettingsState.finish_discovery)

    @rx.event
    async def finish_discovery(self, typed: dict):
        address = await verified_address(self)
        if address is None:
            return rx.redirect(LOGIN_ROUTE)
        if not self._discovery_code:
            self.telegram_error = "Click “Find my chat id” first."
            return None
        typed = typed if isinstance(typed, dict) else {}
        try:
            found = await telegram.finish_chat_discovery(
                address, self._discovery_code, str(typed.get("token") or "")
            )
        except SettingsInvalid as e:
            self.telegram_error = e.message
            return None
        if not found:
            self.telegram_error = (
                "No Start from you yet. Open the link, press Start in Telegram, then check again."
            )
            return None
        self.telegram_error = self.telegram_test_message = ""
        self.discovery_link = self._discovery_code = ""
        await self._refresh(address)
        return [_reset_form("telegram-form"), ControlState.load, rx.toast.success("Chat found and saved.")]

    @rx.event
    async def remove_telegram(self):
        address = await verified_address(self)
        if address is None:
            return rx.redirect(LOGIN_ROUTE)
        await telegram.remove_telegram(address)
        self.telegram_test_message = self.telegram_error = self.discovery_link = self._discovery_code = ""
        await self._refresh(address)
        return [ControlState.load, rx.toast.info("Telegram notifications turned off.")]

    # -- webhook -------------------------------------------------------------------------
    @rx.event
    async def reveal_secret(self):
        """Show the webhook secret to its owner (into the DOM only)."""
        address = await verified_address(self)
        if address is None:
            return rx.redirect(LOGIN_ROUTE)
        self.secret_revealed = True
        return _show_secret(await svc.reveal_webhook_secret(address))

    @rx.event
    def hide_secret(self):
        self.secret_revealed = False
        return _show_secret("")

    @rx.event
    async def copy_secret(self):
        address = await verified_address(self)
        if address is None:
            return rx.redirect(LOGIN_ROUTE)
        return [
            rx.set_clipboard(await svc.reveal_webhook_secret(address)),
            rx.toast.success("Webhook secret copied."),
        ]

    @rx.event
    async def copy_alert_message(self):
        """Copy the TradingView alert message with the real secret in it."""
        address = await verified_address(self)
        if address is None:
            return rx.redirect(LOGIN_ROUTE)
        message = svc.alert_template(await svc.reveal_webhook_secret(address))
        return [
            rx.set_clipboard(message),
            rx.toast.success("Alert message copied. Paste it into TradingView."),
        ]

    @rx.event
    async def rotate_secret(self):
        """Replace the webhook secret; the old one stops working at once."""
        address = await verified_address(self)
        if address is None:
            return rx.redirect(LOGIN_ROUTE)
        await svc.rotate_webhook_secret(address)
        self.secret_revealed = False
        await self._refresh(address)
        return [
            _show_secret(""),
            rx.toast.success("New webhook secret active. Update your TradingView alerts."),
        ]

    @rx.event
    async def set_webhook_allowlist(self, enabled: bool):
        """Accept alerts from TradingView's addresses only (on), or from anywhere (off)."""
        address = await verified_address(self)
        if address is None:
            return rx.redirect(LOGIN_ROUTE)
        self.webhook_allowlist = await svc.set_webhook_allowlist(address, bool(enabled))
        if self.webhook_allowlist:
            return rx.toast.success("Only TradingView's addresses can send alerts now.")
        return rx.toast.info("Alerts are accepted from any address again.")

    # -- risk ----------------------------------------------------------------------------
    @rx.event
    def set_risk_field(self, field: str, value: str):
        if field in RISK_FIELDS:
            self.risk_form = {**self.risk_form, field: str(value)}
            self.risk_error = ""

    @rx.event
    async def save_risk(self):
        address = await verified_address(self)
        if address is None:
            return rx.redirect(LOGIN_ROUTE)
        try:
            await save_risk(address, dict(self.risk_form))
        except SettingsInvalid as e:
            self.risk_error = e.message
            return None
        self.risk_error = ""
        await self._refresh(address)
        return rx.toast.success("Risk defaults saved.")
