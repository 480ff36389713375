"""The scale-out fields of an alert: several take-profit levels, their split, break-even and trailing.

Validated here, for `domain.signals.parse_signal`, so the alert format stays readable:

- `tp`, `tp_pct` or `rr` may be a list of up to 4 levels (a list of one is the scalar); `tp_pct` and
  `rr` levels must strictly increase (each further from the entry). Absolute `tp` levels are checked
  in `domain.risk`, where the side is known;
- `tp_split`: percent of the position per level, one part per level, summing to exactly 100;
  absent means equal parts;
- `be_after_tp`: after level N fills, the stop moves to break-even (1..levels; needs `sl`/`sl_pct`);
- `trail_pct` or `trail` (a price distance): a trailing stop, which is the stop-loss moved, so it
  needs `sl`/`sl_pct` in the alert (the account's default stop does not count: a trailing stop
  should never appear on an alert that did not ask for a stop);
- `trail_after_tp`: 0 (from the start, the default with a trail) up to the number of levels.

Every problem is reported with the field's name, like the rest of the format.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from decimal import Decimal, InvalidOperation

__all__ = ["MAX_LEVELS", "TARGET_FIELDS", "parse_scale_fields"]

MAX_LEVELS = 4
TARGET_FIELDS = ("tp", "tp_pct", "rr")
_HUNDRED = Decimal(100)
_MAX_WHOLE = 99  # bounds the work on hostile input; no real level count comes near it

# (value, field name) -> the positive Decimal, or the reason it is not one (signals._positive)
Positive = Callable[[object, str], "Decimal | str"]


def _whole(value: object) -> int | None:
    """`value` as a whole number 0..99 (JSON number or digits), or None."""
    if isinstance(value, bool) or not isinstance(value, int | str | Decimal | float):
        return None
    text = str(value).strip()
    if not text or len(text) > 24:
        return None
    try:
        number = Decimal(text)
    except InvalidOperation:
        return None
    if not number.is_finite() or number != number.to_integral_value() or not 0 <= number <= _MAX_WHOLE:
        return None
    return int(number)


def _levels_word(levels: int) -> str:
    if levels == 0:
        return "there are no take-profit levels"
    if levels == 1:
        return "there is only 1 take-profit level"
    return f"there are only {levels} take-profit levels"


def _targets(
    data: Mapping[str, object], positive: Positive, values: dict[str, object], errors: list[str]
) -> tuple[int | None, bool]:
    """Parse the target field(s); returns (number of levels, None when a target was invalid:
    the checks that count levels are skipped then; whether the target was a list)."""
    levels: int | None = 0
    listed = False
    for name in TARGET_FIELDS:
        if name not in data:
            continue
        raw = data[name]
        items = list(raw) if isinstance(raw, list | tuple) else [raw]
        is_list = isinstance(raw, list | tuple)
        if not items or len(items) > MAX_LEVELS:
            errors.append(
                f"{name}: give at least one level" if not items else f"{name}: at most {MAX_LEVELS} levels"
            )
            levels = None
            continue
        numbers: list[Decimal] = []
        for index, item in enumerate(items, start=1):
            number = positive(item, name)
            if isinstance(number, str):
                errors.append(f"{name}: level {index}: {number}" if is_list else f"{name}: {number}")
            else:
                numbers.append(number)
        if len(numbers) != len(items):
            levels = None
            continue
        if name != "tp" and any(b <= a for a, b in zip(numbers, numbers[1:], strict=False)):
            errors.append(f"{name}: levels must increase ({', '.join(str(n) for n in numbers)})")
            levels = None
            continue
        values[name] = numbers[0]
        if len(numbers) > 1:
            values["tp_more"] = tuple(numbers[1:])
        if levels == 0:  # a second target field is a combination error reported elsewhere
            levels, listed = len(numbers), is_list
    return levels, listed


def _split(
    raw: object,
    levels: int | None,
    listed: bool,
    positive: Positive,
    values: dict[str, object],
    errors: list[str],
) -> None:
    parts_raw = list(raw) if isinstance(raw, list | tuple) else [raw]
    if levels is None:
        return  # the target's own problem is reported
    if levels == 0 or (not listed and len(parts_raw) != 1):
        errors.append("tp_split: needs a list of take-profit levels")
        return
    parts: list[Decimal] = []
    for index, item in enumerate(parts_raw, start=1):
        number = positive(item, "tp_split")
        if isinstance(number, str):
            errors.append(f"tp_split: part {index}: {number}")
            return
        parts.append(number)
    if len(parts) != levels:
        errors.append(f"tp_split: {len(parts)} parts for {levels} take-profit levels")
        return
    total = sum(parts, Decimal(0))
    if total != _HUNDRED:
        errors.append(f"tp_split: must sum to 100, got {total}")
        return
    values["tp_split"] = tuple(parts)


def _after(name: str, raw: object, low: int, levels: int | None, errors: list[str]) -> int | None:
    number = _whole(raw)
    if number is None or number < low:
        top = f" to {max(levels, low)}" if levels is not None else ""
        errors.append(f"{name}: must be a whole number from {low}{top}, got {raw!r:.40}")
        return None
    if levels is None:
        return None  # the target's own problem is reported
    if number > levels:
        errors.append(f"{name}: {_levels_word(levels)}")
        return None
    return number


def parse_scale_fields(data: Mapping[str, object], positive: Positive) -> tuple[dict[str, object], list[str]]:
    """Validate the target and scale-out fields of a decoded alert (absent and `null` keys removed).

    Args:
        data: The alert's fields.
        positive: The format's positive-number check (`signals._positive`), so a level is
            read exactly like any other number of the alert.

    Returns:
        (values for `ParsedSignal`: the first level under its own name, `tp_more`, `tp_split`,
        `be_after_tp`, `trail_pct` / `trail`, `trail_after_tp`; the problems found).
    """
    values: dict[str, object] = {}
    errors: list[str] = []
    levels, listed = _targets(data, positive, values, errors)
    has_stop = "sl" in data or "sl_pct" in data
    if "tp_split" in data:
        _split(data["tp_split"], levels, listed, positive, values, errors)
    if "be_after_tp" in data:
        if not has_stop:
            errors.append("be_after_tp: needs sl or sl_pct (the stop is what moves to break-even)")
        elif levels == 0:
            errors.append("be_after_tp: needs take-profit levels (tp, tp_pct or rr)")
        else:
            number = _after("be_after_tp", data["be_after_tp"], 1, levels, errors)
            if number is not None:
                values["be_after_tp"] = number
    trails = [name for name in ("trail_pct", "trail") if name in data]
    if len(trails) > 1:
        errors.append("trail_pct, trail: give at most one")
    for name in trails:
        distance = positive(data[name], name)
        if isinstance(distance, str):
            errors.append(f"{name}: {distance}")
        elif name == "trail_pct" and distance >= _HUNDRED:
            errors.append(f"trail_pct: must be below 100 (percent), got {distance}")
        elif not has_stop:
            errors.append(f"{name}: needs sl or sl_pct (the trailing stop is the stop-loss, moved)")
        else:
            values[name] = distance
    if "trail_after_tp" in data:
        if not trails:
            errors.append("trail_after_tp: needs trail_pct or trail")
        else:
            number = _after("trail_after_tp", data["trail_after_tp"], 0, levels, errors)
            if number is not None:
                values["trail_after_tp"] = number
    elif trails:
        values["trail_after_tp"] = 0  # from the start
    return values, errors
