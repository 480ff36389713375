"""The webhook's direct path: the API sends its POSTs to the endpoint without the router and the
middleware stack, and nothing a caller sees changes (answers, headers, errors, other routes)."""

from __future__ import annotations

import pytest
from starlette.applications import Starlette
from starlette.types import Receive, Scope, Send

from tests.api.webhook_support import client, make_hook, signal_rows
from trading_app.api.app import build_api
from trading_app.api.request_context import request_context
from trading_app.api.security import security_headers
from trading_app.api.webhooks import serve_direct, webhook_of


def scope(path: str, method: str = "POST", root_path: str = "", kind: str = "http") -> Scope:
    return {"type": kind, "method": method, "path": path, "root_path": root_path, "headers": []}


@pytest.mark.parametrize(
    ("request_scope", "hook"),
    [
        (scope("/api/webhooks/signal/abc-1"), "abc-1"),
        (scope("/app/api/webhooks/signal/abc", root_path="/app"), "abc"),
        (scope("/api/webhooks/signal/abc", method="GET"), None),
        (scope("/api/webhooks/signal/abc", kind="websocket"), None),
        (scope("/api/webhooks/signal/"), None),
        (scope("/api/webhooks/signal/abc/more"), None),
        (scope("/api/webhooks/signals/abc"), None),
        (scope("/api/telegram/abc"), None),
    ],
)
def test_only_what_the_route_would_take_goes_direct(request_scope: Scope, hook: str | None) -> None:
    assert webhook_of(request_scope) == hook


def test_the_api_is_still_a_starlette_reflex_can_mount() -> None:
    # reflex's api_transformer mounts its own app into a Starlette instance (reflex/app.py)
    assert isinstance(build_api(), Starlette)


async def test_an_alert_through_the_production_stack_keeps_every_header_and_other_routes_work(
    db_url: str,
) -> None:
    hook = await make_hook()
    app = request_context()(security_headers(True)(build_api()))
    async with client(app) as http:
        answer = await http.post(hook.path, json=hook.body(), headers={"X-Request-ID": "tv-123"})
        health = await http.get("/health/live")
        wrong_method = await http.get(hook.path)
        deeper = await http.post(f"{hook.path}/more", json=hook.body())
    assert answer.status_code == 202 and answer.headers["x-request-id"] == "tv-123"
    for name in ("cache-control", "content-security-policy", "strict-transport-security", "x-frame-options"):
        assert name in answer.headers, name
    assert answer.headers["content-type"] == "application/json"
    assert [r["id"] for r in signal_rows(db_url, hook.address)] == [answer.json()["signal_id"]]
    assert health.status_code == 200
    assert wrong_method.status_code == 405  # the router still answers what is not a POST
    assert deeper.status_code == 404
    assert len(signal_rows(db_url, hook.address)) == 1


async def _broken(_scope: Scope, _receive: Receive, send: Send) -> None:
    raise RuntimeError("boom")


async def _half_answered(_scope: Scope, _receive: Receive, send: Send) -> None:
    await send({"type": "http.response.start", "status": 202, "headers": []})
    raise RuntimeError("boom after the start")


async def test_a_failure_is_answered_500_if_nothing_was_sent_and_raised_for_the_server() -> None:
    sent: list[dict[str, object]] = []

    async def receive() -> dict[str, object]:
        return {"type": "http.request", "body": b"", "more_body": False}

    async def send(message: dict[str, object]) -> None:
        sent.append(message)

    with pytest.raises(RuntimeError, match="boom"):
        await serve_direct(_broken, "abc", scope("/api/webhooks/signal/abc"), receive, send)
    assert [m.get("status") for m in sent] == [500, None]
    assert sent[1]["body"] == b"Internal Server Error"  # what Starlette's error middleware answers
    sent.clear()
    with pytest.raises(RuntimeError, match="after the start"):
        await serve_direct(_half_answered, "abc", scope("/api/webhooks/signal/abc"), receive, send)
    assert [m.get("status") for m in sent] == [202]  # a started answer is not followed by a second one


async def test_the_path_parameter_reaches_the_endpoint_as_the_router_would_give_it() -> None:
    seen: list[object] = []

    async def endpoint(request_scope: Scope, _receive: Receive, _send: Send) -> None:
        seen.append(request_scope["path_params"])

    async def nothing() -> dict[str, object]:
        return {}

    async def ignore(_message: dict[str, object]) -> None:
        return None

    await serve_direct(endpoint, "abc", scope("/api/webhooks/signal/abc"), nothing, ignore)
    assert seen == [{"webhook_uuid": "abc"}]
