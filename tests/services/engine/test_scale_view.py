"""The read side of scaling out: levels, the stop and its history per position, for one trader only,
in two queries for a whole dashboard; and what `GET /api/user/positions`' service gives for them."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from datetime import timedelta
from decimal import Decimal

import pytest
from sqlmodel import select

from tests.db.engine_events import listening
from tests.services.engine_support import make_user
from tests.services.scale_support import T0, D, add_move, add_order, add_position, scaled_after_tp1
from trading_app.db.engine import session_scope
from trading_app.db.models import Position
from trading_app.services.engine import manual
from trading_app.services.engine.scale_view import levels_for, parse_plan

# the rows are the engine's, written straight into the books: no venue holds these positions
pytestmark = pytest.mark.breaks_invariants("books written directly; the read side is under test")


@contextmanager
def selects() -> Iterator[list[str]]:
    """Every SELECT the app's engine sends meanwhile."""
    seen: list[str] = []
    with listening(lambda sql: seen.append(sql) if sql.lstrip().lower().startswith("select") else None):
        yield seen


async def test_levels_stop_and_history_of_one_position(db_url: str) -> None:
    user = await make_user(1)
    pid = await scaled_after_tp1(user)
    view = (await levels_for(user, [pid]))[pid]
    assert [(lv.n, lv.price, lv.size, lv.filled, lv.state) for lv in view.levels] == [
        (1, D("97500"), D("0.005"), D("0.005"), "filled"),
        (2, D("99000"), D("0.005"), D("0"), "waiting"),
    ]
    assert view.filled_levels == 1
    assert view.stop == D("97262") and view.break_even and not view.trailing
    assert [(s.reason, s.old_price, s.new_price, s.outcome) for s in view.history] == [
        ("INITIAL", None, D("96000"), "MOVED"),
        ("BREAK_EVEN", D("96000"), D("97262"), "MOVED"),
    ]
    assert view.history[1].at == T0 + timedelta(seconds=67)
    assert view.plan.targets == (D("97500"), D("99000")) and view.plan.be_after_tp == 1
    assert view.plan.trail_pct == D("1") and view.plan.trail_after_tp == 2


async def test_two_traders_see_only_their_own(db_url: str) -> None:
    alice, bob = await make_user(2), await make_user(3)
    a = await scaled_after_tp1(alice)
    b = await scaled_after_tp1(bob, market="ETH-USD")
    # bob's stop moves again; alice's view must not change
    await add_move(bob, b, "TRAIL", "97262", "98000", seconds=300)
    assert set(await levels_for(alice, [a, b])) == {a}
    assert set(await levels_for(bob, [a, b])) == {b}
    mine = (await levels_for(alice, [a]))[a]
    assert len(mine.history) == 2 and all(s.new_price != D("98000") for s in mine.history)
    # an order of bob's that names alice's position (never written by the engine) is not read either
    await add_order(bob, a, "TAKE_PROFIT", "FILLED", level=2, trigger_price=D("1"), filled_size=D("0.005"))
    assert [lv.state for lv in (await levels_for(alice, [a]))[a].levels] == ["filled", "waiting"]


async def test_level_states_from_the_latest_order_of_each_level(db_url: str) -> None:
    user = await make_user(4)
    plan = {"kind": "tp", "targets": ["97500", "98000", "99000", "100000"], "split": ["25"] * 4}
    pid = await add_position(user, plan=plan, size=D("0.020"))
    # level 1 re-placed: the old order cancelled, its successor sent but not yet seen live
    await add_order(user, pid, "TAKE_PROFIT", "CANCELED", level=1, trigger_price=D("97500"))
    await add_order(user, pid, "TAKE_PROFIT", "PENDING", level=1, trigger_price=D("97500"))
    await add_order(
        user,
        pid,
        "TAKE_PROFIT",
        "PARTIALLY_FILLED",
        level=2,
        trigger_price=D("98000"),
        filled_size=D("0.002"),
    )
    await add_order(user, pid, "TAKE_PROFIT", "CANCELED", level=3, trigger_price=D("99000"))
    # level 4 has no order yet: the plan's price, waiting
    view = (await levels_for(user, [pid]))[pid]
    assert [(lv.n, lv.state) for lv in view.levels] == [
        (1, "re-placing"),
        (2, "part-filled"),
        (3, "cancelled"),
        (4, "waiting"),
    ]
    assert view.levels[1].filled == D("0.002")
    assert (view.levels[3].price, view.levels[3].size) == (D("100000"), None)
    assert view.history == () and view.stop == D("96000") and not view.break_even


async def test_trailing_and_moves_that_did_not_happen(db_url: str) -> None:
    user = await make_user(5)
    pid = await scaled_after_tp1(user, trail_best=D("99500.5"))
    await add_move(user, pid, "TRAIL", "97262", "98505.4", seconds=400)
    await add_move(
        user,
        pid,
        "TRAIL",
        "98505.4",
        "98510.0",
        outcome="DEFERRED",
        seconds=500,
        detail="order budget used up",
    )
    view = (await levels_for(user, [pid]))[pid]
    assert view.trailing and view.trail_best == D("99500.5")
    assert [(s.reason, s.outcome) for s in view.history][-2:] == [("TRAIL", "MOVED"), ("TRAIL", "DEFERRED")]
    assert view.history[-1].detail == "order budget used up"
    # a break-even that failed is not a break-even
    other = await add_position(user, market="ETH-USD")
    await add_move(user, other, "BREAK_EVEN", "96000", "97262", outcome="FAILED")
    assert not (await levels_for(user, [other]))[other].break_even


async def test_positions_without_a_readable_plan_are_left_out(db_url: str) -> None:
    user = await make_user(6)
    single = await add_position(user, plan=None)
    await add_order(user, single, "TAKE_PROFIT", "UNTRIGGERED", trigger_price=D("99000"))
    broken = [
        await add_position(user, plan=text, market=market)
        for text, market in (
            ("{not json", "ETH-USD"),
            ('{"targets": []}', "SOL-USD"),
            ('{"targets": ["97500", "lots"]}', "DOGE-USD"),
            ('["97500"]', "LINK-USD"),
        )
    ]
    assert await levels_for(user, [single, *broken]) == {}
    assert await levels_for(user, []) == {}
    assert parse_plan('{"targets": ["1"], "kind": 7, "be_after_tp": true}').kind is None  # type: ignore[union-attr]


async def test_a_dashboard_of_positions_in_two_queries(db_url: str) -> None:
    user = await make_user(7)
    ids = [await scaled_after_tp1(user, market=m) for m in ("BTC-USD", "ETH-USD", "SOL-USD", "LINK-USD")]
    with selects() as seen:
        views = await levels_for(user, ids)
    assert set(views) == set(ids) and len(seen) == 2, seen


async def test_position_views_carry_the_scale_as_json_on_the_grid(db_url: str) -> None:
    user = await make_user(8)
    pid = await scaled_after_tp1(user, trail_best=D("99500.5"))
    single = await add_position(user, plan=None, market="ETH-USD")
    views = {v.id: v for v in await manual.views_of(await _rows(user))}
    assert views[single].scale is None and views[single].to_json()["scale"] is None
    scale = views[pid].to_json()["scale"]
    assert isinstance(scale, dict)
    assert scale["stop"] == "97262.0" and scale["trail_best"] == "99500.5"
    assert scale["levels"] == [
        {"n": 1, "price": "97500.0", "size": "0.005", "filled": "0.005", "state": "filled"},
        {"n": 2, "price": "99000.0", "size": "0.005", "filled": "0.000", "state": "waiting"},
    ]
    assert [(h["from"], h["to"], h["reason"]) for h in scale["history"]] == [
        (None, "96000.0", "INITIAL"),
        ("96000.0", "97262.0", "BREAK_EVEN"),
    ]
    assert scale["history"][1]["at"].startswith("2026-03-02T12:01:07")
    # targets as the trader gave them (a tp_pct list would be percents), the level prices on the tick
    assert scale["plan"]["targets"] == ["97500", "99000"] and scale["plan"]["trail_pct"] == "1"
    assert scale["plan"]["prices"] == ["97500.0", "99000.0"]


async def _rows(user: str) -> list[Position]:
    async with session_scope() as session:
        return list((await session.exec(select(Position).where(Position.user_address == user))).all())


def test_a_plan_as_the_engine_stores_it_reads_back_with_its_fixed_prices() -> None:
    """The engine stores the plan's values as strings and adds each level's price and size fixed at
    the fill: percents are not prices, and a trailing-only plan (no target) still has a view."""
    stored = (
        '{"kind":"tp_pct","targets":["0.05","0.4"],"split":["50","50"],"be_after_tp":"1",'
        '"trail_pct":"0.1","trail_after_tp":"1","prices":["65033","65260"],"sizes":["0.0153","0.0154"]}'
    )
    plan = parse_plan(stored)
    assert plan is not None
    assert (plan.be_after_tp, plan.trail_after_tp) == (1, 1)
    assert plan.level_prices == (Decimal("65033"), Decimal("65260"))
    trailing = parse_plan('{"kind":null,"targets":[],"split":[],"trail_pct":"1","trail_after_tp":"0"}')
    assert trailing is not None and trailing.level_prices == () and trailing.trail_after_tp == 0
    assert parse_plan('{"kind":"tp","targets":[],"split":[]}') is None  # nothing beyond a plain position
