"""The monitor on dYdX by the indexer websocket: REST only when the stream says something changed,
after a gap, or as the safety net; REST every tick while the stream is down."""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Iterator
from decimal import Decimal

import pytest

from tests.fakes.dydx_socks import FakeSocks
from tests.fakes.dydx_world import OWNER, DydxWorld
from tests.services.dydx_support import dydx_user  # noqa: F401 - fixture
from tests.services.engine_support import make_signal
from tests.services.monitor_support import position, rows
from trading_app.db.models import Position
from trading_app.services.engine import executor
from trading_app.services.monitor import tick

D = Decimal
ETH_LONG = {"action": "buy", "market": "ETH-USD", "size": "0.1", "sl": "2700", "tp": "3300"}
ACCOUNT_PATHS = ("/v4/orders", "/v4/fills", "/v4/addresses")


@pytest.fixture
def socks(dydx_world: DydxWorld) -> Iterator[FakeSocks]:
    fake = FakeSocks(dydx_world.exchange).start()
    yield fake
    fake.stop()


def _account_reads(world: DydxWorld) -> int:
    return sum(world.indexer.request_count(p) for p in ACCOUNT_PATHS)


async def _opened(user: str) -> Position:
    outcome = await executor.execute_signal(await make_signal(user, ETH_LONG))
    assert outcome is not None and outcome.status.value == "EXECUTED", outcome and outcome.reason
    return await position(outcome.position_id or 0)


async def _until(check: Callable[[], object], within: float = 10.0) -> None:
    for _ in range(int(within / 0.05)):
        if await check() if asyncio.iscoroutinefunction(check) else check():
            return
        await asyncio.sleep(0.05)
    raise AssertionError("not reached in time")


async def _streaming(worker: str, user: str) -> None:
    """Ticks until the account's subscription is live and its resync reads are done (quiet)."""
    for _ in range(60):
        report = await tick.monitor_tick(worker, sweep=False)
        me = tick._workers[worker]
        if me.feed and me.feed.live((user, "testnet")) and report.streamed == 1 and not me.inflight:
            return
        await asyncio.sleep(0.1)
    raise AssertionError("the account never became quiet on its stream")


async def test_quiet_account_is_not_read_and_a_fill_is_settled_by_the_stream(
    dydx_user: str,  # noqa: F811
    dydx_world: DydxWorld,
    socks: FakeSocks,
) -> None:
    opened = await _opened(dydx_user)
    try:
        await _streaming("ws-1", dydx_user)
        before = _account_reads(dydx_world)
        for _ in range(5):  # quiet: ticks renew the lease, ask the indexer nothing about the account
            report = await tick.monitor_tick("ws-1", sweep=False)
            assert report.streamed == 1 and report.started == 0
            await asyncio.sleep(0.1)
        assert _account_reads(dydx_world) == before

        dydx_world.exchange.set_price("ETH-USD", D("3350"))  # the take-profit fills on chain

        async def closed() -> bool:  # no monitor tick: the stream wakes the reconcile
            return (await position(opened.id or 0)).status == "CLOSED"

        await _until(closed)
        done = await position(opened.id or 0)
        assert done.close_reason == "TAKE_PROFIT" and done.exit_price == D("3350")
    finally:
        await tick.stop("ws-1")


async def test_the_echo_of_our_own_sibling_cancel_waits_for_the_next_full_tick(
    dydx_user: str,  # noqa: F811
    dydx_world: DydxWorld,
    socks: FakeSocks,
) -> None:
    """After a close the stop-loss is cancelled by us; its cancel comes back on the stream as an
    order that left the book. That echo is read at the next full tick, not at once (it was a second
    REST read of the account per close); the next tick still confirms the cancel from the indexer."""
    opened = await _opened(dydx_user)
    account = (dydx_user, "testnet")
    try:
        await _streaming("ws-1", dydx_user)
        me = tick._workers["ws-1"]
        assert me.feed is not None
        fill_reads = dydx_world.indexer.request_count("/v4/fills")  # one per read of the account
        dydx_world.exchange.set_price("ETH-USD", D("3350"))  # the take-profit fills on chain

        async def closed() -> bool:
            return (await position(opened.id or 0)).status == "CLOSED"

        await _until(closed)  # the fill's read settled the books and sent the stop-loss's cancel

        def cancel_indexed() -> bool:
            orders = dydx_world.exchange.visible_orders(OWNER, 0)
            return not [o for o in orders if o["status"] == "UNTRIGGERED"]

        await _until(cancel_indexed)
        updates = -1
        for _ in range(40):  # until the stream has brought that block and no read is running
            if updates == me.feed.updates and not me.inflight:
                break
            updates = me.feed.updates
            await asyncio.sleep(0.5)
        else:
            raise AssertionError("the stream never went quiet after the cancel")
        # the fill's read only: the echo of the cancel was not read at once (it was: 2)
        assert dydx_world.indexer.request_count("/v4/fills") - fill_reads == 1
        assert account in me.feed.recheck and account not in me.feed.dirty

        await tick.monitor_tick("ws-1", sweep=False)  # the next full tick reads it and confirms

        async def confirmed() -> bool:
            return (await rows(opened.id))["STOP_LOSS"][-1].status == "CANCELED"

        await _until(confirmed)
        assert dydx_world.indexer.request_count("/v4/fills") - fill_reads == 2
    finally:
        await tick.stop("ws-1")


async def test_stream_down_means_rest_every_tick_and_a_resync_when_back(
    dydx_user: str,  # noqa: F811
    dydx_world: DydxWorld,
    socks: FakeSocks,
) -> None:
    opened = await _opened(dydx_user)
    try:
        await _streaming("ws-2", dydx_user)
        socks.refuse(True)
        socks.drop()
        feed = tick._workers["ws-2"].feed
        assert feed is not None
        await _until(lambda: not feed.live((dydx_user, "testnet")))
        before = _account_reads(dydx_world)
        for _ in range(3):  # the safety net takes over: every tick reads the account
            report = await tick.monitor_tick("ws-2", sweep=False, wait=None)
            assert report.started == 1 and report.streamed == 0
        assert _account_reads(dydx_world) >= before + 3

        dydx_world.exchange.set_price("ETH-USD", D("3350"))
        for _ in range(100):  # stream still down: the ticks alone find the fill
            await tick.monitor_tick("ws-2", sweep=False)
            if (await position(opened.id or 0)).status == "CLOSED":
                break
            await asyncio.sleep(0.1)
        assert (await position(opened.id or 0)).close_reason == "TAKE_PROFIT"

        resubscribed = socks.subscribes
        socks.refuse(False)
        await _until(lambda: feed.live((dydx_user, "testnet")))
        assert socks.subscribes > resubscribed
    finally:
        await tick.stop("ws-2")


async def test_the_safety_net_reads_a_quiet_account(
    dydx_user: str,  # noqa: F811
    dydx_world: DydxWorld,
    socks: FakeSocks,
) -> None:
    await _opened(dydx_user)
    try:
        await _streaming("ws-3", dydx_user)
        feed = tick._workers["ws-3"].feed
        assert feed is not None
        feed.safety = 0.3
        await asyncio.sleep(0.35)
        report = await tick.monitor_tick("ws-3", sweep=False, wait=None)
        assert report.started == 1
    finally:
        await tick.stop("ws-3")


async def test_a_trailing_stop_is_followed_every_tick_although_the_stream_is_quiet(
    dydx_user: str,  # noqa: F811
    dydx_world: DydxWorld,
    socks: FakeSocks,
) -> None:
    """A rising price sends no account message; a position that trails must still be read at every
    tick, or its stop would wait for the safety net."""
    body = {"action": "buy", "market": "ETH-USD", "size": "0.1", "sl_pct": 5, "trail_pct": 1}
    outcome = await executor.execute_signal(await make_signal(dydx_user, body))
    assert outcome is not None and outcome.position_id is not None
    try:
        async with asyncio.timeout(90):  # a stuck tick fails this test instead of holding the suite
            await _trails(dydx_user, dydx_world, outcome.position_id)
    finally:
        await tick.stop("ws-4")


async def _trails(user: str, dydx_world: DydxWorld, position_id: int) -> None:
    """Tick until the stream is live, then see every tick read the account and trail the stop."""
    feed = None
    for _ in range(60):  # until the account's subscription is live
        await tick.monitor_tick("ws-4", sweep=False)
        feed = tick._workers["ws-4"].feed
        if feed is not None and feed.live((user, "testnet")):
            break
        await asyncio.sleep(0.1)
    assert feed is not None and feed.live((user, "testnet"))
    reads = []
    for _ in range(6):  # a plain position goes quiet here (test above); this one stays read
        report = await tick.monitor_tick("ws-4", sweep=False, wait=10)
        reads.append((report.started, report.streamed))
        await asyncio.sleep(0.1)
    assert all(streamed == 0 for _, streamed in reads) and reads[-1] == (1, 0), reads
    dydx_world.exchange.set_price("ETH-USD", D("3100"))
    for _ in range(60):
        report = await tick.monitor_tick("ws-4", sweep=False, wait=10)
        if (await position(position_id)).sl_price == D("3069"):
            break
        await asyncio.sleep(0.1)
    assert (await position(position_id)).sl_price == D("3069")  # 1 % under 3,100
    assert report.started == 1  # read by the tick, not left to the stream
