"""Stops and targets from the fill: the relative levels measured again from the average fill.

An alert gives each level either as a price (`sl`, `tp`) or relative to the entry (`sl_pct`,
`tp_pct`, `rr`), and the intent carries which (`intents.LevelPlan`). Before the trade only a
reference price is known (the oracle for a market entry, the limit price for a limit one), and
`build_intent` checks and sizes with levels measured from it. Once the entry has filled, the
relative levels are measured again from the actual average fill, so a 1 % stop is 1 % from what
the trader paid and a 2:1 target is twice the real risk. Absolute prices are never moved.

Risk-percent sizing keeps the planned stop: the size had to be decided before the fill. A fill
that slipped moves a percent stop with it, so the distance to the stop stays the planned percent
of the fill; an absolute stop stays put, so slippage adds to the loss at that stop.
"""

from __future__ import annotations

import json
from decimal import Decimal, InvalidOperation

from trading_app.domain.enums import PositionSide
from trading_app.domain.intents import LevelPlan
from trading_app.domain.risk import protection_levels

__all__ = ["levels_from_fill", "stored_plan"]

_LEVEL_FIELDS = ("sl", "sl_pct", "tp", "tp_pct", "rr")


def stored_plan(parsed_json: str | None, default_sl_pct: Decimal | None = None) -> LevelPlan:
    """The level plan of a stored alert (`signals.parsed`: a JSON object of strings).

    Args:
        parsed_json: The `signals.parsed` text; a missing or unreadable value counts as not given.
        default_sl_pct: The account's default stop distance, for an alert that gave none.
    """
    try:
        data = json.loads(parsed_json or "{}")
    except ValueError:
        data = {}
    values: dict[str, Decimal | None] = {}
    for name in _LEVEL_FIELDS:
        raw = data.get(name) if isinstance(data, dict) else None
        try:
            number = Decimal(str(raw)) if raw is not None else None
        except InvalidOperation:
            number = None
        values[name] = number if number is not None and number.is_finite() else None
    return LevelPlan.of(default_sl_pct=default_sl_pct, **values)


def levels_from_fill(
    side: PositionSide,
    fill: Decimal,
    tick: Decimal,
    plan: LevelPlan,
    planned: tuple[Decimal | None, Decimal | None],
) -> tuple[Decimal | None, Decimal | None]:
    """The stop-loss and take-profit to place once the entry filled at `fill` (average price).

    Percent and reward:risk levels are measured again from the fill (a stop rounded away from
    it, a target to the nearest tick); absolute prices stay the planned ones. A level the plan
    does not name (a plan that could not be read) keeps its planned value.

    Args:
        side: The position's direction.
        fill: The entry's average fill price.
        tick: The market's tick size.
        plan: How the trader gave each level.
        planned: The (stop, target) computed before the trade, already on the tick.

    Returns:
        (stop, target) on the tick.

    Raises:
        RiskRejected: a level is on the wrong side of the fill or not a positive price (an
            absolute level the fill slipped through): it cannot be placed as asked.
    """
    if not plan.relative:
        return planned
    stop, target = protection_levels(side, fill, tick, plan)
    planned_stop, planned_target = planned
    return (
        stop if plan.has_stop else planned_stop,
        target if plan.has_target else planned_target,
    )
