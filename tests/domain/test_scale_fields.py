"""The scale-out fields of the alert format: lists of targets, split, break-even and trailing."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from decimal import Decimal as D
from typing import Any

import pytest

from trading_app.domain.errors import InvalidSignal
from trading_app.domain.signals import ParsedSignal, parse_signal

NOW = datetime(2024, 5, 1, 12, 0, 0, tzinfo=UTC)


def parse(**fields: Any) -> ParsedSignal:
    body = {"action": "buy", "market": "BTC-USD", "sl_pct": 1, **fields}
    return parse_signal(body, now=NOW, max_lag_seconds=None)


def problems(**fields: Any) -> list[str]:
    with pytest.raises(InvalidSignal) as e:
        parse(**fields)
    return e.value.details


def test_the_issues_example_parses_into_every_field() -> None:
    signal = parse(tp_pct=[1, 3], tp_split=[50, 50], be_after_tp=1, trail_pct=1, trail_after_tp=1)
    assert signal.tp_pct == D(1) and signal.tp_more == (D(3),)
    assert signal.tp_split == (D(50), D(50))
    assert signal.be_after_tp == 1 and signal.trail_pct == D(1) and signal.trail_after_tp == 1
    assert signal.trail is None and signal.tp is None and signal.rr is None


def test_a_scalar_target_parses_exactly_as_before() -> None:
    signal = parse(tp_pct=2)
    assert signal.tp_pct == D(2)
    assert (signal.tp_more, signal.tp_split, signal.be_after_tp) == ((), (), None)
    assert (signal.trail_pct, signal.trail, signal.trail_after_tp) == (None, None, None)
    assert signal.to_dict() == {
        "action": "long",
        "market": "BTC-USD",
        "order_type": "MARKET",
        "sl_pct": "1",
        "tp_pct": "2",
    }


def test_a_list_of_one_is_the_scalar() -> None:
    assert parse(tp_pct=["2"]) == parse(tp_pct=2)
    assert parse(rr=[2]) == parse(rr=2)
    assert parse(tp=[70000]) == parse(tp=70000)


def test_lists_of_every_kind_and_numeric_strings() -> None:
    assert parse(rr=["1", 2.5, "4"]).tp_more == (D("2.5"), D(4))
    assert parse(tp=[70000, 72000, 71000, 75000]).tp_more == (D(72000), D(71000), D(75000))  # order: risk
    assert parse(tp_pct=[1, 2], tp_split=["25.5", 74.5]).tp_split == (D("25.5"), D("74.5"))


def test_a_trail_starts_at_once_unless_told() -> None:
    assert parse(trail_pct=1).trail_after_tp == 0
    assert parse(trail="150.5", tp_pct=[1, 2], trail_after_tp="2").trail == D("150.5")
    assert parse(trail=10, trail_after_tp=0).trail_after_tp == 0  # no target: trailing only


def test_to_dict_keeps_level_one_under_its_name_and_lists_the_rest() -> None:
    signal = parse(rr=[1, 2, 3], tp_split=[20, 30, 50], be_after_tp=2, trail=25, trail_after_tp=3)
    stored = signal.to_dict()
    assert (
        stored["rr"] == "1" and stored["tp_more"] == ["2", "3"] and stored["tp_split"] == ["20", "30", "50"]
    )
    assert (stored["be_after_tp"], stored["trail"], stored["trail_after_tp"]) == ("2", "25", "3")
    assert ParsedSignal.from_dict(json.loads(json.dumps(stored))) == signal


@pytest.mark.parametrize(
    ("fields", "message"),
    [
        ({"tp_pct": [1, 2, 3, 4, 5]}, "tp_pct: at most 4 levels"),
        ({"tp_pct": []}, "tp_pct: give at least one level"),
        ({"tp_pct": [3, 1]}, "tp_pct: levels must increase (3, 1)"),
        ({"rr": [2, 2]}, "rr: levels must increase (2, 2)"),
        ({"tp_pct": [1, "x"]}, "tp_pct: level 2: 'x' is not a number"),
        ({"tp_pct": [1, -1]}, "tp_pct: level 2: must be greater than 0, got -1"),
        ({"tp_pct": [1, 3], "tp_split": [50, 40]}, "tp_split: must sum to 100, got 90"),
        ({"tp_pct": [1, 3], "tp_split": [100]}, "tp_split: 1 parts for 2 take-profit levels"),
        ({"tp_pct": [1, 3], "tp_split": [100, 0]}, "tp_split: part 2: must be greater than 0, got 0"),
        ({"tp_pct": 2, "tp_split": [50, 50]}, "tp_split: needs a list of take-profit levels"),
        ({"tp_split": [100]}, "tp_split: needs a list of take-profit levels"),
        ({"tp_pct": [1, 3], "be_after_tp": 3}, "be_after_tp: there are only 2 take-profit levels"),
        ({"tp_pct": 2, "be_after_tp": 2}, "be_after_tp: there is only 1 take-profit level"),
        ({"tp_pct": [1, 3], "be_after_tp": 0}, "be_after_tp: must be a whole number from 1 to 2, got 0"),
        ({"tp_pct": [1, 3], "be_after_tp": 1.5}, "be_after_tp: must be a whole number from 1 to 2, got 1.5"),
        (
            {"tp_pct": [1, 3], "be_after_tp": True},
            "be_after_tp: must be a whole number from 1 to 2, got True",
        ),
        ({"be_after_tp": 1}, "be_after_tp: needs take-profit levels (tp, tp_pct or rr)"),
        ({"trail_pct": 1, "trail": 5}, "trail_pct, trail: give at most one"),
        ({"trail_pct": 100}, "trail_pct: must be below 100 (percent), got 100"),
        ({"trail": 0}, "trail: must be greater than 0, got 0"),
        ({"trail_after_tp": 1}, "trail_after_tp: needs trail_pct or trail"),
        (
            {"tp_pct": [1, 2], "trail_pct": 1, "trail_after_tp": 3},
            "trail_after_tp: there are only 2 take-profit levels",
        ),
        ({"trail_pct": 1, "trail_after_tp": 1}, "trail_after_tp: there are no take-profit levels"),
        (
            {"trail_pct": 1, "trail_after_tp": "-1"},
            "trail_after_tp: must be a whole number from 0 to 0, got '-1'",
        ),
    ],
)
def test_every_problem_names_its_field(fields: dict[str, Any], message: str) -> None:
    assert problems(**fields) == [message]


def test_break_even_and_trailing_need_a_stop_in_the_alert() -> None:
    body = {"action": "buy", "market": "BTC-USD", "tp_pct": [1, 2], "be_after_tp": 1, "trail_pct": 1}
    with pytest.raises(InvalidSignal) as e:
        parse_signal(body, now=NOW, max_lag_seconds=None)
    assert e.value.details == [
        "be_after_tp: needs sl or sl_pct (the stop is what moves to break-even)",
        "trail_pct: needs sl or sl_pct (the trailing stop is the stop-loss, moved)",
    ]


def test_combinations_of_targets_are_still_refused_with_lists() -> None:
    assert problems(tp_pct=[1, 2], rr=[1, 2]) == ["rr: cannot be combined with tp or tp_pct"]
    assert "tp, tp_pct: give at most one" in problems(tp=[70000], tp_pct=[1])


def test_every_problem_is_reported_at_once() -> None:
    found = problems(tp_pct=2, tp_split=[50, 50], trail=-1, trail_after_tp=9, be_after_tp="x")
    assert found == [
        "tp_split: needs a list of take-profit levels",
        "be_after_tp: must be a whole number from 1 to 1, got 'x'",
        "trail: must be greater than 0, got -1",
        "trail_after_tp: there is only 1 take-profit level",
    ]


def test_a_broken_target_is_the_one_problem_reported_about_levels() -> None:
    # counting levels of a list that did not parse would only add noise
    found = problems(tp_pct=[3, 1], tp_split=[50, 40], be_after_tp=2, trail_pct=1, trail_after_tp=2)
    assert found == ["tp_pct: levels must increase (3, 1)"]
