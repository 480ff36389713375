"""The guard in front of Reflex's websocket: only a browser's own client token, and no cookie."""

from __future__ import annotations

import uuid
from typing import Any

import pytest

from trading_app.api.socket_session import socket_session
from trading_app.services.auth.sessions import hash_token

TOKEN = "s3cret-session-token"


async def _through(scope: dict[str, Any]) -> tuple[dict[str, Any] | None, list[dict[str, Any]]]:
    """What Reflex receives (the scope, or None when refused) and what the guard sent itself."""
    reached: list[dict[str, Any]] = []
    sent: list[dict[str, Any]] = []

    async def reflex(scope: Any, receive: Any, send: Any) -> None:
        reached.append(scope)

    async def receive() -> dict[str, Any]:
        return {"type": "websocket.connect"}

    async def send(message: Any) -> None:
        sent.append(message)

    await socket_session()(reflex)(scope, receive, send)
    return (reached[0] if reached else None), sent


def _scope(kind: str, path: str, token: str, cookie: str | None) -> dict[str, Any]:
    headers = [(b"host", b"x")] + ([(b"cookie", cookie.encode())] if cookie is not None else [])
    return {"type": kind, "path": path, "query_string": f"EIO=4&transport=websocket&token={token}".encode(),
            "headers": headers}


@pytest.mark.parametrize("kind", ["websocket", "http"])
async def test_reflex_sees_only_the_hash_of_the_session_token(kind: str) -> None:
    cookie = f"theme=dark; ta_session={TOKEN}; ta_session_ref={'0' * 64}"
    scope, sent = await _through(_scope(kind, "/_event/", str(uuid.uuid4()), cookie))
    assert scope is not None and sent == []
    cookies = [v.decode() for k, v in scope["headers"] if k == b"cookie"]
    assert cookies == [f"ta_session_ref={hash_token(TOKEN)}"]  # a forged ref is not passed on
    assert (b"host", b"x") in scope["headers"]
    scope, _ = await _through(_scope(kind, "/_event/", str(uuid.uuid4()), "ta_session_ref=" + "0" * 64))
    assert scope is not None and [k for k, _ in scope["headers"]] == [b"host"]


@pytest.mark.parametrize(
    "token",
    ["wallet-0x00000000000000000000000000000000000a11ce", "feed-" + "ab" * 32, "x", "",
     str(uuid.uuid4()).upper(), str(uuid.uuid4()) + "&token=wallet-0xabc"],
)
async def test_a_socket_naming_anything_but_a_client_token_is_refused(token: str) -> None:
    scope, sent = await _through(_scope("websocket", "/_event/", token, f"ta_session={TOKEN}"))
    assert scope is None and sent == [{"type": "websocket.close", "code": 1008}]
    scope, sent = await _through(_scope("http", "/_event/", token, None))
    assert scope is None and sent[0]["status"] == 403


async def test_other_routes_are_untouched() -> None:
    original = _scope("http", "/api/auth/session", "wallet-x", f"ta_session={TOKEN}")
    scope, _ = await _through(original)
    assert scope is original
