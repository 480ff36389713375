"""Every HTTP request gets a request id (in its log lines and its `X-Request-ID` answer header);
every websocket is counted while it is open.

The id is the caller's `X-Request-ID` when it is sane (1-64 of `A-Z a-z 0-9 . _ : -`: a proxy's
or a load balancer's id then follows the request through), else a fresh one. The outermost
`api_transformer`, so Reflex's own routes and the error middleware are inside it.
"""

from __future__ import annotations

import itertools
import re
import secrets
from collections.abc import Callable

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from trading_app.services.ops import logs, metrics

HEADER = b"x-request-id"
_SANE = re.compile(rb"[A-Za-z0-9._:-]{1,64}")


# a fresh id: this process's random prefix and a counter (unique without a urandom read per request,
# which cost the webhook's accept path more than everything else here)
_PREFIX = secrets.token_hex(8)
_COUNTER = itertools.count(1)


def request_id_of(scope: Scope) -> str:
    """The caller's sane `X-Request-ID`, or a new one (32 hex digits)."""
    for name, value in scope.get("headers", ()):
        if name == HEADER:
            given: bytes = value
            if _SANE.fullmatch(given):
                return given.decode("ascii")
            break
    return f"{_PREFIX}{next(_COUNTER):016x}"


def request_context() -> Callable[[ASGIApp], ASGIApp]:
    """Return an `api_transformer` callable: request ids on HTTP, the websocket gauge."""

    def transform(app: ASGIApp) -> ASGIApp:
        async def wrapped(scope: Scope, receive: Receive, send: Send) -> None:
            kind = scope["type"]
            if kind == "websocket":
                metrics.WEBSOCKET_CLIENTS.inc()
                try:
                    await app(scope, receive, send)
                finally:
                    metrics.WEBSOCKET_CLIENTS.dec()
                return
            if kind != "http":
                await app(scope, receive, send)
                return
            request_id = request_id_of(scope)
            header = (HEADER, request_id.encode("ascii"))

            async def send_with_id(message: Message) -> None:
                if message["type"] == "http.response.start":
                    message["headers"] = [*message.get("headers", ()), header]
                await send(message)

            with logs.log_context(request_id=request_id):
                await app(scope, receive, send_with_id)

        return wrapped

    return transform
