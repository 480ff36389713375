"""Live updates at the Reflex level, without a browser: real Reflex apps and state managers
(in-memory, and two Redis-backed "workers" on the real Redis), real sessions in PostgreSQL,
and the real handlers run on tab states whose router carries each tab's session cookie.

What a browser adds (the delta reaching the socket, the watcher firing) is in
tests/e2e/test_dashboard.py.
"""

from __future__ import annotations

import base64
import hashlib
import json
import logging
import uuid
from collections import defaultdict
from typing import Any

import pytest
import redis.asyncio as aioredis
import reflex as rx
from reflex.app import EventNamespace
from reflex.istate.manager.redis import StateManagerRedis

from tests.fakes.indexer import FakeIndexer
from tests.pages.support import ALICE, BOB, link, memory_app, run, running, seen, sign_in
from tests.services.engine_support import LONG_BTC, make_signal, positions
from trading_app.pages import live
from trading_app.pages.dashboard_state import DashboardState
from trading_app.pages.live import WalletFeed, feed_token
from trading_app.services.engine import executor
from trading_app.services.notify import events
from trading_app.settings import get_settings


def test_feed_token_is_one_unguessable_token_per_wallet(monkeypatch: pytest.MonkeyPatch) -> None:
    token = feed_token(ALICE)
    assert token.startswith("feed-") and len(token) == len("feed-") + 64 and "_" not in token
    assert feed_token(ALICE.lower()) == token and feed_token(BOB) != token
    # nothing computable from the address: not the address, nor a hash of it without the key
    public = ALICE.lower()
    assert public not in token and public[2:] not in token
    assert hashlib.sha256(public.encode()).hexdigest() not in token
    # it is keyed by the server's master key: another deployment's key gives another token
    get_settings.cache_clear()
    monkeypatch.setenv("APP_MASTER_KEYS", json.dumps({"1": base64.b64encode(bytes(range(32))).decode()}))
    monkeypatch.setenv("APP_PRIMARY_KEY_ID", "1")
    try:
        assert feed_token(ALICE) != token
    finally:
        get_settings.cache_clear()
    for bad in ["", "wallet", ALICE + "0", ALICE[:-1] + "_", "0x" + "g" * 40, f"{ALICE}\n"]:
        with pytest.raises(ValueError):
            feed_token(bad)


async def test_a_change_reaches_every_tab_of_the_trader_and_no_other(pg_url: str) -> None:
    async with memory_app() as app:
        await _every_tab_and_no_other(app)


async def _every_tab_and_no_other(memory_app: rx.App) -> None:
    alice, bob = await sign_in(ALICE), await sign_in(BOB)
    tabs = {"alice-1": alice, "alice-2": alice, "bob-1": bob, "anonymous": None, "forged": "not-a-session"}
    for client, token in tabs.items():
        await link(memory_app, client, token)
    assert {c: await seen(memory_app, c) for c in tabs} == {
        "alice-1": (0, "", True),
        "alice-2": (0, "", True),
        "bob-1": (0, "", True),
        "anonymous": (0, "", False),
        "forged": (0, "", False),
    }

    await events.positions_changed(ALICE)  # what every service calls after a change
    await events.positions_changed(ALICE)
    assert {c: (await seen(memory_app, c))[0] for c in tabs} == {
        "alice-1": 2,
        "alice-2": 2,
        "bob-1": 0,
        "anonymous": 0,
        "forged": 0,
    }
    assert (await seen(memory_app, "alice-2"))[1] == "Positions updated"

    await live.push(BOB, "BTC-USD closed")
    assert (await seen(memory_app, "bob-1"))[:2] == (1, "BTC-USD closed")
    assert (await seen(memory_app, "alice-1"))[0] == 2

    # a tab opened later starts from the current values
    await link(memory_app, "alice-3", alice)
    assert (await seen(memory_app, "alice-3"))[0] == 2


async def test_a_push_nobody_can_see_costs_nothing_and_logs_nothing(
    pg_url: str, caplog: pytest.LogCaptureFixture
) -> None:
    async with memory_app() as app:
        alice, _ = await sign_in(ALICE), await sign_in(BOB)
        with caplog.at_level(logging.WARNING, logger="reflex.app"):
            await live.push(BOB)  # Bob has no tab open: his feed is not even written
            await live.flush()
            bob_feed = rx.BaseStateToken(ident=live.feed_token(BOB), cls=live.WalletFeed)
            async with app.modify_state(bob_feed) as root:
                assert (await root.get_state(live.WalletFeed)).version == 0
            await link(app, "alice-1", alice)
            await live.push(ALICE)
            await live.flush()
            assert (await seen(app, "alice-1"))[0] == 1  # a linked tab still hears every change
        # the delta Reflex sends to the feed's own token (never a socket) is not reported; the
        # test's tab has no socket either, and that warning stays
        warned = [r.getMessage() for r in caplog.records if "disconnected client" in r.getMessage()]
        assert warned and not [w for w in warned if live.FEED_PREFIX in w]


async def test_the_feed_follows_the_session_not_the_tab(pg_url: str) -> None:
    async with memory_app() as app:
        await _follows_the_session(app)


async def _follows_the_session(memory_app: rx.App) -> None:
    alice, bob = await sign_in(ALICE), await sign_in(BOB)
    await link(memory_app, "shared-tab", alice)
    await live.push(ALICE)
    # Alice signs out and Bob signs in on the same tab (same client token, new cookie)
    await link(memory_app, "shared-tab", bob)
    assert await seen(memory_app, "shared-tab") == (0, "", True)
    await live.push(ALICE)
    assert (await seen(memory_app, "shared-tab"))[0] == 0
    # signed out entirely: the tab leaves every feed
    await link(memory_app, "shared-tab", None)
    await live.push(BOB)
    assert await seen(memory_app, "shared-tab") == (0, "", False)


async def test_push_from_another_redis_backed_worker(pg_url: str, redis_url: str) -> None:
    """The webhook or the monitor may run on another worker than the tab's socket."""
    managers = [
        StateManagerRedis(
            redis=aioredis.Redis.from_url(redis_url),
            token_expiration=60,
            lock_expiration=10_000,
            lock_warning_threshold=5_000,
        )
        for _ in range(2)
    ]
    address = "0x" + uuid.uuid4().hex + "0" * 8  # unique per run: the Redis is shared
    token = await sign_in(address)
    client = f"tab-{uuid.uuid4().hex}"
    async with running(managers[0]) as worker_1, running(managers[1]) as worker_2:
        try:
            await link(worker_1, client, token)
            live.install(worker_2)
            await events.positions_changed(address)
            assert (await seen(worker_1, client))[:2] == (1, "Positions updated")
        finally:
            live.uninstall()
            for manager in managers:
                await manager.close()


async def test_another_trader_cannot_close_a_position_through_the_dashboard(
    pg_url: str, paper_market: FakeIndexer
) -> None:
    async with memory_app() as app:
        await _cannot_close_another_traders_position(app)


async def _cannot_close_another_traders_position(memory_app: rx.App) -> None:
    alice, bob = await sign_in(ALICE), await sign_in(BOB)
    await link(memory_app, "alice-1", alice)
    await link(memory_app, "bob-1", bob)
    await executor.execute_signal(await make_signal(ALICE, LONG_BTC))
    [position] = await positions(ALICE)
    await live.flush()
    assert await seen(memory_app, "alice-1") == (1, "Positions updated", True)  # the opening was pushed

    dash = await run(memory_app, "bob-1", bob, DashboardState, "close_position", str(position.id))
    assert (dash.notice, dash.notice_ok, dash.positions) == ("That position does not exist.", False, [])
    assert [p.status for p in await positions(ALICE)] == ["OPEN"]
    dash = await run(memory_app, "anon", None, DashboardState, "close_position", str(position.id))
    assert dash.notice == "" and [p.status for p in await positions(ALICE)] == ["OPEN"]
    dash = await run(memory_app, "bob-1", bob, DashboardState, "close_all")
    assert dash.notice == "There was nothing to close." and [p.status for p in await positions(ALICE)] == [
        "OPEN"
    ]
    assert (await seen(memory_app, "alice-1"))[0] == 1  # nothing happened to Alice

    dash = await run(memory_app, "alice-1", alice, DashboardState, "load")
    assert [row["id"] for row in dash.positions] == [str(position.id)] and dash.network == "paper"
    assert (
        dash.positions[0]["mark"] != "—" and dash.monitor["state"] == "stopped"
    )  # no scheduler in this test
    dash = await run(memory_app, "alice-1", alice, DashboardState, "close_position", "not-a-number")
    assert dash.notice == "That position does not exist."
    # "\u00b2" passes str.isdigit() and crashed int(); a fullwidth id would have closed the position
    fullwidth = "".join(chr(0xFF10 + int(d)) for d in str(position.id))
    for odd in ("\u00b2", fullwidth):
        dash = await run(memory_app, "alice-1", alice, DashboardState, "close_position", odd)
        assert dash.notice == "That position does not exist."
    assert [p.status for p in await positions(ALICE)] == ["OPEN"]
    dash = await run(memory_app, "alice-1", alice, DashboardState, "close_position", str(position.id))
    assert dash.notice_ok and dash.notice.startswith("Closed BTC-USD long at ")
    assert (dash.positions, dash.closing, dash.summary["record"]) == ([], "", "0 won · 1 lost · 1 closed")
    assert [p.status for p in await positions(ALICE)] == ["CLOSED"]
    assert (await seen(memory_app, "alice-1"))[0] == 2 and (await seen(memory_app, "bob-1"))[0] == 1
    dash = await run(memory_app, "alice-1", alice, DashboardState, "close_position", str(position.id))
    assert dash.notice == "That position is already closed."


class Sockets:
    """The app's real Socket.IO namespace (Reflex's token-to-socket bookkeeping and delivery), with
    the transport replaced by a recorder: what each socket would have received."""

    def __init__(self, app: rx.App) -> None:
        self.namespace = EventNamespace("/_event", app)
        app._event_namespace = self.namespace
        self.received: dict[str, list[Any]] = defaultdict(list)

        async def emit(event: str, data: Any = None, to: str | None = None, **_: Any) -> None:
            self.received[str(to)].append(data)

        self.namespace.emit = emit  # type: ignore[method-assign]  # the wire, not our code

    async def connect(self, sid: str, client_token: str) -> None:
        """A websocket to `/_event?token=<client_token>`: Reflex links the token to the socket."""
        await self.namespace.link_token_to_sid(sid, client_token, update_state=False)

    def feed_versions(self, sid: str) -> list[int]:
        """The WalletFeed versions delivered to socket `sid`."""
        name = WalletFeed.get_full_name()
        return [
            int(next(v for k, v in update.delta[name].items() if k.startswith("version")))
            for update in self.received[sid]
            if name in getattr(update, "delta", {})
        ]


async def test_nobody_can_listen_to_or_steal_another_traders_feed(pg_url: str) -> None:
    """A socket naming the victim's old feed token (`wallet-<address>`), or any token computable
    from the address, receives none of the victim's pushes, signed in or not; the victim's tab does."""
    async with memory_app() as app:
        sockets = Sockets(app)
        victim, attacker = await sign_in(ALICE), await sign_in(BOB)
        victim_tab = str(uuid.uuid4())
        await sockets.connect("victim-sid", victim_tab)
        await link(app, victim_tab, victim)

        public = ALICE.lower()
        guesses = [
            "wallet-" + public,
            "wallet-" + ALICE,
            "feed-" + public,
            "feed-" + hashlib.sha256(public.encode()).hexdigest(),
            "feed-" + hashlib.sha256(ALICE.encode()).hexdigest(),
            public,
        ]
        for n, guess in enumerate(guesses):
            await sockets.connect(f"listener-{n}", guess)  # no cookie: only listening
        # a signed-in attacker whose tab is the socket naming the victim's old feed token links it
        # to their own feed (on the old tokens, this re-linked the victim's pushes to the
        # attacker's feed: the victim's tabs stopped getting them)
        thief = "wallet-" + public
        await link(app, thief, attacker)
        sockets.received.clear()

        await events.positions_changed(ALICE)  # the victim's alert ran
        await live.flush()
        for n in range(len(guesses)):
            assert sockets.received[f"listener-{n}"] == [], guesses[n]
        assert sockets.feed_versions("victim-sid") == [1]
        assert feed_token(ALICE) not in repr(sockets.received["victim-sid"])  # never sent to a browser
        assert (await seen(app, victim_tab))[:2] == (1, "Positions updated")
        assert (await seen(app, thief))[0] == 0  # the attacker's own feed did not move
