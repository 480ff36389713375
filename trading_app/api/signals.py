"""`GET /api/signals`: the signed-in trader's alert log, newest first.

Each alert carries `market` (the ticker it trades as) and `sent_market` (what the trader wrote),
`reason` as stored and `reason_text` / `reason_code` (plain words, then the code).

Query: `limit` (1..200, default 50) and `before` (a signal id from the previous page's
`next_before`). The session cookie decides whose alerts; 401 without a live session.

`GET /api/signals/{id}`: the story of one alert (`services.engine.alert_story`): the signal with
its masked body, the parsed alert, the sizing recorded at the time, every order placed for it and
the timeline of its phases. Another trader's id (or none) is 404, like an id that does not exist.
Money and sizes are exact decimal strings.
"""

from __future__ import annotations

from dataclasses import fields
from datetime import datetime
from decimal import Decimal

from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from trading_app.api.guards import ascii_int
from trading_app.domain.quantize import on_grid_nearest
from trading_app.services.auth import sessions
from trading_app.services.engine.alert_story import AlertStory, OrderLine, alert_story
from trading_app.services.intake.signal_store import MAX_PAGE, SignalRecord, list_signals

DEFAULT_LIMIT = 50
_HEADERS = {"cache-control": "no-store"}


def _error(code: str, status: int) -> JSONResponse:
    return JSONResponse({"error": code}, status_code=status, headers=_HEADERS)


def _int_param(request: Request, name: str, default: int | None, low: int, high: int) -> int | None | str:
    """The parameter as an int in [low, high], its default when absent, or the error code."""
    raw = request.query_params.get(name)
    if raw is None:
        return default
    value = ascii_int(raw, low, high)
    return f"invalid_{name}" if value is None else value


def _item(record: SignalRecord) -> dict[str, object]:
    sent_action, sent_market = record.sent
    why = record.explained
    return {
        "id": record.id,
        "received_at": record.received_at.isoformat(),
        "status": record.status,
        "action": record.action,
        "market": record.market,
        "reason": record.reason,
        # what the trader wrote, and the reason in plain words with its code second
        "sent_action": sent_action,
        "sent_market": sent_market,
        "reason_text": why.sentence or None,
        "reason_code": why.code or None,
        "position_id": record.position_id,
        "payload": record.payload,
        "content_type": record.content_type,
        "source_ip": record.source_ip,
    }


async def signals(request: Request) -> Response:
    address = await sessions.session_address(sessions.token_from_cookie_header(request.headers.get("cookie")))
    if address is None:
        return _error("not_authenticated", 401)
    limit = _int_param(request, "limit", DEFAULT_LIMIT, 1, MAX_PAGE)
    before = _int_param(request, "before", None, 1, 2**63 - 1)
    for value in (limit, before):
        if isinstance(value, str):
            return _error(value, 400)
    page = await list_signals(address, limit=limit, before=before)  # type: ignore[arg-type]
    return JSONResponse(
        {"signals": [_item(r) for r in page.items], "next_before": page.next_before}, headers=_HEADERS
    )


def _text(value: object) -> object:
    # Decimals and times as exact strings; everything else as it is (str, int, bool, None)
    if isinstance(value, Decimal):
        return str(value)
    if isinstance(value, datetime):
        return value.isoformat()
    return value


def _order(line: OrderLine) -> dict[str, object]:
    out = {f.name: _text(getattr(line, f.name)) for f in fields(line)}
    if line.avg_fill_price is not None and line.tick_size:
        # an average over several fills has a long tail: on the market's tick, like the positions
        out["avg_fill_price"] = str(on_grid_nearest(line.avg_fill_price, line.tick_size))
    return out


def story_json(story: AlertStory) -> dict[str, object]:
    """The API's form of an alert's story."""
    return {
        "signal": {
            "id": story.id,
            "received_at": story.received_at.isoformat(),
            "status": story.status,
            "action": story.action,
            "market": story.market,
            "reason": story.reason,
            "position_id": story.position_id,
            "payload": story.payload,
            "content_type": story.content_type,
            "source_ip": story.source_ip,
            "paper": story.paper,
        },
        "parsed": story.parsed,
        "sizing": story.sizing,
        "orders": [_order(o) for o in story.orders],
        "timeline": [
            {"phase": s.phase.value, "label": s.label, "at": s.at.isoformat(), "detail": dict(s.detail)}
            for s in story.timeline
        ],
    }


async def signal_detail(request: Request) -> Response:
    address = await sessions.session_address(sessions.token_from_cookie_header(request.headers.get("cookie")))
    if address is None:
        return _error("not_authenticated", 401)
    signal_id = ascii_int(request.path_params["signal_id"], 1, 2**63 - 1)
    if signal_id is None:
        return _error("not_found", 404)
    story = await alert_story(address, signal_id)
    if story is None:
        return _error("not_found", 404)
    return JSONResponse(story_json(story), headers=_HEADERS)


def routes() -> list[Route]:
    """The alert log routes."""
    return [
        Route("/api/signals", signals, methods=["GET"]),
        Route("/api/signals/{signal_id}", signal_detail, methods=["GET"]),
    ]
