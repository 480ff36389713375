"""HTTP rules every route shares: same-origin JSON for cookie-authenticated writes, capped bodies,
ASCII-only numbers.

- `SameOriginJson`: ASGI middleware. Every POST/PUT/PATCH/DELETE under `/api/` except the
  TradingView webhook (authenticated by its secret URL and body secret, sent by a server with no
  Origin, often as text/plain) must come from one of our origins (`Origin`, or, without one,
  `Sec-Fetch-Site` same-origin/same-site/none) and declare `application/json`: 403 / 415 otherwise,
  before any route runs. A cross-site page can send a `text/plain` form-like POST with the
  session cookie without asking anyone; it cannot send JSON without a CORS preflight we refuse.
- `read_capped(chunks, declared, cap)` / `read_body(request, cap)`: the body, streamed, refused
  (`BodyTooLarge`, answered 413) as soon as the declared or the received size passes the cap.
- `ascii_int(text, low, high)`: a path or query number; only ASCII digits (`int()` also takes
  `²`-like digits, full-width and Arabic-Indic ones).
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterable
from urllib.parse import urlsplit

from starlette.requests import Request
from starlette.types import ASGIApp, Receive, Scope, Send

from trading_app.domain.numbers import ascii_int as ascii_int  # the routes' one integer rule
from trading_app.settings import Settings, get_settings

SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})
# authenticated by its secret, not the cookie; TradingView sends text/plain and no Origin
EXEMPT_PREFIXES = ("/api/webhooks/signal/", "/api/telegram/")
TRUSTED_FETCH_SITES = frozenset({"same-origin", "same-site", "none"})
_DEFAULT_PORTS = {"http": 80, "https": 443}


class BodyTooLarge(Exception):
    """The request body (declared or received) is over the route's cap."""


def normalize_origin(value: str) -> str | None:
    """`scheme://host[:port]` in lower case, the default port dropped; None when not an origin."""
    try:
        parts = urlsplit(value.strip())
        port = parts.port
    except ValueError:
        return None
    scheme, host = parts.scheme.lower(), (parts.hostname or "")
    if scheme not in _DEFAULT_PORTS or not host:
        return None
    if ":" in host:  # IPv6 literal
        host = f"[{host}]"
    return f"{scheme}://{host}" + (f":{port}" if port and port != _DEFAULT_PORTS[scheme] else "")


def allowed_origins(settings: Settings) -> frozenset[str]:
    """PUBLIC_URL's and API_URL's origins and the configured CORS origins (a wildcard never counts)."""
    candidates = [settings.public_url, settings.api_url, *settings.cors_allowed_origins]
    return frozenset(o for o in (normalize_origin(c) for c in candidates if c.strip() != "*") if o)


def same_origin(headers: Iterable[tuple[bytes, bytes]], allowed: frozenset[str]) -> bool:
    """Whether a browser would only send these headers from one of `allowed` (or from no page).

    The `Origin` decides when present (one line, one of ours); without it `Sec-Fetch-Site` must say
    same-origin, same-site or none. Neither header: refused (every browser since 2020 sends one on
    a POST; scripts add `Origin: <PUBLIC_URL>`).
    """
    origins = [v for k, v in headers if k == b"origin"]
    sites = [v for k, v in headers if k == b"sec-fetch-site"]
    if origins:
        if len(origins) != 1:
            return False
        origin = normalize_origin(origins[0].decode("latin-1"))
        return origin is not None and origin in allowed
    return len(sites) == 1 and sites[0].decode("latin-1").strip().lower() in TRUSTED_FETCH_SITES


def is_json(headers: Iterable[tuple[bytes, bytes]]) -> bool:
    """Exactly one Content-Type, and it is application/json (parameters such as charset allowed)."""
    types = [v for k, v in headers if k == b"content-type"]
    return len(types) == 1 and types[0].split(b";")[0].strip().lower() == b"application/json"


class SameOriginJson:
    """The middleware described in the module docstring (answers before the route, changes nothing)."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if (
            scope["type"] != "http"
            or scope["method"] in SAFE_METHODS
            or not scope["path"].startswith("/api/")
            or scope["path"].startswith(EXEMPT_PREFIXES)
        ):
            await self.app(scope, receive, send)
            return
        headers = scope["headers"]
        if not same_origin(headers, allowed_origins(get_settings())):
            await _refuse(send, 403, b'{"error":"cross_origin_request"}')
        elif not is_json(headers):
            await _refuse(send, 415, b'{"error":"unsupported_media_type"}')
        else:
            await self.app(scope, receive, send)


async def _refuse(send: Send, status: int, body: bytes) -> None:
    headers = [
        (b"content-type", b"application/json"),
        (b"content-length", str(len(body)).encode()),
        (b"cache-control", b"no-store"),
    ]
    await send({"type": "http.response.start", "status": status, "headers": headers})
    await send({"type": "http.response.body", "body": body})


async def read_capped(chunks: AsyncIterator[bytes], declared: str | None, cap: int) -> bytes:
    """Collect a streamed body of at most `cap` bytes.

    Raises:
        BodyTooLarge: the declared Content-Length or the bytes received so far pass `cap` (the rest
            is never read, so a huge body costs no memory).
    """
    if declared is not None:
        length = ascii_int(declared.strip(), 0, None)
        if length is None or length > cap:
            raise BodyTooLarge
    parts, size = [], 0
    async for chunk in chunks:
        size += len(chunk)
        if size > cap:
            raise BodyTooLarge
        parts.append(chunk)
    return parts[0] if len(parts) == 1 else b"".join(parts)


async def read_body(request: Request, cap: int) -> bytes:
    """The request's body through `read_capped` (Starlette's `request.body()` reads it all first)."""
    declared = request.headers.getlist("content-length")
    if len(declared) > 1:
        raise BodyTooLarge  # ambiguous framing: refuse rather than guess
    return await read_capped(request.stream(), declared[0] if declared else None, cap)
