"""A scaled position's display strings: its take-profit levels, the stop's badges and its history.

Pure (no I/O, no Reflex), like `views`: prices on the market's tick and sizes on its step through
`components.format.number`. A position without a plan gets nothing from here and looks as before.
"""

from __future__ import annotations

from datetime import UTC
from decimal import Decimal

from trading_app.components import format as fmt
from trading_app.services.engine.manual import PositionView
from trading_app.services.engine.scale_view import INITIAL, ScalePlan, ScaleView, StopStep

Row = dict[str, str]

TRAIL_STEPS_SHOWN = 3  # trailing moves are many: the history keeps the last few, counting the rest
_REASONS = {INITIAL: "initial", "BREAK_EVEN": "break-even", "TRAIL": "trailing", "RESIZE": "resized"}
_OUTCOMES = {"MOVED": "", "PLACING": "placing", "DEFERRED": "deferred", "FAILED": "failed"}
SCALE_KEYS = ("scaled", "plan", "levels_done", "stop", "stop_be", "stop_trail", "trail_best")
_STATE_TEXT = {"filled": "✓ filled", "part-filled": "part-filled", "re-placing": "re-placing"}


def _pct(value: Decimal) -> str:
    text = format(value.normalize(), "f") if value != 0 else "0"
    return f"{text} %"


def trail_text(plan: ScalePlan, tick: Decimal | None) -> str:
    """`trailing 1 %` or `trailing 250.0` (a distance in price); "" when the plan does not trail."""
    if plan.trail_pct is not None:
        return f"trailing {_pct(plan.trail_pct)}"
    if plan.trail is not None:
        return f"trailing {fmt.number(plan.trail, tick)}"
    return ""


def plan_text(plan: ScalePlan, tick: Decimal | None) -> str:
    """`2 targets · break-even after TP1 · trailing 1 % after TP2`."""
    count = len(plan.level_prices) or len(plan.targets)
    parts = [f"{count} target{'s' if count != 1 else ''}"] if count else ["no target"]
    if plan.be_after_tp is not None:
        parts.append(f"break-even after TP{plan.be_after_tp}")
    trail = trail_text(plan, tick)
    if trail:
        parts.append(f"{trail} after TP{plan.trail_after_tp}" if plan.trail_after_tp else trail)
    return " · ".join(parts)


def level_rows(scale: ScaleView, tick: Decimal | None, step: Decimal | None) -> list[Row]:
    """`TP1 97,500.0 · 0.005 ✓ filled`, one row per level."""
    rows = []
    for level in scale.levels:
        size = fmt.number(level.size, step)
        if level.state == "part-filled" and level.size is not None:
            state = f"{fmt.number(level.filled, step)} of {size} filled"
        else:
            state = _STATE_TEXT.get(level.state, level.state)
        rows.append(
            {
                "label": f"TP{level.n}",
                "price": fmt.number(level.price, tick),
                "size": size,
                "state": level.state,
                "state_text": state,
            }
        )
    return rows


def _step_row(step: StopStep, tick: Decimal | None) -> Row:
    moment = step.at.astimezone(UTC)
    return {
        "from": fmt.number(step.old_price, tick) if step.old_price is not None else "",
        "to": fmt.number(step.new_price, tick),
        "reason": _REASONS.get(step.reason, fmt.label(step.reason).lower()),
        "outcome": _OUTCOMES.get(step.outcome, step.outcome.lower()),
        "at": moment.strftime("%H:%M:%S"),
        "when": fmt.when(moment),
        "detail": step.detail or "",
    }


def history_rows(scale: ScaleView, tick: Decimal | None, keep: int = TRAIL_STEPS_SHOWN) -> list[Row]:
    """The stop's history, oldest first: `96,000.0 → 97,262.0 break-even 12:01:07`.

    Trailing moves are collapsed to the last `keep`; the earlier ones become one line ("5 earlier
    trailing moves") in their place, so the history stays a few lines long.
    """
    trails = [i for i, step in enumerate(scale.history) if step.reason == "TRAIL"]
    hidden = set(trails[:-keep] if keep > 0 else trails)
    rows: list[Row] = []
    told_hidden = False
    for i, step in enumerate(scale.history):
        if i not in hidden:
            rows.append(_step_row(step, tick))
        elif not told_hidden:
            told_hidden = True
            n = len(hidden)
            rows.append(
                {
                    "from": "",
                    "to": "",
                    "reason": f"{n} earlier trailing move{'s' if n != 1 else ''}",
                    "outcome": "",
                    "at": "",
                    "when": "",
                    "detail": "",
                }
            )
    return rows


def scale_fields(view: PositionView) -> Row:
    """What a scaled position adds to its open row (`views.open_row`); the same keys, empty, without a
    plan (the page tests them, and a missing key would read as set).

    The Take profit column shows the next level still to fill; the stop its badges.
    """
    scale = view.scale
    if scale is None:
        return dict.fromkeys(SCALE_KEYS, "")
    tick = view.tick_size
    upcoming = [lv for lv in scale.levels if lv.state != "filled" and lv.state != "cancelled"]
    return {
        "scaled": "1",
        "tp": fmt.number(upcoming[0].price, tick) if upcoming else fmt.DASH,
        "plan": plan_text(scale.plan, tick),
        "levels_done": f"{scale.filled_levels}/{len(scale.levels)} filled",
        "stop": fmt.number(scale.stop, tick),
        "stop_be": "break-even" if scale.break_even else "",
        "stop_trail": trail_text(scale.plan, tick) if scale.trailing else "",
        "trail_best": f"best {fmt.number(scale.trail_best, tick)}" if scale.trailing else "",
    }
