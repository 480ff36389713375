"""Reflex's websocket of the real app process, spoken to as a browser (and an attacker) would:
Socket.IO over a real websocket to `/_event`, the session cookie in the handshake.

- The live feed: a socket naming a trader's feed (the old `wallet-<address>` token, or any other
  token that is not a browser-made client token) is refused; the trader's own tab gets the push
  of their alert.
- The stored state: after a sign-in and a few events, the tabs' stored state (`.states/` of the
  process, Reflex's disk state manager) holds no session token, only its hash.
"""

from __future__ import annotations

import queue
import time
import uuid
from collections.abc import Awaitable, Callable
from typing import Any

import httpx
import pytest
import redis.asyncio as aioredis
import socketio

from tests.e2e_process.conftest import Running
from tests.e2e_process.support import LONG_BTC, finished, new_trader, post, until
from trading_app.db.engine import session_scope
from trading_app.pages.live import WalletFeed
from trading_app.services.auth.sessions import PRODUCTION_SESSION_COOKIE, create_session, hash_token
from trading_app.state import AuthState

COOKIE = PRODUCTION_SESSION_COOKIE  # the app runs as in production: the `__Host-` name

pytestmark = pytest.mark.slow
NAMESPACE = "/_event"


class Tab:
    """One Socket.IO connection to the app's `/_event`, recording every state update it gets."""

    def __init__(self, url: str, client_token: str, cookie: str | None = None) -> None:
        self.updates: queue.Queue[dict[str, Any]] = queue.Queue()
        self.client = socketio.Client(reconnection=False)
        self.client.on("event", self._got, namespace=NAMESPACE)
        headers = {"Cookie": cookie} if cookie else {}
        self.client.connect(
            f"{url}?token={client_token}",
            headers=headers,
            transports=["websocket"],
            namespaces=[NAMESPACE],
            socketio_path=NAMESPACE,
            wait_timeout=10,
        )

    def _got(self, data: Any) -> None:
        self.updates.put(data)

    def send(self, handler: str, pathname: str = "/dashboard") -> None:
        route = {"pathname": pathname, "query": {}, "asPath": pathname}
        self.client.emit("event", {"name": handler, "payload": {}, "router_data": route}, namespace=NAMESPACE)

    def feed_versions(self, within: float) -> list[int]:
        """The WalletFeed versions this tab received within `within` seconds."""
        name, versions = WalletFeed.get_full_name(), []
        deadline = time.monotonic() + within
        while (left := deadline - time.monotonic()) > 0:
            try:
                update = self.updates.get(timeout=left)
            except queue.Empty:
                break
            delta = (update or {}).get("delta", {}) if isinstance(update, dict) else {}
            for key, value in delta.get(name, {}).items():
                if key.startswith("version"):
                    versions.append(int(value))
        return versions

    def close(self) -> None:
        self.client.disconnect()


def _refused(url: str, client_token: str, cookie: str | None = None) -> bool:
    try:
        Tab(url, client_token, cookie).close()
    except socketio.exceptions.ConnectionError:
        return True
    return False


async def _signed_in(address: str) -> str:
    async with session_scope() as session:
        token, _ = await create_session(session, address)
    return token


async def test_a_traders_feed_reaches_their_tab_and_no_other_socket(
    app: Running, answers: list[httpx.Response]
) -> None:
    victim = await new_trader()
    token = await _signed_in(victim.address)
    tab = Tab(app.url, str(uuid.uuid4()), f"other=1; {COOKIE}={token}")
    try:
        tab.send(f"{AuthState.get_full_name()}.require_login")
        tab.send(f"{WalletFeed.get_full_name()}.link")
        assert tab.feed_versions(3.0) in ([], [0])  # linked: the feed's current values

        public = victim.address.lower()
        for guess in ("wallet-" + public, "wallet-" + victim.address, public, "feed-" + public):
            assert _refused(app.url, guess), guess
            assert _refused(app.url, guess, f"{COOKIE}={token}"), guess  # a cookie does not help

        async with httpx.AsyncClient(timeout=10) as client:
            r = await post(client, answers, victim.url, victim.text(LONG_BTC))
            assert r.status_code == 202, r.text
        await until(lambda: finished(r.json()["signal_id"]), 10, "the alert to execute")
        # at least the execution's push (the monitor may push again when its tick meets the
        # new position: a second bump is legitimate, none is the failure)
        versions = tab.feed_versions(5.0)
        assert versions and versions[-1] >= 1, versions
    finally:
        tab.close()


async def _browse(app: Running) -> tuple[str, str, str]:
    """A signed-in trader's tab runs a few events; returns (address, session token, other cookie)."""
    trader = await new_trader()
    token = await _signed_in(trader.address)
    other = f"theme={uuid.uuid4().hex}"  # unique: the Redis is shared with other runs
    tab = Tab(app.url, str(uuid.uuid4()), f"{other}; {COOKIE}={token}")
    try:
        for _ in range(3):
            tab.send(f"{AuthState.get_full_name()}.require_login")
            tab.send(f"{WalletFeed.get_full_name()}.link")
        tab.feed_versions(2.0)
    finally:
        tab.close()
    return trader.address, token, other


async def _nothing_secret_in(
    stored: Callable[[], Awaitable[bytes]], address: str, token: str, other_cookie: str
) -> None:
    # the tab's state (verified address, router headers) is written shortly after the events
    await until(lambda: _contains(stored, address.encode()), 15, "the tab's state to be stored")
    everything = await stored()
    assert token.encode() not in everything
    assert other_cookie.encode() not in everything  # no other cookie either
    assert hash_token(token).encode() in everything  # what the socket carries instead


async def _contains(stored: Callable[[], Awaitable[bytes]], needle: bytes) -> bool:
    return needle in await stored()


async def test_no_session_token_in_the_stored_tab_state_on_disk(app: Running) -> None:
    address, token, other = await _browse(app)
    states = app.process.dir / ".states"  # the disk state manager's files (development's default)

    async def stored() -> bytes:
        return b"".join(p.read_bytes() for p in states.rglob("*") if p.is_file()) if states.exists() else b""

    await _nothing_secret_in(stored, address, token, other)


async def test_no_session_token_in_the_stored_tab_state_in_redis(
    app_factory: Callable[[], Running], redis_url: str
) -> None:
    running = app_factory()
    running.process.env["REDIS_URL"] = redis_url  # production's state manager
    running.process.start().wait_ready()
    address, token, other = await _browse(running)
    redis = aioredis.Redis.from_url(redis_url)

    async def stored() -> bytes:
        values = []
        async for key in redis.scan_iter(count=1000):
            if await redis.type(key) == b"string":
                values.append(await redis.get(key) or b"")
        return b"".join(values)

    try:
        await _nothing_secret_in(stored, address, token, other)
    finally:
        await redis.aclose()
