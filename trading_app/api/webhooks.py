"""`POST /api/webhooks/signal/{webhook_uuid}`: TradingView alerts in. Thin: `services.inbox` decides.

Answers (all JSON, `cache-control: no-store`):

| status | body | when |
|---|---|---|
| 202 | `{"status":"accepted","signal_id":N}` | stored, execution follows after the response |
| 200 | `{"status":"duplicate","signal_id":first}` | a copy of a stored alert; no second row |
| 200 | `{"status":"rejected","reason":...,"signal_id":N}` | over the webhook's per-minute cap: stored as REJECTED; 200 so TradingView does not resend |
| 422 | `{"error":"invalid_payload","details":[...],"signal_id":N}` | bad alert, stored as REJECTED with the details |
| 403 | `{"error":"source_not_allowed","signal_id":N}` | the trader's TradingView-only allowlist refused the sender (stored) |
| 401 | `{"error":"unauthorized"}` | unknown webhook or wrong / missing secret: one identical answer, nothing stored |
| 429 | `{"error":"rate_limited"}` + Retry-After | too many failed authentications from this IP (an authenticated alert is never 429) |
| 413 | `{"error":"payload_too_large"}` | body over 64 KiB |
| 503 | `{"error":"unavailable"}` | the database failed and nothing was stored: TradingView's resend is safe |
"""

from __future__ import annotations

import logging

from starlette.background import BackgroundTask
from starlette.requests import ClientDisconnect, Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from trading_app.api.client_ip import client_ip
from trading_app.db.types import utcnow
from trading_app.services.dispatch import dispatch
from trading_app.services.inbox import InboxUnavailable, IncomingAlert, Outcome, receive_alert
from trading_app.services.ratelimit import Limit, RateLimiter, create_rate_limiter

log = logging.getLogger(__name__)

MAX_BODY = 64 * 1024
FAILED_AUTH_PER_IP = Limit(hits=30, window_seconds=60)
_HEADERS = {"cache-control": "no-store"}


def _json(
    body: dict[str, object],
    status: int,
    headers: dict[str, str] | None = None,
    background: BackgroundTask | None = None,
) -> JSONResponse:
    return JSONResponse(
        body, status_code=status, headers={**_HEADERS, **(headers or {})}, background=background
    )


async def _dispatch_after_response(signal_id: int) -> None:
    # async on purpose: Starlette runs a sync background function in a thread, away from the loop
    dispatch(signal_id)


async def _read_capped(request: Request) -> bytes | None:
    """The body, or None as soon as it exceeds MAX_BODY (declared or actual)."""
    declared = request.headers.get("content-length")
    if declared is not None and declared.strip().isdigit() and int(declared) > MAX_BODY:
        return None
    chunks, size = [], 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > MAX_BODY:
            return None
        chunks.append(chunk)
    return b"".join(chunks)


class WebhookRoutes:
    """The webhook route with the failed-authentication limiter of one API instance."""

    def __init__(self) -> None:
        self._limiter: RateLimiter | None = None

    @property
    def limiter(self) -> RateLimiter:
        if self._limiter is None:
            self._limiter = create_rate_limiter("webhook-auth")
        return self._limiter

    async def _unauthorized(self, ip: str) -> Response:
        # Counted only after a failure: TradingView sends every trader's alerts from the same four
        # addresses, so one trader's wrong secret must never get another trader's alert a 429.
        try:
            decision = await self.limiter.hit(f"ip:{ip}", FAILED_AUTH_PER_IP)
        except Exception as e:  # noqa: BLE001 - a limiter outage must not turn a 401 into a 500
            log.warning("webhook auth limiter unavailable: %s", type(e).__name__)
            return _json({"error": "unauthorized"}, 401)
        if not decision.allowed:
            return _json({"error": "rate_limited"}, 429, {"retry-after": str(decision.retry_after)})
        return _json({"error": "unauthorized"}, 401)

    async def signal(self, request: Request) -> Response:
        received_at = utcnow()
        try:
            body = await _read_capped(request)
        except ClientDisconnect:
            return Response(status_code=400)  # nobody is listening any more
        if body is None:
            return _json({"error": "payload_too_large"}, 413)
        ip = client_ip(request)
        alert = IncomingAlert(
            webhook_uuid=request.path_params["webhook_uuid"],
            body=body,
            received_at=received_at,
            source_ip=ip,
            content_type=request.headers.get("content-type"),
        )
        try:
            receipt = await receive_alert(alert)
        except InboxUnavailable:
            return _json({"error": "unavailable"}, 503)
        match receipt.outcome:
            case Outcome.ACCEPTED:
                task = BackgroundTask(_dispatch_after_response, receipt.signal_id)
                return _json({"status": "accepted", "signal_id": receipt.signal_id}, 202, background=task)
            case Outcome.DUPLICATE:
                return _json({"status": "duplicate", "signal_id": receipt.signal_id}, 200)
            case Outcome.CAPPED:
                return _json(
                    {"status": "rejected", "reason": receipt.reason, "signal_id": receipt.signal_id}, 200
                )
            case Outcome.INVALID:
                details = list(receipt.details)
                return _json(
                    {"error": "invalid_payload", "details": details, "signal_id": receipt.signal_id}, 422
                )
            case Outcome.FORBIDDEN:
                return _json({"error": "source_not_allowed", "signal_id": receipt.signal_id}, 403)
            case _:
                return await self._unauthorized(ip)


def routes() -> list[Route]:
    """Fresh routes with their own limiter (one per API instance)."""
    handlers = WebhookRoutes()
    return [Route("/api/webhooks/signal/{webhook_uuid}", handlers.signal, methods=["POST"])]
