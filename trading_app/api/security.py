"""Security headers on every response, Reflex's own routes and static pages included."""

from __future__ import annotations

from collections.abc import Callable

from starlette.types import ASGIApp, Message, Receive, Scope, Send

# Reflex's compiled front end uses inline bootstrap scripts and inline styles, and talks
# to the backend over a websocket; everything else stays same-origin.
CSP = (
    "default-src 'self'; "
    "script-src 'self' 'unsafe-inline' 'unsafe-eval'; "
    "style-src 'self' 'unsafe-inline'; "
    "img-src 'self' data: blob:; "
    "font-src 'self' data:; "
    "connect-src 'self' ws: wss: http: https:; "
    "frame-ancestors 'none'; "
    "base-uri 'self'; "
    "form-action 'self'; "
    "object-src 'none'"
)


def security_headers(production: bool) -> Callable[[ASGIApp], ASGIApp]:
    """Return an `api_transformer` callable that adds the headers to every response."""
    headers = [
        (b"x-content-type-options", b"nosniff"),
        (b"x-frame-options", b"DENY"),
        (b"referrer-policy", b"no-referrer"),
        (b"content-security-policy", CSP.encode()),
    ]
    if production:
        headers.append((b"strict-transport-security", b"max-age=63072000; includeSubDomains"))

    def transform(app: ASGIApp) -> ASGIApp:
        async def wrapped(scope: Scope, receive: Receive, send: Send) -> None:
            if scope["type"] != "http":
                await app(scope, receive, send)
                return

            async def send_with_headers(message: Message) -> None:
                if message["type"] == "http.response.start":
                    existing = {k.lower() for k, _ in message.get("headers", [])}
                    message.setdefault("headers", [])
                    message["headers"] = list(message["headers"]) + [
                        (k, v) for k, v in headers if k not in existing
                    ]
                await send(message)

            await app(scope, receive, send_with_headers)

        return wrapped

    return transform
