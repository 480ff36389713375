"""The raw alert body: masking secrets before it is stored, and the key that dedupes it.

`mask_secret` runs on every body we store, valid JSON or not, and must never let a
secret through; `dedupe_key` names an alert so TradingView's resends (up to 4 sends of one
trigger) are stored once. The caller scopes the key to the user and adds the time window.
"""

from __future__ import annotations

import hashlib
import json
import re
from decimal import Decimal
from typing import Any

from trading_app.domain.signals import ParsedSignal

MASK = "***"
# Any key that names a credential, not only our "secret": traders paste exchange keys too
_SENSITIVE_KEY = r"[\w-]*(?:secret|password|passphrase|api[_-]?key|private[_-]?key|mnemonic)[\w-]*"
_SENSITIVE = re.compile(_SENSITIVE_KEY, re.IGNORECASE)
# The look-behind anchors a key at a word start: without it a long run of word characters
# is retried from every position, which is quadratic (minutes of CPU on a 64 KiB comment)
_PAIR = re.compile(
    rf"""(?P<key>["']?(?<![\w-]){_SENSITIVE_KEY}["']?\s*[:=]\s*)"""
    r"""(?P<value>"(?:[^"\\]|\\.)*(?:"|$)|'(?:[^'\\]|\\.)*(?:'|$)|[^\s,;&}\]]+)""",
    re.IGNORECASE | re.DOTALL,
)
# Shorter values are too likely to be ordinary words to blank out everywhere
_MIN_REPEAT_MASK = 6
# Keeps the key within the 128-character column with room for the caller's window suffix
_MAX_PLAIN_ID = 64


def _sensitive_values(node: Any, found: list[Any]) -> bool:
    """Collect values under sensitive keys; True if any is not already masked."""
    leaked = False
    if isinstance(node, dict):
        for key, value in node.items():
            if _SENSITIVE.fullmatch(key):
                found.append(value)
                leaked |= value != MASK
            else:
                leaked |= _sensitive_values(value, found)
    elif isinstance(node, list):
        for item in node:
            leaked |= _sensitive_values(item, found)
    return leaked


def _loads(text: str | bytes) -> Any:
    # Decimal keeps numbers exactly as sent when a body must be re-serialized
    return json.loads(text, parse_float=Decimal)


def mask_secret(body_text: str) -> str:
    """Return the body with the value of every secret-like field replaced by `***`.

    Works on JSON and on text that is not valid JSON (`secret=...`, single quotes, an
    unterminated string). Formatting is kept; only if a secret would survive the textual
    masking (an escaped key, a nested value) is a valid JSON body re-serialized instead.
    Other occurrences of a found secret value anywhere in the body are masked too.
    """
    found: list[Any] = []

    def _mask(match: re.Match[str]) -> str:
        value = match.group("value")
        found.append(value.strip("\"'"))
        # a bare value after a JSON-quoted key becomes a JSON string, keeping the body valid
        quote = value[0] if value[0] in "\"'" else '"' if match.group("key").startswith('"') else ""
        return f"{match.group('key')}{quote}{MASK}{quote}"

    masked = _PAIR.sub(_mask, body_text)
    try:
        original = _loads(body_text)
    except (ValueError, RecursionError, ArithmeticError):  # ArithmeticError: 1e999999999999 as Decimal
        original = None
    if original is not None and _sensitive_values(original, found):
        try:
            still_leaks = _sensitive_values(_loads(masked), [])
        except (ValueError, RecursionError, ArithmeticError):
            still_leaks = True
        if still_leaks:
            masked = json.dumps(_redacted(original), ensure_ascii=False, default=str)
    for value in found:
        if isinstance(value, str) and len(value) >= _MIN_REPEAT_MASK:
            masked = masked.replace(value, MASK)
    return masked


def _redacted(node: Any) -> Any:
    if isinstance(node, dict):
        return {k: MASK if _SENSITIVE.fullmatch(k) else _redacted(v) for k, v in node.items()}
    if isinstance(node, list):
        return [_redacted(item) for item in node]
    return node


def _canonical_body(raw_body: bytes) -> bytes:
    try:
        body = _loads(raw_body)
    except (ValueError, RecursionError, ArithmeticError):
        body = None
    if isinstance(body, dict):
        body = {k: v for k, v in body.items() if k.lower() != "secret"}
        canonical = json.dumps(body, sort_keys=True, separators=(",", ":"), ensure_ascii=False, default=str)
        return canonical.encode()
    return mask_secret(raw_body.decode("utf-8", "replace")).strip().encode()


def dedupe_key(parsed: ParsedSignal, raw_body: bytes) -> str:
    """Name an alert for duplicate detection.

    Args:
        parsed: The validated alert.
        raw_body: The body exactly as received.

    Returns:
        `id:<alert_id>` when the alert carries an id (`idh:<sha256>` for ids longer than 64
        characters, to fit the column), else `body:<sha256>` of the body in canonical JSON
        form (sorted keys, no whitespace) without the secret, or of the masked text when
        the body is not a JSON object. At most 69 characters.
    """
    if parsed.alert_id is not None:
        if len(parsed.alert_id) <= _MAX_PLAIN_ID:
            return f"id:{parsed.alert_id}"
        return f"idh:{hashlib.sha256(parsed.alert_id.encode()).hexdigest()}"
    return f"body:{hashlib.sha256(_canonical_body(raw_body)).hexdigest()}"
