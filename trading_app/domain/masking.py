"""Secret masking: the one rule for what is blanked out of an alert body before anyone sees it.

The inbox masks every body before it is stored, the pages mask the stored copy again before it is
shown, and the dedupe key of a text body is taken from its masked form: all through `mask_body`.

The rule: the value of every credential-like key (`SENSITIVE`: secret, password, passphrase, API
key, private key, mnemonic, anywhere in the key) becomes `***`, at any depth; any other occurrence of
such a value of 6 characters or more is blanked too (in a JSON body: inside strings, and a string
equal to it whatever its length), and so is the trader's webhook secret wherever it appears. How,
by the kind of text:
- a JSON object or array keeps its exact text with the values replaced in place; when a replacement
  cannot be verified (a value that is not a string, escapes) it is re-serialized instead;
- other text that is short and has no long run of word characters goes through a thorough pattern
  (`secret=...`, single quotes, an unterminated string), which is quadratic in those runs;
- larger text through a linear `key: value` pattern with bounded keys and values.
Everything is linear in the body size (64 KiB at most, part of it unauthenticated) and never raises:
what cannot be masked is replaced by WITHHELD.
"""

from __future__ import annotations

import functools
import json
import re
from typing import Any

from trading_app.domain.json_text import loads, storable, too_deep

__all__ = ["MASK", "SENSITIVE", "WITHHELD", "is_sensitive", "mask_body"]

MASK = "***"
WITHHELD = "[body withheld: it could not be masked safely]"
_WORDS = r"secret|password|passphrase|api[\s_-]?key|private[\s_-]?key|mnemonic"  # "API Key" too
SENSITIVE = re.compile(_WORDS, re.IGNORECASE)
_MIN_REPEAT_MASK = 6  # shorter values are too likely to be ordinary words to blank out everywhere
_MAX_SENSITIVE_VALUES = 32
_CONTAINERS = (dict, list)
_UNESCAPED = json.JSONEncoder(ensure_ascii=False)  # json.dumps(..., ensure_ascii=False), built once

# The thorough pattern. The look-behind anchors a key at a word start: without it a long run of word
# characters is retried from every position (minutes of CPU on a 64 KiB comment)
_KEY = rf"[\w-]*(?:{_WORDS})[\w-]*"
_THOROUGH_PAIR = re.compile(
    rf"""(?P<key>["']?(?<![\w-]){_KEY}["']?\s*[:=]\s*)"""
    r"""(?P<value>"(?:[^"\\]|\\.)*(?:"|$)|'(?:[^'\\]|\\.)*(?:'|$)|[^\s,;&}\]]+)""",
    re.IGNORECASE | re.DOTALL,
)
_WORD_RUN = re.compile(r"[\w-]+")
_MAX_WORD_RUN = 64  # the thorough pattern's cost grows with the square of the longest word run...
_MAX_THOROUGH_TEXT = 2 * 1024  # ...and with size times pairs
# The linear pattern: `key: value` / `key=value`, the key at a word boundary, both bounded
_BOUNDED_PAIR = re.compile(
    r"""(?<![\w-])(?P<q>["']?)(?P<key>[\w-]{1,64})(?P=q)(?P<sep>\s*[:=]\s*)"""
    r"""(?P<value>"(?:[^"\\]|\\.){0,512}"?|'(?:[^'\\]|\\.){0,512}'?|[^\s,;&}\]"']{1,512})"""
)
_MAX_REMEMBERED_KEY = 64  # alerts repeat the same few keys: the verdict on short ones is cached


def is_sensitive(key: str) -> bool:
    """Whether a key names a credential, e.g. `secret`, `Binance_API_Key`, `wallet-mnemonic`.

    Args:
        key: A JSON key or the key of a `key=value` pair.

    Returns:
        True when its value must never be stored or shown.
    """
    return _remembered(key) if len(key) <= _MAX_REMEMBERED_KEY else SENSITIVE.search(key) is not None


@functools.lru_cache(maxsize=4096)
def _remembered(key: str) -> bool:
    return SENSITIVE.search(key) is not None


def _sensitive_values(payload: object) -> list[Any]:
    """Values under credential-like keys, at any depth (iterative: the nesting may be deep)."""
    found, stack = [], [payload]
    while stack:
        node = stack.pop()
        if isinstance(node, dict):
            for key, value in node.items():
                if is_sensitive(key):
                    found.append(value)
                elif isinstance(value, _CONTAINERS):  # scalars need no visit
                    stack.append(value)
        elif isinstance(node, list):
            stack.extend(v for v in node if isinstance(v, _CONTAINERS))
    return found


def _repeatable(values: list[Any], secret: str) -> set[str]:
    """The found values long enough to blank wherever else they appear (`secret` is blanked anyway)."""
    return {v for v in values if isinstance(v, str) and len(v) >= _MIN_REPEAT_MASK and v != secret}


def _blank(text: str, repeats: set[str]) -> str:
    for value in repeats:
        text = text.replace(value, MASK)
    return text


def _redacted(payload: object, repeats: set[str]) -> object:
    if isinstance(payload, dict):
        return {k: MASK if is_sensitive(k) else _redacted(v, repeats) for k, v in payload.items()}
    if isinstance(payload, list):
        return [_redacted(v, repeats) for v in payload]
    return _blank(payload, repeats) if isinstance(payload, str) else payload


def _mask_json(text: str, payload: dict[str, Any] | list[Any], secret: str) -> str:
    values = _sensitive_values(payload)
    repeats = _repeatable(values, secret)
    if len(values) <= _MAX_SENSITIVE_VALUES and all(isinstance(v, str) or v is None for v in values):
        masked = text
        for value in {v for v in values if v and v != MASK}:
            escaped = json.dumps(value)
            # both spellings of the value: they differ when it has non-ASCII characters, and for DEL
            # (0x7f), which json.dumps escapes while a JSON text may carry it raw
            unescaped = _UNESCAPED.encode(value)
            forms = (escaped,) if unescaped == escaped else (escaped, unescaped)
            for form in forms:
                masked = masked.replace(form, f'"{MASK}"')
        if any(value in masked for value in repeats):
            pass  # also elsewhere (another string, a number): only re-serializing blanks it and stays JSON
        elif "\\" not in text:
            # without a backslash every JSON string is written exactly as json.dumps writes it
            # (ensure_ascii=False), so every occurrence was found: no need to decode again
            return masked
        else:
            try:
                if all(v in (None, "", MASK) for v in _sensitive_values(loads(masked))):
                    return masked
            except (ValueError, RecursionError, ArithmeticError):
                pass
    return json.dumps(_redacted(payload, repeats), ensure_ascii=False, default=str)


def _mask_thorough(text: str, secret: str) -> str:
    found: list[Any] = []

    def _mask(match: re.Match[str]) -> str:
        value = match.group("value")
        found.append(value.strip("\"'"))
        # a bare value after a JSON-quoted key becomes a JSON string
        quote = value[0] if value[0] in "\"'" else '"' if match.group("key").startswith('"') else ""
        return f"{match.group('key')}{quote}{MASK}{quote}"

    return _blank(_THOROUGH_PAIR.sub(_mask, text), _repeatable(found, secret))


def _mask_bounded(text: str, secret: str) -> str:
    found: list[Any] = []

    def _mask(match: re.Match[str]) -> str:
        if not is_sensitive(match.group("key")):
            return match.group(0)
        value = match.group("value")
        if len(found) < _MAX_SENSITIVE_VALUES:
            found.append(value.strip("\"'"))
        quote = value[0] if value[0] in "\"'" else ""
        q = match.group("q")
        return f"{q}{match.group('key')}{q}{match.group('sep')}{quote}{MASK}{quote}"

    return _blank(_BOUNDED_PAIR.sub(_mask, text), _repeatable(found, secret))


def _longest_word_run(text: str) -> int:
    return max(map(len, _WORD_RUN.findall(text)), default=0)


def mask_body(text: str, secret: str = "", payload: object = None) -> str:
    """An alert body as it may be stored and shown (see the module docstring for the rule).

    Args:
        text: The body as text (stored bodies were masked before; masking again changes nothing).
        secret: The trader's webhook secret, blanked wherever it appears; "" when unknown.
        payload: `text` already decoded, when the caller has it (saves a second decode); without
            a JSON object or array here, the text is decoded if it is safe to.

    Returns:
        The masked text, storable in every database; WITHHELD if masking failed.
    """
    try:
        if not isinstance(payload, _CONTAINERS) and not too_deep(text):
            try:
                payload = loads(text)
            except (ValueError, RecursionError, ArithmeticError):
                payload = None
        if isinstance(payload, _CONTAINERS):
            masked = _mask_json(text, payload, secret)
        elif len(text) <= _MAX_THOROUGH_TEXT and _longest_word_run(text) <= _MAX_WORD_RUN:
            masked = _mask_thorough(text, secret)
        else:
            masked = _mask_bounded(text, secret)
    except Exception:  # noqa: BLE001 - (RecursionError included) never store or show what we could not mask
        return WITHHELD
    return storable(masked.replace(secret, MASK) if secret else masked)
