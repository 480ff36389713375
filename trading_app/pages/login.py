"""`/login`: sign in with an Ethereum wallet (EIP-6963 discovery, then personal_sign).

The wallet dance runs in `assets/wallet.js`; the backend API writes and checks the message
and sets the HttpOnly session cookie. This page only starts it and explains the outcome.
"""

from __future__ import annotations

import json

import reflex as rx

from trading_app.settings import get_settings
from trading_app.state import api_base, verified_address

DASHBOARD_ROUTE = "/dashboard"
CHAIN_NAMES = {1: "Ethereum mainnet", 10: "OP Mainnet", 137: "Polygon", 8453: "Base", 42161: "Arbitrum One",
               11155111: "Sepolia"}  # fmt: skip

_RETRY = "Please try again."
_MESSAGES = {
    "no_wallet": (
        "No Ethereum wallet found. Install a browser wallet such as MetaMask, then reload this page."
    ),
    "no_account": "Your wallet did not share an account. Unlock it and try again.",
    "rejected": "You rejected the request in your wallet, so nothing was signed.",
    "expired": f"This sign-in request expired before it was signed. {_RETRY}",
    "not_yet_valid": f"This sign-in request is not valid yet; check your computer's clock. {_RETRY}",
    "unknown_nonce": f"This sign-in request was already used or is unknown. {_RETRY}",
    "message_mismatch": "This sign-in request was not issued for this site. You were not signed in.",
    "domain_mismatch": "This sign-in request was issued for another site. You were not signed in.",
    "uri_mismatch": "This sign-in request was issued for another site. You were not signed in.",
    "signer_mismatch": "The signature does not come from the account in the request. "
    "Sign with the account you selected in your wallet.",
    "bad_signature": f"Your wallet returned an invalid signature. {_RETRY}",
    "invalid_address": "Your wallet returned an invalid address.",
    "rate_limited": "Too many sign-in attempts. Wait a minute, then try again.",
    "invalid_request": f"The sign-in request was malformed. {_RETRY}",
    "page_incomplete": "This page did not load completely. Reload it, then try again.",
}
_SERVER_TROUBLE = "The server could not complete the sign-in. Please try again in a moment."


def chain_name(chain_id: int) -> str:
    """A readable name for a chain id."""
    name = CHAIN_NAMES.get(chain_id)
    return f"{name} (chain id {chain_id})" if name else f"chain id {chain_id}"


def explain(result: dict, expected_chain: int) -> str:
    """The sentence to show for a failed sign-in result from `tradingWallet.signIn`."""
    code = str(result.get("error") or "")
    if code in ("wrong_chain", "unsupported_chain", "chain_mismatch"):
        current = result.get("chain")
        where = f"Your wallet is on {chain_name(int(current))}. " if isinstance(current, int) else ""
        return f"{where}Switch your wallet to {chain_name(expected_chain)}, then try again."
    if code == "wallet_error":
        detail = str(result.get("detail") or "unknown error")[:200]
        return f"Your wallet reported an error: {detail}"
    return _MESSAGES.get(code, _SERVER_TROUBLE)


class LoginState(rx.State):
    """Progress and outcome of one sign-in attempt on this tab."""

    busy: bool = False
    error: str = ""

    @rx.event
    async def redirect_if_signed_in(self):
        """`on_load` of /login: a live session goes straight to the dashboard."""
        self.busy = False
        if await verified_address(self) is not None:
            return rx.redirect(DASHBOARD_ROUTE, replace=True)
        return None

    @rx.event
    def sign_in(self):
        """Run the wallet flow in the browser; `on_result` receives its outcome."""
        self.busy = True
        self.error = ""
        args = f"{json.dumps(api_base())}, {int(get_settings().siwe_chain_id)}"
        # a script that failed to load must still answer, or the button would spin forever
        call = f"window.tradingWallet ? window.tradingWallet.signIn({args}) : {{error: 'page_incomplete'}}"
        return rx.call_script(call, callback=LoginState.on_result)

    @rx.event
    def on_result(self, result: dict):
        """Go to the dashboard with a full navigation (new socket, new cookie), or explain."""
        if isinstance(result, dict) and result.get("address"):
            return rx.call_script(f"window.tradingWallet.go({json.dumps(DASHBOARD_ROUTE)})")
        self.busy = False
        self.error = explain(result if isinstance(result, dict) else {}, get_settings().siwe_chain_id)
        return None


def login_page() -> rx.Component:
    """The page at `/login`."""
    return rx.center(
        rx.card(
            rx.vstack(
                rx.heading("Sign in", size="7", as_="h1"),
                rx.text(
                    "Sign in with your Ethereum wallet. You sign a short message: it costs no gas "
                    "and sends no transaction.",
                    color_scheme="gray",
                ),
                rx.button(
                    rx.cond(LoginState.busy, "Waiting for your wallet…", "Connect wallet and sign in"),
                    on_click=LoginState.sign_in,
                    loading=LoginState.busy,
                    size="3",
                    width="100%",
                    id="sign-in",
                ),
                rx.cond(
                    LoginState.error != "",
                    rx.callout(
                        LoginState.error,
                        icon="triangle_alert",
                        color_scheme="red",
                        role="alert",
                        id="login-error",
                        width="100%",
                    ),  # fmt: skip
                ),
                rx.link("Back to the home page", href="/", size="2"),
                spacing="4",
                align="start",
            ),
            size="4",
            max_width="28em",
        ),
        min_height="80vh",
        padding="1em",
    )
