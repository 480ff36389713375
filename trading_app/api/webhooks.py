"""`POST /api/webhooks/signal/{webhook_uuid}`: TradingView alerts in. Thin: `services.intake.inbox` decides.

Answers (all JSON, `cache-control: no-store`):

- 202 `{"status":"accepted","signal_id":N}`: stored, execution follows after the response.
- 200 `{"status":"duplicate","signal_id":first}`: a copy of a stored alert; no second row.
- 200 `{"status":"rejected","reason":...,"signal_id":N}`: over the webhook's per-minute cap, stored
  as REJECTED; 200 so TradingView does not resend.
- 422 `{"error":"invalid_payload","details":[...],"signal_id":N}`: bad alert, stored as REJECTED with
  the details.
- 403 `{"error":"source_not_allowed","signal_id":N}`: the trader's TradingView-only allowlist refused
  the sender (stored).
- 401 `{"error":"unauthorized"}`: unknown webhook or wrong / missing secret: one identical answer,
  nothing stored.
- 429 `{"error":"rate_limited"}` + Retry-After: too many failed authentications from this IP (an
  authenticated alert is never 429).
- 413 `{"error":"payload_too_large"}`: body over 64 KiB (declared, or streamed without a length).
- 503 `{"error":"unavailable"}`: the database failed and nothing was stored: TradingView's resend is
  safe.
"""

from __future__ import annotations

import json
import logging
import time
from collections.abc import AsyncIterator, Mapping

from starlette.routing import Route
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from trading_app.api.client_ip import joined_forwarded_for, resolve_client_ip
from trading_app.api.guards import BodyTooLarge, read_capped
from trading_app.domain.clock import utcnow
from trading_app.services.intake.dispatch import dispatch
from trading_app.services.intake.inbox import InboxUnavailable, IncomingAlert, Verdict, receive_alert
from trading_app.services.ops import metrics
from trading_app.services.security.ratelimit import Limit, RateLimiter, create_rate_limiter
from trading_app.settings import get_settings

log = logging.getLogger(__name__)

MAX_BODY = 64 * 1024
FAILED_AUTH_PER_IP = Limit(hits=30, window_seconds=60)
_HEADERS = [(b"cache-control", b"no-store")]
_JSON = (b"content-type", b"application/json")


class _Disconnected(Exception):
    """The client went away before its body arrived."""


# what Starlette's JSONResponse writes (one encoder: json.dumps with options builds one per call)
_ENCODER = json.JSONEncoder(ensure_ascii=False, allow_nan=False, separators=(",", ":"))


def _encode(body: Mapping[str, object]) -> bytes:
    return _ENCODER.encode(body).encode()


Header = tuple[bytes, bytes]


async def _respond(
    send: Send, status: int, body: Mapping[str, object], extra: tuple[Header, ...] = ()
) -> None:
    content = _encode(body)
    headers = [*_HEADERS, *extra, (b"content-length", str(len(content)).encode()), _JSON]
    await send({"type": "http.response.start", "status": status, "headers": headers})
    await send({"type": "http.response.body", "body": content})


async def _chunks(receive: Receive) -> AsyncIterator[bytes]:
    """The body's chunks as they arrive (what Starlette's `request.stream()` does, minus the Request)."""
    while True:
        message = await receive()
        if message["type"] == "http.disconnect":
            raise _Disconnected
        yield message.get("body", b"")
        if not message.get("more_body", False):
            return


async def _read_capped(receive: Receive, lengths: list[bytes]) -> bytes | None:
    """The body, or None as soon as it exceeds MAX_BODY (declared or actual)."""
    if len(lengths) > 1:
        return None  # ambiguous framing: refused like an oversized body
    declared = lengths[0].decode("latin-1") if lengths else None
    try:
        return await read_capped(_chunks(receive), declared, MAX_BODY)
    except BodyTooLarge:
        return None


def _headers(scope: Scope) -> tuple[list[bytes], bytes | None, str | None]:
    """content-length (every line), content-type (the first, as Starlette reads it) and
    x-forwarded-for (every line joined, as `client_ip` reads it)."""
    lengths: list[bytes] = []
    forwarded: list[str] = []
    ctype = None
    for name, value in scope["headers"]:
        if name == b"content-length":
            lengths.append(value)
        elif name == b"content-type" and ctype is None:
            ctype = value
        elif name == b"x-forwarded-for":
            forwarded.append(value.decode("latin-1"))
    return lengths, ctype, joined_forwarded_for(forwarded)


class WebhookRoutes:
    """The webhook route with the failed-authentication limiter of one API instance.

    The endpoint is a plain ASGI callable rather than a request/response function: the hottest
    route of the API skips Starlette's per-request Request and Response objects and the
    per-route exception wrapper (about a tenth of its CPU). The app-level error middleware still
    surrounds it, and the answers are byte for byte what JSONResponse wrote.
    """

    def __init__(self) -> None:
        self._limiter: RateLimiter | None = None

    @property
    def limiter(self) -> RateLimiter:
        if self._limiter is None:
            self._limiter = create_rate_limiter("webhook-auth")
        return self._limiter

    async def _unauthorized(self, send: Send, ip: str) -> str:
        # Counted only after a failure: TradingView sends every trader's alerts from the same four
        # addresses, so one trader's wrong secret must never get another trader's alert a 429.
        try:
            decision = await self.limiter.hit(f"ip:{ip}", FAILED_AUTH_PER_IP)
        except Exception as e:  # noqa: BLE001 - a limiter outage must not turn a 401 into a 500
            log.warning("webhook auth limiter unavailable: %s", type(e).__name__)
            await _respond(send, 401, {"error": "unauthorized"})
            return "unauthorized"
        if not decision.allowed:
            retry = ((b"retry-after", str(decision.retry_after).encode()),)
            await _respond(send, 429, {"error": "rate_limited"}, retry)
            return "rate_limited"
        await _respond(send, 401, {"error": "unauthorized"})
        return "unauthorized"

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        started = time.perf_counter()
        outcome = await self._handle(scope, receive, send)
        metrics.alert(outcome, time.perf_counter() - started)  # two increments, no I/O

    async def _handle(self, scope: Scope, receive: Receive, send: Send) -> str:
        """Answer one alert; returns the outcome counted in the metrics."""
        received_at = utcnow()
        lengths, ctype, xff = _headers(scope)
        try:
            body = await _read_capped(receive, lengths)
        except _Disconnected:
            # nobody is listening any more
            await send({"type": "http.response.start", "status": 400, "headers": [(b"content-length", b"0")]})
            await send({"type": "http.response.body", "body": b""})
            return "disconnected"
        if body is None:
            await _respond(send, 413, {"error": "payload_too_large"})
            return "too_large"
        client = scope.get("client")
        peer = client[0] if client else "0.0.0.0"  # noqa: S104 - unknown peer
        ip = resolve_client_ip(peer, xff, get_settings().trusted_proxies)
        alert = IncomingAlert(
            webhook_uuid=scope["path_params"]["webhook_uuid"],
            body=body,
            received_at=received_at,
            source_ip=ip,
            content_type=ctype.decode("latin-1") if ctype is not None else None,
        )
        try:
            receipt = await receive_alert(alert)
        except InboxUnavailable:
            await _respond(send, 503, {"error": "unavailable"})
            return "unavailable"
        match receipt.outcome:
            case Verdict.ACCEPTED:
                await _respond(send, 202, {"status": "accepted", "signal_id": receipt.signal_id})
                # after the answer, on this loop (an executor runs as a task of its own)
                # in the trader's lane: a slot per trader in turn, whoever else is bursting
                dispatch(receipt.signal_id, alert.webhook_uuid)  # type: ignore[arg-type]
            case Verdict.DUPLICATE:
                await _respond(send, 200, {"status": "duplicate", "signal_id": receipt.signal_id})
            case Verdict.CAPPED | Verdict.PAUSED:
                answer: dict[str, object] = {
                    "status": "rejected",
                    "reason": receipt.reason,
                    "signal_id": receipt.signal_id,
                }
                await _respond(send, 200, answer)
            case Verdict.INVALID:
                details = list(receipt.details)
                answer = {"error": "invalid_payload", "details": details, "signal_id": receipt.signal_id}
                await _respond(send, 422, answer)
            case Verdict.FORBIDDEN:
                await _respond(send, 403, {"error": "source_not_allowed", "signal_id": receipt.signal_id})
            case _:
                return await self._unauthorized(send, ip)
        return receipt.outcome.value


PATH = "/api/webhooks/signal/"
_INTERNAL_ERROR = b"Internal Server Error"


def routes() -> list[Route]:
    """Fresh routes with their own limiter (one per API instance)."""
    return [Route(PATH + "{webhook_uuid}", WebhookRoutes(), methods=["POST"])]


def webhook_of(scope: Scope) -> str | None:
    """The webhook id when `scope` is a POST the webhook route would take, else None.

    What the router's `{webhook_uuid}` matches: one non-empty path segment after the prefix
    (the decoded path, relative to the root path as Starlette reads it).
    """
    if scope["type"] != "http" or scope["method"] != "POST":
        return None
    path: str = scope["path"]
    root = scope.get("root_path", "")
    if root and path.startswith(root) and path[len(root) : len(root) + 1] == "/":
        path = path[len(root) :]  # as starlette._utils.get_route_path reads it
    if not path.startswith(PATH):
        return None
    hook = path[len(PATH) :]
    return hook if hook and "/" not in hook else None


async def serve_direct(endpoint: ASGIApp, hook: str, scope: Scope, receive: Receive, send: Send) -> None:
    """Run the webhook endpoint without the router and the app's middleware stack (the API's
    `__call__` sends its POSTs here): the per-request walk through Starlette's error and
    exception middlewares, the same-origin guard (which exempts the webhooks) and the route
    matching cost about a tenth of the accept path's CPU. What the error middleware did for this
    route is kept: an exception is answered 500 if nothing was sent yet, then re-raised for the
    server to log, as Starlette's `ServerErrorMiddleware` does."""
    started = False

    async def tracked(message: Message) -> None:
        nonlocal started
        started = started or message["type"] == "http.response.start"
        await send(message)

    scope["path_params"] = {"webhook_uuid": hook}
    try:
        await endpoint(scope, receive, tracked)
    except Exception:
        if not started:
            headers = [
                (b"content-length", str(len(_INTERNAL_ERROR)).encode()),
                (b"content-type", b"text/plain; charset=utf-8"),
            ]
            await send({"type": "http.response.start", "status": 500, "headers": headers})
            await send({"type": "http.response.body", "body": _INTERNAL_ERROR})
        raise
