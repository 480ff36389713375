"""`/api/auth/*`: sign-in message, login, logout and session check. Thin: the rules live in
`services.auth.login` and `services.auth.sessions`; this module speaks HTTP, sets the cookie and rate-limits.

Login and logout, like every cookie-authenticated write, pass `guards.SameOriginJson` first. The
per-address login limit counts only logins whose signature proved they come from that address: a
stranger naming a trader's address in unsigned attempts cannot lock the trader out.
"""

from __future__ import annotations

import json
import logging
from typing import Any, Literal, TypedDict

from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from trading_app.api.client_ip import client_ip
from trading_app.api.guards import BodyTooLarge, read_body
from trading_app.services.auth import login, sessions
from trading_app.services.auth.siwe import AuthError, AuthErrorCode
from trading_app.services.security.ratelimit import Limit, RateLimiter, create_rate_limiter
from trading_app.settings import get_settings

logger = logging.getLogger(__name__)

MESSAGES_PER_IP = Limit(hits=60, window_seconds=60)
LOGINS_PER_IP = Limit(hits=30, window_seconds=60)
LOGINS_PER_ADDRESS = Limit(hits=10, window_seconds=60)
MAX_BODY = 8 * 1024
_NO_STORE = {"cache-control": "no-store"}


def _error(code: AuthErrorCode, status: int, retry_after: int | None = None) -> JSONResponse:
    headers = dict(_NO_STORE)
    if retry_after is not None:
        headers["retry-after"] = str(retry_after)
    return JSONResponse({"error": code.value}, status_code=status, headers=headers)


class _AddressLimited(Exception):
    """The proven signer is over its per-address login budget."""

    def __init__(self, retry_after: int) -> None:
        super().__init__(retry_after)
        self.retry_after = retry_after


class _CookieAttributes(TypedDict):
    path: str
    httponly: bool
    samesite: Literal["lax", "strict", "none"]
    secure: bool


def _cookie_kwargs() -> _CookieAttributes:
    # path "/", Secure in production and never a Domain: what the `__Host-` name requires
    return {
        "path": "/",
        "httponly": True,
        "samesite": "lax",
        "secure": get_settings().app_env == "production",
    }


async def _json_body(request: Request) -> dict[str, Any] | None:
    """The JSON object of the body (the guard already required application/json), or None.

    Raises:
        BodyTooLarge: over MAX_BODY, declared or streamed (never read whole first).
    """
    body = await read_body(request, MAX_BODY)
    try:
        data = json.loads(body)
    except ValueError:
        return None
    return data if isinstance(data, dict) else None


class AuthRoutes:
    """The routes, with the rate limiter of one API instance (created on first use)."""

    def __init__(self) -> None:
        self._limiter: RateLimiter | None = None

    @property
    def limiter(self) -> RateLimiter:
        if self._limiter is None:
            self._limiter = create_rate_limiter("auth")
        return self._limiter

    async def _limited(self, key: str, limit: Limit) -> JSONResponse | None:
        decision = await self.limiter.hit(key, limit)
        if decision.allowed:
            return None
        logger.warning("auth rate limit hit for %s", key.split(":", 1)[0])
        return _error(AuthErrorCode.RATE_LIMITED, 429, decision.retry_after)

    async def generate_message(self, request: Request) -> Response:
        if (limited := await self._limited(f"message-ip:{client_ip(request)}", MESSAGES_PER_IP)) is not None:
            return limited
        params = request.query_params
        try:
            issued = await login.issue_message(params.get("address"), params.get("chain_id"))
        except AuthError as e:
            return _error(e.code, 400)
        return JSONResponse(
            {"message": issued.message, "expires_at": issued.expires_at.isoformat()}, headers=_NO_STORE
        )

    async def login(self, request: Request) -> Response:
        ip = client_ip(request)
        if (limited := await self._limited(f"login-ip:{ip}", LOGINS_PER_IP)) is not None:
            return limited
        try:
            body = await _json_body(request)
        except BodyTooLarge:
            return JSONResponse({"error": "payload_too_large"}, status_code=413, headers=_NO_STORE)
        message, signature = (body or {}).get("message"), (body or {}).get("signature")
        if not isinstance(message, str) or not isinstance(signature, str):
            return _error(AuthErrorCode.INVALID_REQUEST, 401)

        async def count_proven_login(address: str) -> None:
            decision = await self.limiter.hit(f"login-address:{address.lower()}", LOGINS_PER_ADDRESS)
            if not decision.allowed:
                raise _AddressLimited(decision.retry_after)

        try:
            result = await login.login(
                message,
                signature,
                ip=ip,
                user_agent=request.headers.get("user-agent"),
                on_signer_proven=count_proven_login,
            )
        except _AddressLimited as e:
            logger.warning("auth rate limit hit for login-address")
            return _error(AuthErrorCode.RATE_LIMITED, 429, e.retry_after)
        except AuthError as e:
            logger.info("login refused: %s", e.code.value)
            return _error(e.code, 401)
        logger.info("login %s%s", result.address, " (new user)" if result.created_user else "")
        response = JSONResponse({"address": result.address}, headers=_NO_STORE)
        max_age = get_settings().session_ttl_hours * 3600
        response.set_cookie(sessions.session_cookie_name(), result.token, max_age=max_age, **_cookie_kwargs())
        return response

    async def logout(self, request: Request) -> Response:
        token = sessions.token_from_cookie_header(request.headers.get("cookie"))
        await sessions.revoke_session(token)
        response = Response(status_code=204, headers=_NO_STORE)
        response.delete_cookie(sessions.session_cookie_name(), **_cookie_kwargs())
        return response

    async def session(self, request: Request) -> Response:
        token = sessions.token_from_cookie_header(request.headers.get("cookie"))
        address = await sessions.session_address(token)
        if address is None:
            return _error(AuthErrorCode.NOT_AUTHENTICATED, 401)
        return JSONResponse({"address": address}, headers=_NO_STORE)


def routes() -> list[Route]:
    """Fresh routes with their own limiter (one per API instance)."""
    handlers = AuthRoutes()
    return [
        Route("/api/auth/generate-message", handlers.generate_message, methods=["GET"]),
        Route("/api/auth/login", handlers.login, methods=["POST"]),
        Route("/api/auth/logout", handlers.logout, methods=["POST"]),
        Route("/api/auth/session", handlers.session, methods=["GET"]),
    ]
