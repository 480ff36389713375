"""The indexer websocket client (`venues.dydx.stream`) against the fake socks (`tests.fakes.dydx_socks`)."""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Iterator
from decimal import Decimal

import pytest

from tests.fakes.dydx_socks import FakeSocks
from tests.fakes.dydx_world import OWNER, DydxWorld
from trading_app.domain.enums import Side
from trading_app.venues.dydx.stream import StreamEvent, SubaccountStream, our_cancels, subscription_id, ws_url

D = Decimal
SUB = subscription_id(OWNER, 0)


@pytest.fixture
def socks(dydx_world: DydxWorld) -> Iterator[FakeSocks]:
    fake = FakeSocks(dydx_world.exchange, heartbeat=0.3, pong_timeout=0.3).start()
    yield fake
    fake.stop()


async def _until(check: Callable[[], bool], within: float = 5.0) -> None:
    for _ in range(int(within / 0.02)):
        if check():
            return
        await asyncio.sleep(0.02)
    raise AssertionError("not reached in time")


def test_ws_url_follows_the_indexer() -> None:
    assert ws_url("https://indexer.dydx.trade") == "wss://indexer.dydx.trade/v4/ws"
    assert ws_url("http://127.0.0.1:8080/") == "ws://127.0.0.1:8080/v4/ws"


async def test_a_fill_on_chain_arrives_as_an_update_with_fills_and_orders(
    dydx_world: DydxWorld, socks: FakeSocks
) -> None:
    events: list[StreamEvent] = []
    stream = SubaccountStream(ws_url(dydx_world.indexer.url), events.append, backoff_first=0.05)
    try:
        stream.follow([SUB])
        await _until(lambda: stream.live(SUB))
        assert [(e.kind, e.ids) for e in events] == [("resync", (SUB,))]
        dydx_world.auto_blocks(0.05)
        venue = dydx_world.venue()
        await venue.place_market_order("ETH-USD", Side.BUY, D("0.1"), worst_price=D("3100"), client_id=7)
        await _until(lambda: any(e.kind == "update" and (e.contents or {}).get("fills") for e in events))
        update = next(e for e in events if e.kind == "update" and (e.contents or {}).get("fills"))
        [fill] = update.contents["fills"]  # type: ignore[index]
        assert fill["ticker"] == "ETH-USD" and fill["size"] == "0.1" and update.changes_books
        assert any(o.get("clientId") == "7" for o in update.contents.get("orders", []))  # type: ignore[union-attr]
        assert any(p["market"] == "ETH-USD" for p in update.contents["perpetualPositions"])  # type: ignore[index]
        # the venue learns the order's client id from it: no /v4/orders/{uuid} for this fill
        venue.absorb(update.contents)  # type: ignore[arg-type]
        before = dydx_world.indexer.request_count("/v4/orders/")
        [seen] = await venue.fills("ETH-USD")
        assert seen.client_id == 7 and dydx_world.indexer.request_count("/v4/orders/") == before
        # leave nothing unprotected for the world's teardown check
        await venue.place_market_order(
            "ETH-USD", Side.SELL, D("0.1"), worst_price=D("2900"), client_id=8, reduce_only=True
        )
        await _until(lambda: dydx_world.exchange.position(OWNER, 0, "ETH-USD") == 0)
    finally:
        await stream.close()


async def test_a_dropped_connection_is_down_then_resynced_after_a_backoff(
    dydx_world: DydxWorld, socks: FakeSocks
) -> None:
    events: list[StreamEvent] = []
    stream = SubaccountStream(ws_url(dydx_world.indexer.url), events.append, backoff_first=0.05)
    try:
        stream.follow([SUB])
        await _until(lambda: stream.live(SUB))
        socks.refuse(True)
        socks.drop()
        await _until(lambda: not stream.live(SUB))
        await asyncio.sleep(0.3)  # refused meanwhile: several attempts, never live
        assert not stream.live(SUB) and ("down", (SUB,)) in [(e.kind, e.ids) for e in events]
        socks.refuse(False)
        await _until(lambda: stream.live(SUB))
        assert [e.kind for e in events] == ["resync", "down", "resync"] and stream.gaps == 1
        assert socks.connects >= 2 and stream.connections == 1
    finally:
        await stream.close()


async def test_subscriptions_follow_the_set_and_share_one_connection(
    dydx_world: DydxWorld, socks: FakeSocks
) -> None:
    others = [subscription_id(OWNER, n) for n in (1, 2, 3)]
    stream = SubaccountStream(ws_url(dydx_world.indexer.url), lambda e: None)
    try:
        stream.follow([SUB, *others])
        await _until(lambda: all(stream.live(s) for s in [SUB, *others]))
        assert socks.connects == 1 and stream.connections == 1
        stream.follow([SUB])
        await _until(lambda: socks.subscribers(others[0]) == 0)
        assert stream.live(SUB) and not stream.live(others[0]) and socks.subscribers(SUB) == 1
        stream.follow([])
        await _until(lambda: socks.subscribers(SUB) == 0)
        assert stream.connections == 0
    finally:
        await stream.close()


async def test_more_subscriptions_than_one_connection_takes_open_another(
    dydx_world: DydxWorld, socks: FakeSocks
) -> None:
    ids = [subscription_id(OWNER, n) for n in range(5)]
    stream = SubaccountStream(ws_url(dydx_world.indexer.url), lambda e: None, per_connection=2)
    try:
        stream.follow(ids)
        await _until(lambda: all(stream.live(s) for s in ids))
        assert stream.connections == 3
    finally:
        await stream.close()


async def test_server_heartbeat_is_answered(dydx_world: DydxWorld, socks: FakeSocks) -> None:
    stream = SubaccountStream(ws_url(dydx_world.indexer.url), lambda e: None)
    try:
        stream.follow([SUB])
        await _until(lambda: stream.live(SUB))
        await asyncio.sleep(1.2)  # 4 server pings, each due within 0.3 s
        assert stream.live(SUB) and socks.connects == 1
    finally:
        await stream.close()


async def test_an_invalid_subscription_id_is_refused(dydx_world: DydxWorld, socks: FakeSocks) -> None:
    stream = SubaccountStream(ws_url(dydx_world.indexer.url), lambda e: None)
    try:
        stream.follow([f"{OWNER}/999999", SUB])
        await _until(lambda: stream.live(SUB))
        assert not stream.live(f"{OWNER}/999999")
    finally:
        await stream.close()


def test_only_the_echo_of_our_own_cancels_is_not_urgent() -> None:
    asked = {7, 8}.__contains__

    def order(client_id: str | None, status: str) -> dict[str, str]:
        return {"id": "u", "status": status, **({"clientId": client_id} if client_id else {})}

    ours = {"orders": [order("7", "CANCELED"), order("8", "BEST_EFFORT_CANCELED"), order("9", "OPEN")]}
    assert StreamEvent("update", ("a/0",), ours).urgent and our_cancels(ours, asked)
    for not_echo in (
        {**ours, "fills": [{"id": "f"}]},  # a fill in the same block
        {**ours, "perpetualPositions": [{"status": "CLOSED"}]},
        {"orders": [order("7", "FILLED")]},  # asked to cancel, filled first
        {"orders": [order("9", "CANCELED")]},  # a cancel we did not send
        {"orders": [order(None, "BEST_EFFORT_CANCELED")]},  # an expiry without its client id
        {"orders": [order("7", "CANCELED"), order("9", "CANCELED")]},
        {"orders": [order("9", "UNTRIGGERED")]},  # nothing left the book
        {},
    ):
        assert not our_cancels(not_echo, asked), not_echo
