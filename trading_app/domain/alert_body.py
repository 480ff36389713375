"""The raw alert body: decoding it, and the key that dedupes it. Masking is `domain.masking`.

Everything here runs on untrusted input of up to 64 KiB, part of it before authentication, so every
function is linear in the body size and never raises on any input. `dedupe_key` names an alert so
TradingView's resends (up to 4 sends of one trigger) are stored once; the caller scopes the key to
the user and adds the time window.
"""

from __future__ import annotations

import hashlib
import json
import re
from dataclasses import dataclass, field
from decimal import Decimal

from trading_app.domain.json_text import MAX_DEPTH, TooDeep, loads
from trading_app.domain.masking import mask_body
from trading_app.domain.signals import ParsedSignal

__all__ = ["Body", "decode_body", "dedupe_key"]

# Bounded value length: an unterminated quote after each of thousands of keys must stay linear
TEXT_SECRET = re.compile(r'"secret"\s*:\s*("(?:[^"\\]|\\.){0,256}")')
# Keeps the key within the 128-character column with room for the caller's window suffix
_MAX_PLAIN_ID = 64


@dataclass(frozen=True)
class Body:
    """A decoded body. `payload` is what JSON decoding returned (None on failure)."""

    # repr=False: the text, the payload and the given secret all hold the secret
    text: str = field(repr=False)
    payload: object = field(repr=False)
    problem: str | None
    given_secret: str | None = field(repr=False)


def decode_body(raw: bytes) -> Body:
    """Decode an alert: UTF-8 (a BOM is dropped), JSON whatever the content type says.

    Numbers become Decimal exactly as written. `given_secret` is the body's `secret`, also found in
    a body that is not valid JSON (a `{{close}}` that printed NaN), so the trader gets a rejected
    row that says what broke.

    Args:
        raw: The request body as received.

    Returns:
        The body; its `problem` says why it is not a JSON object (None when it is).
    """
    problem = None
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as e:
        text, problem = raw.decode("utf-8", "replace"), f"body: not valid UTF-8 (byte {e.start})"
    text = text.removeprefix("\ufeff")
    payload: object = None
    if problem is None:
        try:
            payload = loads(text)
        except TooDeep:
            problem = f"body: JSON nested deeper than {MAX_DEPTH} levels"
        except RecursionError:
            problem = "body: JSON nested too deeply"
        except json.JSONDecodeError as e:
            problem = f"body: not valid JSON ({e.msg} at line {e.lineno} column {e.colno})"
        except (ValueError, ArithmeticError) as e:  # e.g. an integer of more than 4300 digits
            problem = f"body: not valid JSON ({type(e).__name__})"
    if isinstance(payload, dict):
        given = payload.get("secret")
        return Body(text, payload, problem, given if isinstance(given, str) else None)
    match = TEXT_SECRET.search(text)
    given = None
    if match:
        try:
            given = json.loads(match.group(1))
        except ValueError:
            given = None
    return Body(text, payload, problem or "body: expected a JSON object", given)


def _canonical_body(raw_body: bytes) -> bytes:
    try:
        # parse_float=Decimal, not json_text.loads: the key of a stored alert must not change
        body = json.loads(raw_body, parse_float=Decimal)
    except (ValueError, RecursionError, ArithmeticError):
        body = None
    if isinstance(body, dict):
        body = {k: v for k, v in body.items() if k.lower() != "secret"}
        canonical = json.dumps(body, sort_keys=True, separators=(",", ":"), ensure_ascii=False, default=str)
        return canonical.encode()
    return mask_body(raw_body.decode("utf-8", "replace")).strip().encode()


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
