"""Whole numbers typed by people or sent by clients: ASCII digits only, one rule for every layer.

Python's `int()` accepts `٣`, `３`, `1_000`, ` 7 ` and `+7`, and `str.isdigit()` is true for `²`,
which `int()` then refuses with a ValueError nobody expected. Form fields, path parameters,
query strings and settings all go through `ascii_int`, so a strange digit is a clear
"not a whole number" everywhere instead of a crash in one place and a silent accept in another.
"""

from __future__ import annotations

__all__ = ["ascii_int"]

_DIGITS = frozenset("0123456789")
_MAX_LENGTH = 30  # above any id or count we take; bounds the work int() does on hostile input


def ascii_int(text: str | None, low: int, high: int | None) -> int | None:
    """`text` as an int in [low, high] (no upper bound when `high` is None), or None.

    Args:
        text: The text as received (not stripped: callers strip form input themselves).
        low: Smallest accepted value.
        high: Largest accepted value, or None for no bound.

    Returns:
        The value, or None when `text` is empty, longer than 30 characters, holds anything but the
        ASCII digits 0-9 (no sign, space, underscore or other script's digits) or is out of range.
    """
    if not text or len(text) > _MAX_LENGTH or not set(text) <= _DIGITS:
        return None
    value = int(text)
    if value < low or (high is not None and value > high):
        return None
    return value
