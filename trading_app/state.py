"""The authentication state every protected page builds on.

How a protected page uses it:

    app.add_page(settings_page, route="/settings", on_load=AuthState.require_login)

    def settings_page():
        return rx.cond(AuthState.is_authenticated, content(), signing_in_placeholder())

How another state gets the verified wallet inside an event handler (re-checks the session
in the database, so a revoked or expired session stops working without a reload):

    @rx.event
    async def save(self, form: dict):
        address = await verified_address(self)
        if address is None:
            return rx.redirect("/login")
        ...  # call services with `address`, never with an address from the browser

The session token lives only in the HttpOnly cookie. Reflex's websocket never sees it:
`api.socket_session` replaces the socket's `Cookie:` header with the token's SHA-256
(`sessions.socket_cookie`), because Reflex stores the socket's headers in every tab's state
(`.states/`, Redis). Each event looks the session up by that hash. That is why login and
logout end with a full page navigation: the new socket carries the new cookie.
"""

from __future__ import annotations

import json

import reflex as rx

from trading_app.services.auth import sessions
from trading_app.settings import get_settings

LOGIN_ROUTE = "/login"


def api_base() -> str:
    """The backend origin the browser must call for /api routes (read at call time)."""
    return get_settings().api_url.rstrip("/")


class AuthState(rx.State):
    """Who is signed in on this tab, verified against the `sessions` table."""

    # server-verified checksum address; backend-only, never sent to the browser
    _address: str = ""
    # what the page may show (the checksum address is public information)
    display_address: str = ""
    is_authenticated: bool = False

    def _session_ref(self) -> str | None:
        # the hash `api.socket_session` put in place of the cookie: never the token itself
        return sessions.ref_from_cookie_header(self.router.headers.cookie)

    def _clear(self) -> None:
        self._address = ""
        self.display_address = ""
        self.is_authenticated = False

    async def _verify(self) -> str | None:
        """Re-validate this tab's session and return its checksum address, or None.

        Clears the state when the session is missing, expired or revoked. Private (`_`): a public
        method of a State is an event handler any tab may call, and a str is no valid event answer.
        """
        address = await sessions.session_address_by_hash(self._session_ref())
        if address is None:
            self._clear()
            return None
        self._address = address
        self.display_address = address
        self.is_authenticated = True
        return address

    @rx.event
    async def require_login(self):
        """`on_load` guard of every protected page: redirect to /login without a live session."""
        if await self._verify() is None:
            return rx.redirect(LOGIN_ROUTE, replace=True)
        return None

    @rx.event
    async def sign_out_everywhere(self):
        """Revoke every session of this trader (all browsers and devices), then sign this tab out.

        The other tabs find their session revoked at their next event (every event re-checks it).
        """
        address = await self._verify()
        if address is None:
            return rx.redirect(LOGIN_ROUTE, replace=True)
        await sessions.revoke_all_sessions(address)
        self._clear()
        return rx.call_script(f"window.tradingWallet.logout({json.dumps(api_base())})")

    @rx.event
    async def logout(self):
        """Revoke the session server-side, then let the API clear the cookie and go to /login."""
        await sessions.revoke_session_by_hash(self._session_ref())
        self._clear()
        return rx.call_script(f"window.tradingWallet.logout({json.dumps(api_base())})")


async def verified_address(state: rx.State) -> str | None:
    """The verified wallet of the tab that sent `state`'s event, re-checked in the database."""
    auth = await state.get_state(AuthState)
    return await auth._verify()
