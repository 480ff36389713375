"""The one whole-number rule (domain/numbers.py): ASCII digits in range, nothing else."""

from __future__ import annotations

import pytest

from trading_app.domain.numbers import ascii_int


@pytest.mark.parametrize(
    ("text", "low", "high", "expected"),
    [
        ("0", 0, None, 0),
        ("42", 1, 100, 42),
        ("007", 1, 100, 7),
        ("9" * 30, 0, None, int("9" * 30)),
        ("9" * 31, 0, None, None),  # longer than any id: refused before int() works on it
        ("0", 1, None, None),
        ("101", 1, 100, None),
        ("", 0, None, None),
        (None, 0, None, None),
        (" 7", 0, None, None),
        ("+7", 0, None, None),
        ("-7", -10, None, None),
        ("1_000", 0, None, None),
        ("1.0", 0, None, None),
        ("\u00b2", 0, None, None),  # superscript two: str.isdigit() says yes, int() raises
        ("\u0663", 0, None, None),  # Arabic-Indic three: int() says 3
        ("\uff11\uff12", 0, None, None),  # fullwidth 12: int() says 12
        ("\U0001d7d9", 0, None, None),  # mathematical double-struck one
    ],
)
def test_ascii_int(text: str | None, low: int, high: int | None, expected: int | None) -> None:
    assert ascii_int(text, low, high) == expected
