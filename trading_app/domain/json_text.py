"""Decoding untrusted JSON text: exact numbers, bounded nesting, text every database accepts.

Alert bodies (up to 64 KiB, part of them before authentication) and the stored copies of them are
decoded here and nowhere else, so the inbox, the masking and the pages agree on what a body is.
"""

from __future__ import annotations

import json
import re
from decimal import Decimal, InvalidOperation

__all__ = ["MAX_DEPTH", "TooDeep", "loads", "storable", "too_deep"]

MAX_DEPTH = 32  # TradingView alerts are flat; nothing legitimate nests this deep
_STRINGS = re.compile(r'"[^"\\]*(?:\\.[^"\\]*)*"?')
_NON_BRACKETS = re.compile(r"[^\[\]{}]+")


class TooDeep(ValueError):
    """Brackets nest deeper than MAX_DEPTH: the text is refused without being decoded."""


def _number(text: str) -> Decimal | float:
    try:
        return Decimal(text)
    except InvalidOperation:  # an exponent beyond Decimal's range: inf or 0, judged by parse_signal
        return float(text)


# one decoder for every body: json.loads(..., parse_float=...) would build a new one per call
_DECODER = json.JSONDecoder(parse_float=_number)


def too_deep(text: str) -> bool:
    """True when brackets outside strings nest deeper than MAX_DEPTH.

    `json.loads` recurses in C once per level, and py_ecc (imported with eth-account) raises the
    recursion limit to 100,000: 64 KiB of `[` would overflow the C stack and kill the worker
    instead of raising RecursionError. So depth is measured first, without recursion.

    Args:
        text: The text about to be decoded.

    Returns:
        Whether decoding it could recurse more than MAX_DEPTH levels.
    """
    if text.count("[") + text.count("{") <= MAX_DEPTH:
        return False  # the common case: two C-speed counts
    depth = 0
    for char in _NON_BRACKETS.sub("", _STRINGS.sub("", text)):
        depth += 1 if char in "[{" else -1
        if depth > MAX_DEPTH:
            return True
    return False


def loads(text: str) -> object:
    """Decode JSON with every number exactly as written (Decimal), nesting checked first.

    Args:
        text: Untrusted JSON text.

    Returns:
        The decoded value.

    Raises:
        TooDeep: Nested deeper than MAX_DEPTH (not decoded at all).
        ValueError: Not valid JSON (`json.JSONDecodeError`), or an integer of more than 4300 digits.
        RecursionError: Only if the depth check were bypassed; kept in callers' except clauses.
    """
    if too_deep(text):
        raise TooDeep(f"JSON nested deeper than {MAX_DEPTH} levels")
    return _DECODER.decode(text)


def storable(text: str) -> str:
    """Text every database accepts: no NUL characters, no lone surrogates.

    Args:
        text: Any text, e.g. a decoded body or a reason built from one.

    Returns:
        The text with NUL replaced by U+FFFD and lone surrogates by `?`.
    """
    return text.replace("\x00", "\ufffd").encode("utf-8", "replace").decode("utf-8")
