"""Request ids: a sane incoming X-Request-ID is kept, anything else replaced; echoed in the answer
and written on the request's log lines. Websockets are counted while open."""

from __future__ import annotations

import asyncio
import logging

import httpx
import pytest
from eth_account import Account
from prometheus_client import REGISTRY
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import PlainTextResponse
from starlette.routing import Route
from starlette.types import Message, Receive, Scope, Send

from tests.api.webhook_support import wrapped_app
from tests.services.ops.log_support import captured_logs, json_lines
from trading_app.api.request_context import request_context
from trading_app.db.engine import session_scope
from trading_app.services.accounts.users import ensure_user
from trading_app.services.auth.sessions import SESSION_COOKIE, create_session
from trading_app.services.ops.logs import short_address


def client(app=None) -> httpx.AsyncClient:  # noqa: ANN001 - an ASGI callable
    transport = httpx.ASGITransport(app=request_context()(app or wrapped_app()))
    return httpx.AsyncClient(transport=transport, base_url="http://test")


async def test_a_sane_incoming_request_id_is_echoed() -> None:
    async with client() as c:
        r = await c.get("/health/live", headers={"x-request-id": "lb-1234.abc:9_Z-"})
    assert r.headers["x-request-id"] == "lb-1234.abc:9_Z-"
    assert r.headers["x-content-type-options"] == "nosniff"  # the inner transformers still apply


@pytest.mark.parametrize("given", [None, "", "a" * 65, "has space", "new\\nline", "ünï", "<script>"])
async def test_a_missing_or_odd_request_id_is_replaced_by_a_fresh_one(given: str | None) -> None:
    headers = {} if given is None else {"x-request-id": given.encode("utf-8")}
    async with client() as c:
        first = await c.get("/health/live", headers=headers)  # type: ignore[arg-type]
        second = await c.get("/health/live", headers=headers)  # type: ignore[arg-type]
    ids = first.headers.get_list("x-request-id") + second.headers.get_list("x-request-id")
    assert len(ids) == 2 and ids[0] != ids[1] and all(len(i) == 32 for i in ids)


async def test_the_request_id_is_on_every_log_line_of_the_request() -> None:
    async def noisy(_request: Request) -> PlainTextResponse:
        logging.getLogger("trading_app.test").warning("inside the request")
        return PlainTextResponse("ok")

    app = Starlette(routes=[Route("/noisy", noisy)])
    with captured_logs("json") as stream:
        async with client(app) as c:
            r = await c.get("/noisy", headers={"x-request-id": "req-42"})
        logging.getLogger("trading_app.test").warning("after it")
    inside, after = [line for line in json_lines(stream) if line["logger"] == "trading_app.test"]
    assert r.headers["x-request-id"] == "req-42"
    assert inside["request_id"] == "req-42" and "request_id" not in after


async def test_open_websockets_are_counted_while_open() -> None:
    opened, closing = asyncio.Event(), asyncio.Event()

    async def socket_app(scope: Scope, receive: Receive, send: Send) -> None:
        opened.set()
        await closing.wait()
        raise ConnectionResetError  # a connection that ends badly is uncounted too

    def clients() -> float:
        return REGISTRY.get_sample_value("trading_websocket_clients") or 0.0

    async def nothing() -> Message:
        return {"type": "websocket.disconnect"}

    async def ignore(_message: Message) -> None:
        return None

    before = clients()
    app = request_context()(socket_app)
    task = asyncio.create_task(app({"type": "websocket", "path": "/_event", "headers": []}, nothing, ignore))
    await opened.wait()
    assert clients() == before + 1
    closing.set()
    with pytest.raises(ConnectionResetError):
        await task
    assert clients() == before


async def test_a_signed_in_request_names_its_trader_on_its_lines_and_only_there(db_url: str) -> None:
    address = Account.create().address
    async with session_scope() as session:
        await ensure_user(session, address)
        token, _ = await create_session(session, address)
    with captured_logs("json") as stream:
        async with client() as c:
            r = await c.get(
                "/api/user/positions", cookies={SESSION_COOKIE: token}, headers={"x-request-id": "r-7"}
            )
        logging.getLogger("trading_app.test").warning("after it")
    assert r.status_code == 200
    lines = json_lines(stream)
    named = [line for line in lines if line.get("user") == short_address(address)]
    assert named and all(line["request_id"] == "r-7" for line in named)  # the positions query, at least
    assert "user" not in lines[-1] and "request_id" not in lines[-1]  # the request is over
