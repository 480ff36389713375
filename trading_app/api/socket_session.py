"""What Reflex's websocket (`/_event`) gets to see: no cookie, and only a browser's own token.

Reflex copies the socket's request headers into every tab's state (`router.headers`), and the
state is stored: pickled in `.states/` (development) or in Redis (production). The session
cookie must not be there. This middleware, in front of Reflex, rewrites the socket's `Cookie:`
header to one entry, `ta_session_ref=<SHA-256 of the session token>`: the form the `sessions`
table already holds, which signs nobody in (the cookie carries the token, and every other
`Cookie:` a client sends to the socket is replaced here). Other cookies are dropped as well.

It also refuses a socket whose client token is not UUID-shaped, as the Reflex front end makes
them: Reflex sends a shared state's changes to the socket named by the shared token, so a
socket naming a shared token (a trader's live feed) would receive that trader's pushes.
"""

from __future__ import annotations

import re
import urllib.parse
from collections.abc import Callable

from starlette.types import ASGIApp, Receive, Scope, Send

from trading_app.services.auth.sessions import socket_cookie

EVENT_PATH = "/_event"  # Reflex's Socket.IO mount (no `backend_path` is configured)
_CLIENT_TOKEN = re.compile(r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}")


def allowed_client_tokens(query_string: bytes) -> bool:
    """Whether every `token` of a socket's query string is a browser-made (UUID) client token."""
    tokens = urllib.parse.parse_qs(query_string.decode("latin-1"), keep_blank_values=True).get("token", [])
    return all(_CLIENT_TOKEN.fullmatch(token) for token in tokens)


def socket_session() -> Callable[[ASGIApp], ASGIApp]:
    """Return an `api_transformer` callable guarding Reflex's websocket (see the module doc)."""

    def transform(app: ASGIApp) -> ASGIApp:
        async def wrapped(scope: Scope, receive: Receive, send: Send) -> None:
            path = scope.get("path", "")
            if scope["type"] not in ("http", "websocket") or not (
                path == EVENT_PATH or path.startswith(EVENT_PATH + "/")
            ):
                await app(scope, receive, send)
                return
            if not allowed_client_tokens(scope.get("query_string", b"")):
                await _refuse(scope, send)
                return
            raw = [value for name, value in scope.get("headers", []) if name.lower() == b"cookie"]
            cookie = socket_cookie("; ".join(v.decode("latin-1") for v in raw))
            headers = [(name, value) for name, value in scope.get("headers", []) if name.lower() != b"cookie"]
            if cookie:
                headers.append((b"cookie", cookie.encode()))
            await app({**scope, "headers": headers}, receive, send)

        return wrapped

    return transform


async def _refuse(scope: Scope, send: Send) -> None:
    if scope["type"] == "websocket":
        # closing before accepting answers the handshake with 403
        await send({"type": "websocket.close", "code": 1008})
        return
    await send({"type": "http.response.start", "status": 403, "headers": [(b"content-type", b"text/plain")]})
    await send({"type": "http.response.body", "body": b"forbidden"})
