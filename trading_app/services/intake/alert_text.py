"""The text of an alert body: decoding it, finding its secret, and masking it for storage.

Everything here runs on untrusted input of up to 64 KiB, part of it before authentication,
so every function is linear in the body size and never raises on any input.

Masking: a JSON object body keeps its exact text with the value of every credential-like key
replaced by `***` (re-serialized only when a textual replacement cannot be verified). Other
bodies go through `alert_body.mask_secret` when they are short and have no long run of word
characters (its regex is quadratic in those); larger ones through a linear `key: value` masker.
In every case the trader's real secret is blanked wherever it appears.
"""

from __future__ import annotations

import functools
import json
import logging
import re
from dataclasses import dataclass, field
from decimal import Decimal, InvalidOperation
from typing import Any

from trading_app.domain.alert_body import MASK, mask_secret

log = logging.getLogger(__name__)

# Bounded value length: an unterminated quote after each of thousands of keys must stay linear
TEXT_SECRET = re.compile(r'"secret"\s*:\s*("(?:[^"\\]|\\.){0,256}")')
MAX_DEPTH = 32  # TradingView alerts are flat; nothing legitimate nests this deep
_STRINGS = re.compile(r'"[^"\\]*(?:\\.[^"\\]*)*"?')
_NON_BRACKETS = re.compile(r"[^\[\]{}]+")
_SENSITIVE = re.compile(r"secret|password|passphrase|api[_-]?key|private[_-]?key|mnemonic", re.IGNORECASE)
_WORD_RUN = re.compile(r"[\w-]+")
# mask_secret's cost grows with the square of the longest word run and with size times pairs
_MAX_WORD_RUN = 64
_MAX_TEXT_FOR_MASK_SECRET = 2 * 1024
# A linear stand-in for larger bodies: `key: value` / `key=value` pairs, the key starting at a
# word boundary (the lookbehind keeps the scan linear inside long runs of word characters)
_PAIR = re.compile(
    r"""(?<![\w-])(?P<q>["']?)(?P<key>[\w-]{1,64})(?P=q)(?P<sep>\s*[:=]\s*)"""
    r"""(?P<value>"(?:[^"\\]|\\.){0,512}"?|'(?:[^'\\]|\\.){0,512}'?|[^\s,;&}\]"']{1,512})"""
)
_MAX_SENSITIVE_VALUES = 32
WITHHELD = "[body withheld: it could not be masked safely]"


@dataclass(frozen=True)
class Body:
    """A decoded body. `payload` is what JSON decoding returned (None on failure)."""

    # repr=False: the text, the payload and the given secret all hold the secret
    text: str = field(repr=False)
    payload: object = field(repr=False)
    problem: str | None
    given_secret: str | None = field(repr=False)


def _number(text: str) -> Decimal | float:
    try:
        return Decimal(text)
    except InvalidOperation:  # an exponent beyond Decimal's range: inf or 0, judged by parse_signal
        return float(text)


# one decoder for every body: json.loads(..., parse_float=...) would build a new one per call
_DECODER = json.JSONDecoder(parse_float=_number)
_UNESCAPED = json.JSONEncoder(ensure_ascii=False)  # likewise json.dumps(..., ensure_ascii=False)


def _too_deep(text: str) -> bool:
    """True when brackets outside strings nest deeper than MAX_DEPTH.

    `json.loads` recurses in C once per level, and py_ecc (imported with eth-account) raises the
    recursion limit to 100,000: 64 KiB of `[` would overflow the C stack and kill the worker
    instead of raising RecursionError. So depth is measured first, without recursion.
    """
    if text.count("[") + text.count("{") <= MAX_DEPTH:
        return False  # the common case: two C-speed counts
    depth = 0
    for char in _NON_BRACKETS.sub("", _STRINGS.sub("", text)):
        depth += 1 if char in "[{" else -1
        if depth > MAX_DEPTH:
            return True
    return False


def decode_body(raw: bytes) -> Body:
    """Decode an alert: UTF-8 (a BOM is dropped), JSON whatever the content type says.

    Numbers become Decimal exactly as written. `problem` says why the body is not a JSON
    object; `given_secret` is the body's `secret`, also found in a body that is not valid JSON
    (a `{{close}}` that printed NaN), so the trader gets a rejected row that says what broke.
    """
    problem = None
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as e:
        text, problem = raw.decode("utf-8", "replace"), f"body: not valid UTF-8 (byte {e.start})"
    text = text.removeprefix("\ufeff")
    payload: object = None
    if problem is None and _too_deep(text):
        problem = f"body: JSON nested deeper than {MAX_DEPTH} levels"
    if problem is None:
        try:
            payload = _DECODER.decode(text)
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


def storable(text: str) -> str:
    """Text every database accepts: no NUL characters, no lone surrogates."""
    return text.replace("\x00", "\ufffd").encode("utf-8", "replace").decode("utf-8")


# Alerts repeat the same few keys: the regex verdict per short key is remembered (bounded)
_MAX_KEY_VERDICTS, _MAX_REMEMBERED_KEY = 4096, 64
_CONTAINERS = (dict, list)


def _is_sensitive(key: str) -> bool:
    return _remembered_verdict(key) if len(key) <= _MAX_REMEMBERED_KEY else _SENSITIVE.search(key) is not None


@functools.lru_cache(maxsize=_MAX_KEY_VERDICTS)
def _remembered_verdict(key: str) -> bool:
    return _SENSITIVE.search(key) is not None


def _sensitive_values(payload: object) -> list[Any]:
    """Values under credential-like keys, at any depth (iterative: the nesting may be deep)."""
    found, stack = [], [payload]
    while stack:
        node = stack.pop()
        if isinstance(node, dict):
            for key, value in node.items():
                if _is_sensitive(key):
                    found.append(value)
                elif isinstance(value, _CONTAINERS):  # scalars need no visit
                    stack.append(value)
        elif isinstance(node, list):
            stack.extend(v for v in node if isinstance(v, _CONTAINERS))
    return found


def _redacted(payload: object) -> object:
    if isinstance(payload, dict):
        return {k: MASK if _is_sensitive(k) else _redacted(v) for k, v in payload.items()}
    if isinstance(payload, list):
        return [_redacted(v) for v in payload]
    return payload


def _mask_json(text: str, payload: dict[str, Any]) -> str:
    values = _sensitive_values(payload)
    if len(values) <= _MAX_SENSITIVE_VALUES and all(isinstance(v, str) or v is None for v in values):
        masked = text
        for value in {v for v in values if v and v != MASK}:
            escaped = json.dumps(value)
            # both spellings of the value; they differ only when it has non-ASCII characters
            forms = (escaped,) if value.isascii() else (escaped, _UNESCAPED.encode(value))
            for form in forms:
                masked = masked.replace(form, f'"{MASK}"')
        if "\\" not in text:
            # without a backslash every JSON string is written exactly as json.dumps writes it
            # (ensure_ascii=False), so every occurrence was found: no need to parse again
            return masked
        try:
            if all(v in (None, "", MASK) for v in _sensitive_values(_DECODER.decode(masked))):
                return masked
        except (ValueError, RecursionError, ArithmeticError):
            pass
    return json.dumps(_redacted(payload), ensure_ascii=False, default=str)


def _mask_pair(match: re.Match[str]) -> str:
    if not _SENSITIVE.search(match.group("key")):
        return match.group(0)
    value = match.group("value")
    quote = value[0] if value[0] in "\"'" else ""
    return f"{match.group('q')}{match.group('key')}{match.group('q')}{match.group('sep')}{quote}{MASK}{quote}"


def _longest_word_run(text: str) -> int:
    return max(map(len, _WORD_RUN.findall(text)), default=0)


def masked_body(body: Body, secret: str) -> str:
    """The body as stored and shown: credentials masked, the real `secret` blanked everywhere."""
    try:
        if isinstance(body.payload, dict):
            masked = _mask_json(body.text, body.payload)
        elif (
            len(body.text) <= _MAX_TEXT_FOR_MASK_SECRET
            and _longest_word_run(body.text) <= _MAX_WORD_RUN
            and not _too_deep(body.text)  # mask_secret runs json.loads on it too
        ):
            masked = mask_secret(body.text)
        else:
            masked = _PAIR.sub(_mask_pair, body.text)
    except Exception:  # noqa: BLE001 - (RecursionError included) never store what we could not mask
        log.warning("an alert body could not be masked; storing a placeholder")
        return WITHHELD
    return storable(masked.replace(secret, MASK) if secret else masked)
