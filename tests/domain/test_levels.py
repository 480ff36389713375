"""Stops and targets from the fill: percent and reward:risk levels measured from the average fill."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from decimal import Decimal as D
from typing import Any

import pytest

from trading_app.domain.enums import PositionSide
from trading_app.domain.errors import RejectReason, RiskRejected
from trading_app.domain.intents import AccountFacts, LevelPlan, RiskLimits
from trading_app.domain.levels import levels_from_fill, stored_plan
from trading_app.domain.risk import build_intent
from trading_app.domain.signals import parse_signal
from trading_app.venues.base import MarketSpec

LONG, SHORT = PositionSide.LONG, PositionSide.SHORT
TICK = D("1")
BTC = MarketSpec("BTC-USD", "ACTIVE", D("0.0001"), D("1"), D("96500"), 0, -10, 1_000_000, 100_000, -9)


def intent_for(**fields: Any) -> Any:
    body = {"action": "buy", "market": "BTC-USD", "size": "0.01", **fields}
    parsed = parse_signal(body, now=datetime(2024, 1, 1, tzinfo=UTC), max_lag_seconds=None)
    return build_intent(parsed, BTC, RiskLimits(), AccountFacts(equity=D("100000")))


def test_the_reported_trade_gets_a_one_percent_stop_and_two_to_one_from_its_fill() -> None:
    # issue 13: planned from 96,500 before the trade, filled at 97,260.6
    intent = intent_for(sl_pct="1", rr="2")
    assert intent.stop_loss == D("95535")  # 1 % below the planned entry (what sizing used)
    fill = D("97260.6")
    stop, target = levels_from_fill(LONG, fill, TICK, intent.levels, (intent.stop_loss, intent.take_profit))
    assert stop == D("96287")  # 97,260.6 * 0.99 = 96,287.994, rounded away from the fill
    assert target is not None and stop is not None
    risk = fill - stop
    assert D("0.01") <= risk / fill < D("0.0101")  # at least 1 %, never tighter than asked
    assert target == D("99208")  # 97,260.6 + 2 * 973.6 = 99,207.8 -> nearest tick
    assert abs((target - fill) / risk - 2) < D("0.001")


def test_rr_with_an_absolute_stop_measures_the_risk_from_the_fill() -> None:
    intent = intent_for(sl="96000", rr="2")
    assert intent.levels == LevelPlan(sl=D("96000"), rr=D("2"))
    stop, target = levels_from_fill(
        LONG, D("97260.6"), TICK, intent.levels, (intent.stop_loss, intent.take_profit)
    )
    assert stop == D("96000")  # an absolute stop never moves
    assert target == D("99782")  # 97,260.6 + 2 * 1,260.6 = 99,781.8


def test_short_percent_levels_from_the_fill() -> None:
    plan = LevelPlan.of(sl_pct=D("2"), tp_pct=D("3"))
    stop, target = levels_from_fill(SHORT, D("3001.25"), D("0.1"), plan, (D("3060"), D("2910")))
    assert stop == D("3061.3")  # 3,061.275 rounded UP, away from a short's entry
    assert target == D("2911.2")  # 2,911.2125 -> nearest tick


def test_absolute_levels_are_kept_whatever_the_fill() -> None:
    plan = LevelPlan.of(sl=D("95000"), tp=D("99000"))
    assert levels_from_fill(LONG, D("97260.6"), TICK, plan, (D("95000"), D("99000"))) == (
        D("95000"),
        D("99000"),
    )


def test_a_percent_target_with_an_absolute_stop_moves_only_the_target() -> None:
    plan = LevelPlan.of(sl=D("95000"), tp_pct=D("1"))
    assert levels_from_fill(LONG, D("97000"), TICK, plan, (D("95000"), D("97965"))) == (
        D("95000"),
        D("97970"),
    )


def test_a_fill_that_slipped_through_an_absolute_stop_cannot_be_protected_as_asked() -> None:
    plan = LevelPlan.of(sl=D("97300"), rr=D("2"))
    with pytest.raises(RiskRejected) as e:
        levels_from_fill(LONG, D("97290"), TICK, plan, (D("97300"), None))
    assert e.value.reason is RejectReason.SL_WRONG_SIDE


def test_the_accounts_default_stop_is_a_percent_from_the_fill() -> None:
    plan = stored_plan(json.dumps({"action": "long", "market": "BTC-USD", "rr": "3"}), default_sl_pct=D("1"))
    assert plan == LevelPlan(sl_pct=D("1"), rr=D("3"))
    stop, target = levels_from_fill(LONG, D("100000"), TICK, plan, (D("98000"), D("106000")))
    assert (stop, target) == (D("99000"), D("103000"))


def test_stored_plan_reads_what_the_inbox_stored_and_ignores_junk() -> None:
    assert stored_plan('{"sl": "96000", "sl_pct": "1", "tp_pct": "2", "rr": "3"}') == LevelPlan(
        sl=D("96000"), tp_pct=D("2")
    )
    assert stored_plan('{"sl_pct": "nope", "rr": "NaN"}') == LevelPlan()
    assert stored_plan(None) == LevelPlan() and stored_plan("not json") == LevelPlan()
