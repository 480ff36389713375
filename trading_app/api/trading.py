"""Session-scoped REST for scripts: the webhook, positions, manual close and the PnL summary.

The writes (close, close-all, cancel of a pending entry) pass `guards.SameOriginJson`: scripts send
`Origin: <PUBLIC_URL>` and `Content-Type: application/json` like the browser does.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from trading_app.api.guards import ascii_int
from trading_app.services.accounts.account import get_overview, reveal_webhook_secret
from trading_app.services.auth import sessions
from trading_app.services.engine import manual, pending
from trading_app.services.ops.logs import bind
from trading_app.venues.errors import VenueError

# Numbers in every answer here are exact decimal strings, never floats, and on the grid
# (`PositionView.to_json`, `PnlSummary.to_json`): prices on the market's tick ("187.50" on a 0.01
# tick, not an average's 187.4999248...), sizes on its step ("0.0100" BTC), USD amounts (PnL, fees)
# on the USDC quantum, 6 decimals, the exchange's own precision ("-2.454306"). A position opened
# before its market's grid was recorded keeps its prices as stored.
_HEADERS = {"cache-control": "no-store"}
MAX_ID = 2**63 - 1  # a BIGINT primary key


def _error(code: str, status: int, detail: str | None = None) -> JSONResponse:
    body: dict[str, str] = {"error": code}
    if detail:
        body["detail"] = detail
    return JSONResponse(body, status_code=status, headers=_HEADERS)


async def _user(request: Request) -> str | None:
    user = await sessions.session_address(sessions.token_from_cookie_header(request.headers.get("cookie")))
    if user is not None:
        bind(user=user)  # the rest of this request's log lines name its trader (ends with the request)
    return user


async def user_webhook(request: Request) -> Response:
    """`GET /api/user/webhook`: the caller's webhook URL and secret."""
    user = await _user(request)
    if user is None:
        return _error("not_authenticated", 401)
    overview = await get_overview(user)
    return JSONResponse({"url": overview.webhook_url, "secret": await reveal_webhook_secret(user)},
                        headers=_HEADERS)


async def user_positions(request: Request) -> Response:
    """`GET /api/user/positions?status=open|pending|closed`: `pending` lists the entries resting on
    the book (with their limit price and expiry); they are not open positions."""
    user = await _user(request)
    if user is None:
        return _error("not_authenticated", 401)
    status = request.query_params.get("status")
    if status not in (None, "open", "pending", "closed"):
        return _error("invalid_status", 400, "status must be open, pending or closed")
    if status == "pending":
        resting = await pending.list_pending(user)
        return JSONResponse({"positions": [v.to_json() for v in resting]}, headers=_HEADERS)
    views = await manual.list_positions(user, status)
    return JSONResponse({"positions": [v.to_json() for v in views]}, headers=_HEADERS)


async def _act_on_position(
    request: Request, act: Callable[[str, int], Awaitable[Any]], not_open: str
) -> Response:
    """Shared shape of the close and cancel routes: the session's trader, an ASCII position id,
    then `act`, with the services' refusals as 404 (not theirs) / 409 (`not_open`) / 503."""
    user = await _user(request)
    if user is None:
        return _error("not_authenticated", 401)
    position_id = ascii_int(request.path_params["position_id"], 1, MAX_ID)
    if position_id is None:
        return _error("invalid_position_id", 400, "position_id is a positive integer (ASCII digits)")
    try:
        view = await act(user, position_id)
    except manual.PositionNotFound:
        return _error("position_not_found", 404)
    except manual.PositionNotOpen as e:
        return _error(not_open, 409, str(e))
    except VenueError as e:
        return _error("venue_unavailable", 503, type(e).__name__)
    return JSONResponse({"position": view.to_json()}, headers=_HEADERS)


async def close(request: Request) -> Response:
    """`POST /api/trading/close/{position_id}`: close at market, cancel its TP and SL."""
    return await _act_on_position(request, manual.close_position, "position_not_open")


async def cancel(request: Request) -> Response:
    """`POST /api/trading/cancel/{position_id}`: cancel a pending (resting) entry. 404 for a position
    that is not the caller's, 409 once it is no longer pending (filled, closed, cancelled) or while
    its entry is still being placed."""
    return await _act_on_position(request, pending.cancel_pending, "position_not_pending")


async def close_everything(request: Request) -> Response:
    """`POST /api/trading/close-all`: close every live position on the current network, and cancel
    every pending entry there (those come back CANCELLED)."""
    user = await _user(request)
    if user is None:
        return _error("not_authenticated", 401)
    try:
        views = await manual.close_all(user)
    except VenueError as e:
        return _error("venue_unavailable", 503, type(e).__name__)
    return JSONResponse({"positions": [v.to_json() for v in views]}, headers=_HEADERS)


async def pnl_summary(request: Request) -> Response:
    """`GET /api/pnl/summary`: USD amounts on the USDC quantum (6 decimals), the win rate to 0.01 %."""
    user = await _user(request)
    if user is None:
        return _error("not_authenticated", 401)
    return JSONResponse((await manual.pnl_summary(user)).to_json(), headers=_HEADERS)


def routes() -> list[Route]:
    """The routes of this module."""
    return [
        Route("/api/user/webhook", user_webhook, methods=["GET"]),
        Route("/api/user/positions", user_positions, methods=["GET"]),
        Route("/api/trading/close/{position_id}", close, methods=["POST"]),
        Route("/api/trading/close-all", close_everything, methods=["POST"]),
        Route("/api/trading/cancel/{position_id}", cancel, methods=["POST"]),
        Route("/api/pnl/summary", pnl_summary, methods=["GET"]),
    ]
