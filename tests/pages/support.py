"""Reflex-level page tests without a browser: real apps and state managers, real sessions.

    async with memory_app() as app:                      # one worker, pushing on changes
        dash = await run(app, "tab-1", session_token, DashboardState, "load")

`tab()` gives one browser tab's state for one event, its router carrying the tab's session
cookie as Reflex's websocket gets it (`api.socket_session` rewrites it to the token's hash),
exactly what the event handlers read; `run()` runs one handler to completion on it.
"""

from __future__ import annotations

import contextlib
import os
import tempfile
from collections.abc import AsyncIterator, Iterator
from typing import TypeVar

import reflex as rx
from reflex.istate.data import RouterData
from reflex.istate.manager.memory import StateManagerMemory
from reflex_base.registry import RegistrationContext

from trading_app.db.engine import session_scope
from trading_app.pages import live
from trading_app.pages.live import WalletFeed
from trading_app.services.accounts.users import ensure_user
from trading_app.services.auth.sessions import SESSION_COOKIE, create_session, socket_cookie

ALICE = "0x00000000000000000000000000000000000A11cE"
BOB = "0x0000000000000000000000000000000000000B0b"
S = TypeVar("S", bound=rx.State)


@contextlib.asynccontextmanager
async def running(manager: object) -> AsyncIterator[rx.App]:
    """An app as one backend worker runs it: its state manager and event processor (what the
    server's lifespan starts), without compiling pages or opening sockets."""
    # one app per registration context, as in a worker process; registrations (states) are kept.
    # rx.App() makes its default (disk) state manager's directory: a private one, not the checkout's
    # `.states`, where a dev server run from the checkout keeps its sessions
    with (
        tempfile.TemporaryDirectory(prefix="trading_app-states-") as states,
        _environ("REFLEX_STATES_WORKDIR", states),
        RegistrationContext.get().fork(),
    ):
        app = rx.App()
        app._state_manager = manager  # type: ignore[assignment]  # what a worker creates from its config
        async with app._setup_event_processor():
            yield app


@contextlib.contextmanager
def _environ(name: str, value: str) -> Iterator[None]:
    saved = os.environ.get(name)
    os.environ[name] = value
    try:
        yield
    finally:
        if saved is None:
            os.environ.pop(name, None)
        else:
            os.environ[name] = saved


@contextlib.asynccontextmanager
async def memory_app() -> AsyncIterator[rx.App]:
    """One worker with the in-memory state manager, pushing on every positions change."""
    async with running(StateManagerMemory()) as app:
        live.install(app)
        try:
            yield app
        finally:
            live.uninstall()


async def sign_in(address: str) -> str:
    async with session_scope() as session:
        await ensure_user(session, address)
        token, _ = await create_session(session, address)
    return token


@contextlib.asynccontextmanager
async def tab(
    app: rx.App, client: str, session_token: str | None, cls: type[rx.State]
) -> AsyncIterator[rx.State]:
    """One browser tab's `cls` state for the length of one event, its socket carrying `session_token`."""
    cookie = socket_cookie(f"{SESSION_COOKIE}={session_token}" if session_token else "")
    async with app.modify_state(rx.BaseStateToken(ident=client, cls=cls)) as root:
        root.router = RouterData.from_router_data(
            {"token": client, "headers": {"cookie": cookie}, "pathname": "/dashboard"}
        )
        yield await root.get_state(cls)


async def link(app: rx.App, client: str, session_token: str | None) -> None:
    async with tab(app, client, session_token, WalletFeed) as feed:
        await WalletFeed.link.fn(feed)


async def seen(app: rx.App, client: str) -> tuple[int, str, bool]:
    """What the tab's feed shows once the pushes so far are applied: (version, last event, live)."""
    await live.flush()
    async with tab(app, client, None, WalletFeed) as feed:
        return feed.version, feed.last_event, feed.live


async def run(
    app: rx.App, client: str, session_token: str | None, cls: type[S], handler: str, *args: str
) -> S:
    """Run `cls.handler(*args)` as the tab `client` would, to completion; returns the state after it."""
    async with tab(app, client, session_token, cls) as state:
        result = getattr(cls, handler).fn(state, *args)
        if hasattr(result, "__aiter__"):
            async for _ in result:
                pass
        else:
            await result
        return state  # type: ignore[return-value]
