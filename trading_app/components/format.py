"""Display text for money, prices, sizes and times. Pure: Decimal in, text out, no float.

The pages turn service results into rows of strings with these, so the browser never
receives a float for money and every page rounds the same way: prices on the market's tick,
sizes on its step (`number(value, grid)`), money in cents.
"""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import ROUND_HALF_EVEN, Decimal

from trading_app.domain.quantize import on_grid_nearest

DASH = "—"
_CENT = Decimal("0.01")


def money(value: Decimal | None, *, signed: bool = False) -> str:
    """`$1,234.56`, `-$12.30`, with `signed` also `+$12.30`; "—" when unknown."""
    if value is None:
        return DASH
    cents = value.quantize(_CENT, rounding=ROUND_HALF_EVEN)
    text = f"${abs(cents):,.2f}"
    if cents < 0:
        return "-" + text
    return ("+" + text) if signed and cents > 0 else text


def number(value: Decimal | None, grid: Decimal | None = None) -> str:
    """A price on its tick or a size on its step, with the grid's decimals: `3,000.0` on a 0.1 tick,
    `0.010` on a 0.001 step; "—" when unknown.

    Without a grid (a position recorded before its market's grid was) the value is shown exactly as
    stored, without exponent or trailing zeros: `3,000.5`.
    """
    if value is None:
        return DASH
    if grid is not None and grid > 0:
        return format(on_grid_nearest(value, grid), ",f")
    text = format(value.normalize(), ",f") if value != 0 else "0"
    return text


def percent(value: Decimal | None) -> str:
    """`62.5%` (one decimal); "—" when unknown."""
    if value is None:
        return DASH
    return f"{value.quantize(Decimal('0.1'), rounding=ROUND_HALF_EVEN)}%"


def tone(value: Decimal | None) -> str:
    """How to colour a PnL: "up", "down", "flat" or "none" (unknown)."""
    if value is None:
        return "none"
    cents = value.quantize(_CENT, rounding=ROUND_HALF_EVEN)
    return "up" if cents > 0 else "down" if cents < 0 else "flat"


def when(moment: datetime | None) -> str:
    """`2025-01-31 14:05:03 UTC`; "—" for never."""
    if moment is None:
        return DASH
    if moment.tzinfo is not None:
        moment = moment.astimezone(UTC)
    return moment.strftime("%Y-%m-%d %H:%M:%S UTC")


def age(since: datetime, now: datetime) -> str:
    """How long ago, in the two largest units: `45s`, `12m`, `3h 5m`, `2d 4h`."""
    seconds = max(0, int((now - since).total_seconds()))
    days, rest = divmod(seconds, 86_400)
    hours, rest = divmod(rest, 3_600)
    minutes, secs = divmod(rest, 60)
    if days:
        return f"{days}d {hours}h"
    if hours:
        return f"{hours}h {minutes}m"
    if minutes:
        return f"{minutes}m"
    return f"{secs}s"


def label(value: str | None) -> str:
    """An enum value for people: `TAKE_PROFIT` -> `Take profit`; "—" when missing."""
    if not value:
        return DASH
    return value.replace("_", " ").capitalize()
