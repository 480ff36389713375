"""What the trader sent: the `action` and `market` of an alert body exactly as written.

The alert log names an alert by what the trader typed (`xyzcea`, `BINANCE:BTCUSDT.P`), not only by
the ticker it was normalised to: that is what they look for, and a rejected alert has no
normalised ticker at all. Read from the stored (masked) body; anything unreadable is None.
"""

from __future__ import annotations

import json

__all__ = ["MAX_SHOWN", "sent_fields"]

MAX_SHOWN = 40  # characters of a sent value shown; longer ones are cut with an ellipsis


def _shown(value: object) -> str | None:
    if isinstance(value, bool) or not isinstance(value, str | int | float):
        return None
    text = " ".join(str(value).split())  # no line breaks or runs of spaces in a table cell
    if not text:
        return None
    return text if len(text) <= MAX_SHOWN else text[: MAX_SHOWN - 1] + "…"


def sent_fields(body: str | None) -> tuple[str | None, str | None]:
    """The (action, market) of a stored alert body as the trader wrote them.

    Args:
        body: The stored body text (secrets masked); JSON object or not.

    Returns:
        Each value as written (whitespace collapsed, at most MAX_SHOWN characters), or None when
        the body is not a JSON object or the field is missing or not a scalar.
    """
    try:
        data = json.loads(body or "")
    except (ValueError, RecursionError):
        return None, None
    if not isinstance(data, dict):
        return None, None
    return _shown(data.get("action")), _shown(data.get("market"))
