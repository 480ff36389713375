"""A fake browser wallet for Playwright: an EIP-1193 provider announced through EIP-6963 (and
set as `window.ethereum`), whose requests are answered in Python, signing with eth-account
exactly as MetaMask's `personal_sign` does.

    wallet = FakeWallet()
    wallet.install(page)                       # before page.goto
    page.goto(app.frontend_url + "/login")

For tests that only need a signed-in browser: `sign_in_via_api(context, app)`.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import httpx
from eth_account import Account
from eth_account.messages import encode_defunct
from eth_account.signers.local import LocalAccount
from playwright.sync_api import BrowserContext, Page

SESSION_COOKIE = "ta_session"

WALLET_SHIM = r"""
(() => {
  const rpc = async (method, params) => {
    const res = await window.__testWalletRpc(method, params || []);
    if (res && res.error) {  // the EIP-1193 ProviderRpcError shape
      const err = new Error(res.error.message); err.code = res.error.code; throw err;
    }
    return res.result;
  };
  const listeners = {};
  const provider = {
    isMetaMask: false, isTestWallet: true,
    request: ({ method, params }) => rpc(method, params),
    on: (ev, fn) => { (listeners[ev] = listeners[ev] || []).push(fn); return provider; },
    removeListener: (ev, fn) => {
      listeners[ev] = (listeners[ev] || []).filter((f) => f !== fn); return provider;
    },
  };
  Object.defineProperty(window, "ethereum", { value: provider, configurable: true });
  const detail = Object.freeze({
    info: { uuid: "350670db-19fa-4704-a166-e52e178b59d2", name: "Test Wallet",
            icon: "data:image/svg+xml,<svg xmlns='http://www.w3.org/2000/svg'/>",
            rdns: "org.example.testwallet" },
    provider,
  });
  const announce = () => window.dispatchEvent(new CustomEvent("eip6963:announceProvider", { detail }));
  window.addEventListener("eip6963:requestProvider", announce);
  announce();
})();
"""


def sign_text(account: LocalAccount, text: str) -> str:
    """A `personal_sign` signature of `text`, 0x-hex."""
    return "0x" + Account.sign_message(encode_defunct(text=text), account.key).signature.hex()


@dataclass
class FakeWallet:
    """The Python side of the injected provider.

    Args:
        account: the wallet's account (a fresh one by default).
        chain_id: what `eth_chainId` answers.
        reject_sign: answer `personal_sign` with the user's refusal (4001).
        signer: sign with this account instead (a wallet whose signature does not match).
    """

    account: LocalAccount = field(default_factory=Account.create)
    chain_id: int = 1
    reject_sign: bool = False
    signer: LocalAccount | None = None
    calls: list[str] = field(default_factory=list)
    signed: list[str] = field(default_factory=list)

    @property
    def address(self) -> str:
        return self.account.address

    def __call__(self, method: str, params: list) -> dict:
        self.calls.append(method)
        if method in ("eth_requestAccounts", "eth_accounts"):
            return {"result": [self.account.address.lower()]}  # MetaMask answers in lowercase
        if method == "eth_chainId":
            return {"result": hex(self.chain_id)}
        if method == "personal_sign":
            if self.reject_sign:
                return {"error": {"code": 4001, "message": "User rejected the request."}}
            data, address = params[0], params[1]
            if address.lower() != self.account.address.lower():
                return {"error": {"code": 4100, "message": "The requested account is not authorized."}}
            raw = bytes.fromhex(data[2:]) if data.startswith("0x") else data.encode()
            self.signed.append(raw.decode())
            key = (self.signer or self.account).key
            return {"result": "0x" + Account.sign_message(encode_defunct(primitive=raw), key).signature.hex()}
        return {"error": {"code": 4200, "message": f"unsupported method {method}"}}

    def install(self, target: Page | BrowserContext) -> None:
        """Expose the signer and inject the provider; call before the first navigation."""
        target.expose_function("__testWalletRpc", self)
        target.add_init_script(WALLET_SHIM)


def login_via_api(api_url: str, account: LocalAccount, chain_id: int = 1) -> str:
    """Sign in through the real API and return the session token (the cookie's value)."""
    # a script's write names one of the app's origins (the API refuses cross-origin writes)
    with httpx.Client(base_url=api_url, timeout=10, headers={"origin": api_url}) as client:
        issued = client.get(
            "/api/auth/generate-message", params={"address": account.address, "chain_id": chain_id}
        )
        issued.raise_for_status()
        message = issued.json()["message"]
        r = client.post(
            "/api/auth/login", json={"message": message, "signature": sign_text(account, message)}
        )
        r.raise_for_status()
        return r.cookies[SESSION_COOKIE]


def sign_in_via_api(
    context: BrowserContext, app: object, account: LocalAccount | None = None
) -> LocalAccount:
    """Put a fresh session cookie for `account` into a Playwright context (skips the login page).

    `app` is the `running_app` fixture's RunningApp. Returns the signed-in account.
    """
    account = account or Account.create()
    token = login_via_api(app.api_url, account)  # type: ignore[attr-defined]
    context.add_cookies(
        [{"name": SESSION_COOKIE, "value": token, "url": app.api_url, "httpOnly": True, "sameSite": "Lax"}]  # type: ignore[attr-defined]
    )
    return account
