"""A scaled position on the dashboard: its levels, stop badges and history as text on the grid."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime, timedelta
from decimal import Decimal as D

from trading_app.pages import scale_rows, views
from trading_app.services.engine.manual import PositionView
from trading_app.services.engine.scale_view import LevelView, ScalePlan, ScaleView, StopStep

T0 = datetime(2026, 3, 2, 12, 0, tzinfo=UTC)
PLAN = ScalePlan(
    "tp", (D("97500"), D("99000")), (D("50"), D("50")), be_after_tp=1, trail_pct=D("1.0"), trail_after_tp=2
)


def _scale(**changes: object) -> ScaleView:
    base = ScaleView(
        plan=PLAN,
        levels=(
            LevelView(1, D("97500"), D("0.005"), D("0.005"), "filled"),
            LevelView(2, D("99000.04"), D("0.005"), D("0"), "waiting"),
        ),
        stop=D("97262.01"),
        break_even=True,
        trailing=False,
        trail_best=None,
        history=(
            StopStep(T0, None, D("96000"), "INITIAL", "MOVED"),
            StopStep(T0 + timedelta(seconds=67), D("96000"), D("97262"), "BREAK_EVEN", "MOVED"),
        ),
        tick_size=D("0.1"),
        step_size=D("0.001"),
    )
    return replace(base, **changes)  # type: ignore[arg-type]


def _view(scale: ScaleView | None) -> PositionView:
    return PositionView(
        id=7, network="paper", market="BTC-USD", side="LONG", size=D("0.005"), entry_price=D("97262"),
        mark_price=D("98000"), unrealized_pnl=D("3.69"), tp_price=D("99000"), sl_price=D("97262"),
        status="OPEN", opened_at=T0, closed_at=None, exit_price=None, realized_pnl=None, fees=D("0"),
        close_reason=None, tick_size=D("0.1"), step_size=D("0.001"), scale=scale,
    )  # fmt: skip


def test_levels_read_as_the_trader_says_them() -> None:
    rows = scale_rows.level_rows(_scale(), D("0.1"), D("0.001"))
    assert [f"{r['label']} {r['price']} · {r['size']} {r['state_text']}" for r in rows] == [
        "TP1 97,500.0 · 0.005 ✓ filled",
        "TP2 99,000.0 · 0.005 waiting",
    ]
    part = _scale(levels=(LevelView(1, D("97500"), D("0.005"), D("0.002"), "part-filled"),
                          LevelView(2, D("99000"), None, D("0"), "waiting")))  # fmt: skip
    rows = scale_rows.level_rows(part, D("0.1"), D("0.001"))
    assert [r["state_text"] for r in rows] == ["0.002 of 0.005 filled", "waiting"]
    assert rows[1]["size"] == "—"  # no order yet: the size is not known


def test_the_stop_history_on_the_tick_with_its_reasons_and_times() -> None:
    rows = scale_rows.history_rows(_scale(), D("0.1"))
    assert [(r["from"], r["to"], r["reason"], r["at"], r["outcome"]) for r in rows] == [
        ("", "96,000.0", "initial", "12:00:00", ""),
        ("96,000.0", "97,262.0", "break-even", "12:01:07", ""),
    ]
    assert rows[1]["when"] == "2026-03-02 12:01:07 UTC"


def test_trailing_moves_collapse_to_the_last_few() -> None:
    trail = [
        StopStep(T0 + timedelta(minutes=m), D(97262 + m - 1), D(97262 + m), "TRAIL", "MOVED")
        for m in range(1, 8)
    ]
    late = StopStep(T0 + timedelta(minutes=9), D("97269"), D("97300"), "TRAIL", "DEFERRED", "order budget")
    scale = _scale(history=(*_scale().history, *trail, late), trailing=True, trail_best=D("98300.04"))
    rows = scale_rows.history_rows(scale, D("0.1"))
    assert [r["reason"] for r in rows] == [
        "initial", "break-even", "5 earlier trailing moves", "trailing", "trailing", "trailing"
    ]  # fmt: skip
    assert (rows[-1]["to"], rows[-1]["outcome"], rows[-1]["detail"]) == (
        "97,300.0",
        "deferred",
        "order budget",
    )
    assert rows[-2]["to"] == "97,269.0"
    fields = scale_rows.scale_fields(_view(scale))
    assert (fields["stop_be"], fields["stop_trail"], fields["trail_best"]) == (
        "break-even",
        "trailing 1 %",
        "best 98,300.0",
    )


def test_the_open_row_of_a_scaled_position_and_of_a_single_target() -> None:
    scaled = {**views.open_row(_view(_scale()), T0), **scale_rows.scale_fields(_view(_scale()))}
    assert scaled["scaled"] == "1" and scaled["tp"] == "99,000.0"  # the next level still to fill
    assert (scaled["stop"], scaled["levels_done"]) == ("97,262.0", "1/2 filled")
    assert scaled["plan"] == "2 targets · break-even after TP1 · trailing 1 % after TP2"
    assert (scaled["stop_be"], scaled["stop_trail"]) == ("break-even", "")  # not trailing yet
    single = {**views.open_row(_view(None), T0), **scale_rows.scale_fields(_view(None))}
    assert single == {**views.open_row(_view(None), T0), **dict.fromkeys(scale_rows.SCALE_KEYS, "")}
    assert single["tp"] == "99,000.0" and single["scaled"] == ""


def test_plan_text_of_a_trailing_distance() -> None:
    plan = ScalePlan("rr", (D("2"),), (D("100"),), trail=D("250"))
    assert scale_rows.plan_text(plan, D("0.1")) == "1 target · trailing 250.0"
