"""Scaling out on DydxVenue against the fake dYdX node and indexer (real signed transactions).

The fake chain enforces the stateful-order limits (clob 5001 per block and per 100 blocks, the
equity tier's 10001) and records every block at which the position had no stop-loss covering it
(`stopless_moments`): a move must place the new stop, see it committed, and only then cancel the old.
"""

from __future__ import annotations

import asyncio
from datetime import timedelta
from decimal import Decimal

import pytest
from sqlmodel import col, select

from tests.fakes.dydx_world import OWNER, DydxWorld
from tests.services.engine_support import make_signal
from tests.services.monitor_support import notifications, position, rows
from trading_app.db.engine import session_scope
from trading_app.db.models import Position, StopMove
from trading_app.services.engine import executor, stop_moves
from trading_app.services.monitor.tick import monitor_tick

D = Decimal


async def _opened(user: str, body: dict) -> Position:
    outcome = await executor.execute_signal(await make_signal(user, body))
    assert outcome is not None and outcome.status.value == "EXECUTED", outcome and outcome.reason
    assert outcome.position_id is not None
    return await position(outcome.position_id)


async def _tick_until(position_id: int, done, within: float = 15.0) -> Position:  # noqa: ANN001
    """Tick like the scheduler until `done(position)` (the indexer lags the chain by a block)."""
    found = await position(position_id)
    for _ in range(int(within / 0.2)):
        await monitor_tick("w1", sweep=False)
        found = await position(position_id)
        if done(found):
            return found
        await asyncio.sleep(0.2)
    raise AssertionError(f"position {position_id} is {found.status} with stop {found.sl_price}")


async def _moves(position_id: int) -> list[StopMove]:
    async with session_scope() as session:
        found = await session.exec(
            select(StopMove).where(StopMove.position_id == position_id).order_by(col(StopMove.id))
        )
        return list(found.all())


def _live_stops(world: DydxWorld) -> list:
    return [o for o in world.exchange.orders.values() if o.live and o.condition == "STOP_LOSS"]


async def _protected_from(world: DydxWorld) -> int:
    """The height from which the position has its first stop on the chain. Before it, the entry had
    filled and the stop's tx was on its way (a block or two: the order of an opening, not a move)."""
    for _ in range(200):
        moments = world.exchange.stopless_moments(OWNER, 0, "ETH-USD")
        height = world.exchange.height
        if _live_stops(world) and (not moments or moments[-1].height < height - 1):
            return height
        await asyncio.sleep(0.05)
    raise AssertionError("the position never got its stop on the chain")


def _never_stopless(world: DydxWorld, since: int) -> None:
    assert [m for m in world.exchange.stopless_moments(OWNER, 0, "ETH-USD") if m.height > since] == []


async def test_two_levels_and_break_even_on_chain_never_leave_the_position_without_a_stop(
    dydx_user: str, dydx_world: DydxWorld
) -> None:
    opened = await _opened(
        dydx_user,
        {
            "action": "buy",
            "market": "ETH-USD",
            "size": "0.2",
            "sl": "2700",
            "tp": [3100, 3300],
            "be_after_tp": 1,
        },
    )
    orders = await rows(opened.id)
    assert sorted((o.level, o.size) for o in orders["TAKE_PROFIT"]) == [(1, D("0.1")), (2, D("0.1"))]
    since = await _protected_from(dydx_world)

    dydx_world.exchange.set_price("ETH-USD", D("3150"))
    moved = await _tick_until(opened.id, lambda p: p.sl_price is not None and p.sl_price > opened.entry_price)
    assert moved.status == "OPEN" and moved.levels_done == 1
    *before, be = await _moves(opened.id)
    # a tick that saw the position shrink before the indexer showed level 1 filled resizes the stop
    # to what is open first (CI, under load); the break-even move follows once the level is booked
    assert all((m.reason, m.outcome, m.size) == ("RESIZE", "MOVED", D("0.1")) for m in before), before
    assert (be.reason, be.outcome, be.size) == ("BREAK_EVEN", "MOVED", D("0.1"))
    for _ in range(100):  # the old stop's cancel is a stateful tx too: committed a block later
        if len(_live_stops(dydx_world)) == 1:
            break
        await asyncio.sleep(0.05)
    assert [(o.size, o.trigger) for o in _live_stops(dydx_world)] == [(D("0.1"), be.new_price)]
    _never_stopless(dydx_world, since)

    dydx_world.exchange.set_price("ETH-USD", D("3350"))
    closed = await _tick_until(opened.id, lambda p: p.status == "CLOSED")
    assert closed.close_reason == "TAKE_PROFIT"
    assert dydx_world.exchange.position(OWNER, 0, "ETH-USD") == 0
    _never_stopless(dydx_world, since)
    assert not [o for o in (await rows(opened.id)).get("STOP_LOSS", []) if o.status == "REJECTED"]


async def test_a_trailing_stop_on_chain_moves_within_the_order_budget_and_closes_on_the_pullback(
    dydx_user: str, dydx_world: DydxWorld
) -> None:
    # a tight budget: 4 stateful placements per 20 blocks (a second), and a trailing move keeps 2 of
    # them for a stop that must be placed: moves wait for room (DEFERRED) instead of hitting 5001
    dydx_world.node.stateful_limits = [(1, 2), (20, 4)]
    opened = await _opened(
        dydx_user,
        {"action": "buy", "market": "ETH-USD", "size": "0.1", "sl_pct": 5, "trail_pct": 1},
    )
    since = await _protected_from(dydx_world)
    stops = [opened.sl_price]
    for price in ("3050", "3100", "3150", "3200"):
        dydx_world.exchange.set_price("ETH-USD", D(price))
        best = D(price)
        moved = await _tick_until(opened.id, lambda p, best=best: p.sl_price == best * D("0.99"), within=20)
        stops.append(moved.sl_price)
        _never_stopless(dydx_world, since)
    assert stops[1:] == [D("3019.5"), D("3069"), D("3118.5"), D("3168")]
    outcomes = {m.outcome for m in await _moves(opened.id)}
    assert outcomes <= {"MOVED", "DEFERRED"}  # never refused by the chain: the budget was respected
    assert "MOVED" in outcomes

    dydx_world.exchange.set_price("ETH-USD", D("3150"))  # the pullback through the trailing stop
    closed = await _tick_until(opened.id, lambda p: p.status == "CLOSED")
    assert closed.close_reason == "STOP_LOSS" and closed.realized_pnl is not None and closed.realized_pnl > 0
    _never_stopless(dydx_world, since)
    assert not [o for o in (await rows(opened.id)).get("STOP_LOSS", []) if o.status == "REJECTED"]


async def test_a_plan_the_equity_tier_cannot_hold_is_refused_before_anything_is_sent(
    dydx_user: str, dydx_world: DydxWorld
) -> None:
    # an account whose equity tier allows 3 open conditional orders: two levels, a stop and a stop
    # being moved need 4, so the alert is refused up front instead of a level refused after the fill
    dydx_world.exchange.equity_tiers = [(D(0), 0), (D(20), 3)]
    body = {"action": "buy", "market": "ETH-USD", "size": "0.2", "sl": "2700", "tp": [3100, 3300]}
    outcome = await executor.execute_signal(await make_signal(dydx_user, body))
    assert outcome is not None and outcome.status.value == "REJECTED"
    assert outcome.reason is not None and outcome.reason.startswith("order_limit")
    assert "up to 4" in outcome.reason and "allows this account 3" in outcome.reason
    assert dydx_world.exchange.position(OWNER, 0, "ETH-USD") == 0
    assert not [o for o in dydx_world.exchange.orders.values() if o.owner == OWNER]

    # one target and a fixed stop fit: the same account trades it
    plain = {"action": "buy", "market": "ETH-USD", "size": "0.1", "sl": "2700", "tp": "3300"}
    opened = await _opened(dydx_user, plain)
    assert opened.status == "OPEN"


async def test_a_move_the_chain_refuses_is_reported_once_and_the_old_stop_stays(
    dydx_user: str, dydx_world: DydxWorld
) -> None:
    opened = await _opened(
        dydx_user, {"action": "buy", "market": "ETH-USD", "size": "0.1", "sl_pct": 5, "trail_pct": 1}
    )
    since = await _protected_from(dydx_world)
    [stop] = _live_stops(dydx_world)
    # the account's equity tier now allows one open conditional order: the new stop is refused
    # (clob 10001) while the old one is still there, as it must be during a move
    dydx_world.exchange.equity_tiers = [(D(0), 0), (D(20), 1)]
    dydx_world.exchange.set_price("ETH-USD", D("3100"))
    for _ in range(40):
        await monitor_tick("w1", sweep=False)
        if any(m.outcome == "FAILED" for m in await _moves(opened.id)):
            break
        await asyncio.sleep(0.2)
    for _ in range(5):  # more ticks: the refusal is not retried at every tick, nor told again
        await monitor_tick("w1", sweep=False)
        await asyncio.sleep(0.2)
    moves = await _moves(opened.id)
    assert [(m.reason, m.outcome) for m in moves] == [("TRAIL", "FAILED")]
    assert "10001" in (moves[0].detail or "") or "equity tier" in (moves[0].detail or "")
    assert [o.trigger for o in _live_stops(dydx_world)] == [stop.trigger]  # the old stop stays
    assert (await position(opened.id)).sl_price == opened.sl_price
    assert len(await notifications(dydx_user, "stop_move_late")) == 1
    _never_stopless(dydx_world, since)


async def test_a_move_the_budget_holds_back_waits_and_is_reported_when_late(
    dydx_user: str, dydx_world: DydxWorld, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(stop_moves, "MOVE_LATE", timedelta(seconds=1))  # a minute in production
    # 3 stateful placements per 1,000 blocks: the stop uses one, and a trailing move must leave two
    # (the venue reads the chain's limits once an hour: set before it first asks)
    dydx_world.node.stateful_limits = [(1, 2), (1000, 3)]
    opened = await _opened(
        dydx_user, {"action": "buy", "market": "ETH-USD", "size": "0.1", "sl_pct": 5, "trail_pct": 1}
    )
    since = await _protected_from(dydx_world)
    dydx_world.exchange.set_price("ETH-USD", D("3100"))
    for _ in range(15):
        await monitor_tick("w1", sweep=False)
        await asyncio.sleep(0.2)
    moves = await _moves(opened.id)
    assert [(m.reason, m.outcome) for m in moves] == [("TRAIL", "DEFERRED")]  # one row, not one per tick
    assert (moves[0].detail or "").startswith("reported")
    assert len(await notifications(dydx_user, "stop_move_late")) == 1
    assert (await position(opened.id)).sl_price == opened.sl_price  # the old stop protects meanwhile
    _never_stopless(dydx_world, since)
