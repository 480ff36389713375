"""Scaling out, the pure part: the plan, every level's price, the split, and the stop's moves."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from decimal import Decimal as D
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from trading_app.domain.enums import PositionSide
from trading_app.domain.errors import RejectReason, RiskRejected
from trading_app.domain.intents import LevelPlan
from trading_app.domain.levels import levels_from_fill
from trading_app.domain.scale_out import (
    STATEFUL_PER_POSITION,
    ScalePlan,
    break_even_stop,
    equal_split,
    min_step,
    plan_of,
    split_sizes,
    stored_scale_plan,
    target_prices,
    trail_stop,
    worth_moving,
)
from trading_app.domain.signals import ParsedSignal, parse_signal

LONG, SHORT = PositionSide.LONG, PositionSide.SHORT
TICK = D("0.1")


def signal(**fields: Any) -> ParsedSignal:
    body = {"action": "buy", "market": "ETH-USD", "sl_pct": 1, **fields}
    return parse_signal(body, now=datetime(2024, 1, 1, tzinfo=UTC), max_lag_seconds=None)


def plan(kind: str, *targets: str, **extra: Any) -> ScalePlan:
    values = tuple(D(t) for t in targets)
    return ScalePlan(kind, values, equal_split(len(values)), **extra)


# -- the plan ---------------------------------------------------------------------------


def test_the_issues_example_becomes_a_managed_plan() -> None:
    scale = plan_of(signal(tp_pct=[1, 3], tp_split=[50, 50], be_after_tp=1, trail_pct=1, trail_after_tp=1))
    assert scale == ScalePlan("tp_pct", (D(1), D(3)), (D(50), D(50)), 1, D(1), None, 1)
    assert scale.levels == 2 and scale.trailing and scale.managed


def test_a_single_target_is_a_plain_plan() -> None:
    scale = plan_of(signal(rr=2))
    assert scale == ScalePlan.single("rr", D(2)) == ScalePlan("rr", (D(2),), (D(100),))
    assert scale.levels == 1 and not scale.trailing and not scale.managed
    assert plan_of(signal()) == ScalePlan(None, (), ()) and not plan_of(signal()).managed


def test_trailing_alone_or_break_even_alone_is_managed() -> None:
    assert plan_of(signal(trail=5)).managed and plan_of(signal(trail=5)).trail_after_tp == 0
    assert plan_of(signal(tp_pct=2, be_after_tp=1)).managed


def test_equal_parts_sum_to_100_with_the_remainder_first() -> None:
    assert equal_split(1) == (D(100),)
    assert equal_split(2) == (D(50), D(50))
    assert equal_split(3) == (D("33.34"), D("33.33"), D("33.33"))
    assert equal_split(4) == (D(25),) * 4
    assert plan_of(signal(tp=[3100, 3200, 3300])).split == equal_split(3)


def test_json_round_trip_and_junk() -> None:
    scale = ScalePlan("tp", (D("3100.5"), D(3200)), (D("33.3"), D("66.7")), 2, None, D("12.5"), 1)
    assert ScalePlan.from_json(scale.to_json()) == scale
    plain = ScalePlan(None, (), ())
    for junk in (None, "", "[]", "{", '{"kind": "tp_pct", "targets": ["1"], "split": ["90"]}'):
        assert ScalePlan.from_json(junk) == plain


def test_inconsistent_plans_are_refused() -> None:
    with pytest.raises(ValueError, match="sum to 100"):
        ScalePlan("tp_pct", (D(1), D(2)), (D(50), D(40)))
    with pytest.raises(ValueError, match="not a level"):
        ScalePlan("tp_pct", (D(1),), (D(100),), be_after_tp=2)
    with pytest.raises(ValueError, match="trailing distance"):
        ScalePlan(None, (), (), trail_after_tp=0)
    with pytest.raises(ValueError, match="does not fit"):
        ScalePlan("pips", (D(1),), (D(100),))


def test_stored_plan_reads_what_the_inbox_stored() -> None:
    sig = signal(rr=[1, 2, 3], tp_split=[20, 30, 50], be_after_tp=2, trail="25", trail_after_tp=3)
    stored = json.dumps(sig.to_dict())
    assert stored_scale_plan(stored) == plan_of(sig)
    assert stored_scale_plan(json.dumps(signal(tp_pct=2).to_dict())) == ScalePlan.single("tp_pct", D(2))


def test_a_damaged_stored_plan_falls_back_to_its_first_level() -> None:
    data = signal(tp_pct=[1, 3], tp_split=[50, 50]).to_dict()
    assert stored_scale_plan(json.dumps({**data, "tp_split": "50"})) == ScalePlan.single("tp_pct", D(1))
    assert stored_scale_plan(json.dumps({**data, "tp_more": ["x"]})) == ScalePlan.single("tp_pct", D(1))
    assert stored_scale_plan(json.dumps({"tp": "NaN", "rr": "2"})) == ScalePlan.single("rr", D(2))
    plain = ScalePlan(None, (), ())
    assert stored_scale_plan(None) == stored_scale_plan("not json") == stored_scale_plan("[1]") == plain


# -- the levels' prices -------------------------------------------------------------------


def test_percent_levels_from_the_fill_long_and_short() -> None:
    scale = plan("tp_pct", "1", "3")
    assert target_prices(LONG, D(3000), TICK, scale, None) == (D("3030.0"), D("3090.0"))
    assert target_prices(SHORT, D(3000), TICK, scale, None) == (D("2970.0"), D("2910.0"))


def test_reward_risk_levels_use_the_stop() -> None:
    scale = plan("rr", "1", "2.5")
    assert target_prices(LONG, D(3000), TICK, scale, D(2900)) == (D("3100.0"), D("3250.0"))
    assert target_prices(SHORT, D(3000), TICK, scale, D(3100)) == (D("2900.0"), D("2750.0"))
    with pytest.raises(RiskRejected) as e:
        target_prices(LONG, D(3000), TICK, scale, None)
    assert e.value.reason is RejectReason.STOP_REQUIRED


def test_absolute_levels_stay_where_asked() -> None:
    scale = plan("tp", "3100.3", "3200")
    assert target_prices(LONG, D("3001.7"), TICK, scale, None) == (D("3100.3"), D("3200.0"))
    assert target_prices(LONG, D(3000), TICK, ScalePlan(None, (), ()), None) == ()


@pytest.mark.parametrize(
    ("side", "targets", "reason", "words"),
    [
        (LONG, ("3100", "2990"), RejectReason.TP_WRONG_SIDE, "take-profit 2 at 2990.0 is not above 3000"),
        (SHORT, ("3100",), RejectReason.TP_WRONG_SIDE, "take-profit 1 at 3100.0 is not below 3000"),
        (LONG, ("3200", "3100"), RejectReason.INVALID_PRICE, "take-profit 2 at 3100.0 is not beyond"),
        (SHORT, ("2900", "2950"), RejectReason.INVALID_PRICE, "take-profit 2 at 2950.0 is not beyond"),
    ],
)
def test_levels_on_the_wrong_side_or_out_of_order(
    side: PositionSide, targets: tuple[str, ...], reason: RejectReason, words: str
) -> None:
    with pytest.raises(RiskRejected) as e:
        target_prices(side, D(3000), TICK, plan("tp", *targets), None)
    assert e.value.reason is reason and words in e.value.detail


def test_a_level_on_the_wrong_side_names_the_entry_on_the_tick() -> None:
    with pytest.raises(RiskRejected) as e:  # before the trade: an oracle price with more digits
        target_prices(SHORT, D("3000.0449"), TICK, plan("tp", "3100"), None)
    assert e.value.detail == "a short needs take-profit 1 at 3100.0 is not below 3000.0"


def test_levels_that_round_onto_one_tick_are_out_of_order() -> None:
    with pytest.raises(RiskRejected) as e:
        target_prices(LONG, D(3000), TICK, plan("tp_pct", "1", "1.001"), None)  # 3030.0 and 3030.03
    assert e.value.reason is RejectReason.INVALID_PRICE


@pytest.mark.parametrize("side", [LONG, SHORT])
@pytest.mark.parametrize("kind", ["tp_pct", "rr"])
def test_level_one_is_what_levels_from_fill_places(side: PositionSide, kind: str) -> None:
    fill = D("3001.37")
    levels = LevelPlan(sl_pct=D("1.1"), **{kind: D("1.234")})
    stop, target = levels_from_fill(side, fill, TICK, levels, (None, None))
    prices = target_prices(side, fill, TICK, plan(kind, "1.234", "2.5"), stop)
    assert prices[0] == target


# -- the split ----------------------------------------------------------------------------


def test_split_on_the_step_sums_exactly() -> None:
    assert split_sizes(D("1.0"), (D(50), D(50)), D("0.1")) == (D("0.5"), D("0.5"))
    assert split_sizes(D("0.3"), equal_split(3), D("0.1")) == (D("0.1"), D("0.1"), D("0.1"))
    assert split_sizes(D("0.7"), (D(30), D(30), D(40)), D("0.1")) == (D("0.2"), D("0.2"), D("0.3"))


def test_a_share_below_one_step_goes_to_the_next_level() -> None:
    assert split_sizes(D("0.1"), (D(50), D(50)), D("0.1")) == (D(0), D("0.1"))
    assert split_sizes(D("0.3"), (D(10), D(10), D(80)), D("0.1")) == (D(0), D(0), D("0.3"))
    # 0.09 carried to level 2: 0.09 + 0.09 = 0.18 -> 0.1, the last takes the rest
    assert split_sizes(D("0.9"), (D(10), D(10), D(80)), D("0.1")) == (D(0), D("0.1"), D("0.8"))


def test_a_rest_below_the_minimum_goes_back_to_the_last_level_with_a_size() -> None:
    assert split_sizes(D("1.0"), (D(90), D(10)), D("0.1"), minimum=D("0.3")) == (D("1.0"), D(0))
    assert split_sizes(D("0.2"), (D(50), D(50)), D("0.1"), minimum=D("0.3")) == (D(0), D("0.2"))


def test_bad_splits_and_sizes_are_refused() -> None:
    with pytest.raises(ValueError, match="sum"):
        split_sizes(D(1), (D(50), D(40)), D("0.1"))
    with pytest.raises(ValueError, match="sum"):
        split_sizes(D(1), (), D("0.1"))
    with pytest.raises(ValueError, match="positive"):
        split_sizes(D(0), (D(100),), D("0.1"))
    with pytest.raises(RiskRejected) as e:
        split_sizes(D("1.05"), (D(100),), D("0.1"))
    assert e.value.reason is RejectReason.OFF_GRID


@settings(max_examples=300, deadline=None)
@given(
    steps=st.integers(1, 10_000),
    step=st.sampled_from([D("0.0001"), D("0.001"), D("0.1"), D(1), D(10)]),
    cuts=st.lists(st.integers(1, 99), min_size=0, max_size=3, unique=True),
    min_steps=st.integers(1, 5),
)
def test_split_invariants(steps: int, step: D, cuts: list[int], min_steps: int) -> None:
    bounds = [0, *sorted(cuts), 100]
    split = tuple(D(b - a) for a, b in zip(bounds, bounds[1:], strict=False))
    size, minimum = step * steps, step * min_steps
    sizes = split_sizes(size, split, step, minimum=minimum)
    assert len(sizes) == len(split) and sum(sizes) == size
    assert all(s == 0 or (s >= minimum and s % step == 0) for s in sizes[:-1])
    assert all(s >= 0 for s in sizes) and sizes[-1] % step == 0
    if size >= minimum:
        assert all(s == 0 or s >= minimum for s in sizes)
    if all(size * p / 100 >= 2 * minimum for p in split):
        assert all(s > 0 for s in sizes)  # nothing merged when every share is big enough


# -- moving the stop ------------------------------------------------------------------------


def test_break_even_covers_both_fees() -> None:
    # entry 3000 paid 5 bps (1.5 per unit); taker exit 5 bps
    long = break_even_stop(LONG, D(3000), D("1.5"), D("0.0005"), TICK)
    assert long == D("3003.1")  # 3001.5 / 0.9995 = 3003.0015.. rounded up
    assert long * (1 - D("0.0005")) >= D("3001.5")
    short = break_even_stop(SHORT, D(3000), D("1.5"), D("0.0005"), TICK)
    assert short == D("2997.0")  # 2998.5 / 1.0005 = 2997.0015.. rounded down
    assert short * (1 + D("0.0005")) <= D("2998.5")
    assert break_even_stop(LONG, D(3000), D(0), D(0), TICK) == D("3000.0")
    with pytest.raises(ValueError):
        break_even_stop(LONG, D(3000), D(0), D(1), TICK)


def test_trailing_stop_follows_the_best_price_rounded_away_from_it() -> None:
    pct = plan("tp_pct", "1", "3", trail_pct=D(1), trail_after_tp=1)
    assert trail_stop(LONG, D(3100), pct, TICK) == D("3069.0")
    assert trail_stop(LONG, D("3105.55"), pct, TICK) == D("3074.4")  # 3074.4945 down
    distance = ScalePlan(None, (), (), trail=D("15.05"), trail_after_tp=0)
    assert trail_stop(SHORT, D(2900), distance, TICK) == D("2915.1")  # 2915.05 up
    with pytest.raises(ValueError):
        trail_stop(LONG, D(3000), plan("tp_pct", "1"), TICK)
    with pytest.raises(RiskRejected):
        trail_stop(LONG, D(10), ScalePlan(None, (), (), trail=D(10), trail_after_tp=0), TICK)


def test_a_stop_moves_only_to_tighten_and_by_enough() -> None:
    step = min_step(plan("tp_pct", "1", trail_pct=D(1), trail_after_tp=0), D(3000), TICK)
    assert step == D("7.5")  # a quarter of 30
    assert worth_moving(LONG, D(3000), D("3007.5"), min_step=step)
    assert not worth_moving(LONG, D(3000), D("3007.4"), min_step=step)
    assert not worth_moving(LONG, D(3000), D(2990), min_step=step)
    assert worth_moving(SHORT, D(3000), D("2992.5"), min_step=step)
    assert not worth_moving(SHORT, D(3000), D(3001), min_step=step)
    assert worth_moving(LONG, None, D(2990), min_step=step)


def test_min_step_is_at_least_a_tick() -> None:
    assert min_step(ScalePlan(None, (), (), trail=D("0.2"), trail_after_tp=0), D(3000), TICK) == TICK
    assert min_step(plan("tp_pct", "1"), D(3000), TICK) == TICK


def test_stateful_orders_per_position() -> None:
    assert STATEFUL_PER_POSITION(plan("tp_pct", "1", "2", "3")) == 5
    assert STATEFUL_PER_POSITION(ScalePlan(None, (), ())) == 2
