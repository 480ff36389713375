"""Secrets out of any text an operator may read: log lines, tracebacks, error reports.

One function, `redact_secrets`, knows the shapes of every secret this app handles:

- Telegram bot tokens (`123456789:AA...`), bare or inside a Bot API URL (`/bot<token>/`);
- BIP-39 mnemonics (12 to 24 words of the English list in a row: a dYdX account's key);
- hex private keys (64 hex digits; a transaction hash has the same shape and goes too);
- `secret`, `token`, `password`, `mnemonic`, `private_key`... values in JSON, forms and `k=v` text
  (a TradingView alert's body carries its webhook secret);
- `Cookie` / `Set-Cookie` / `Authorization` header values and our session cookie.

It works on shapes, not on a list of known values: a record never has to know which trader's
token it is looking at. Used by the log handler (`services.ops.logs`) and Sentry's `before_send`
(`services.ops.errors`).
"""

from __future__ import annotations

import re
from functools import cache
from importlib import resources

REDACTED = "[REDACTED]"

_BOT_URL = re.compile(r"(/bot)\d+:[^/\s\"'`]+")
_BOT_TOKEN = re.compile(r"(?<![0-9])\d{6,}:[A-Za-z0-9_-]{20,}")  # also glued to a word: "bot123:..."
_HEX_KEY = re.compile(r"\b(?:0x)?[0-9a-fA-F]{64}\b")
_KEYS = r"secret|token|password|passphrase|mnemonic|private_key|privkey|api_key|key_material"
# "key": "value" (JSON) | key=value (forms, repr) | key: value ; the key may be quoted
_KEY_VALUE = re.compile(
    rf"""(?ix)
    (["']?\b[\w-]*?(?:{_KEYS})["']?\s*[:=]\s*)
    (?:"(?:[^"\\]|\\.)*"|'(?:[^'\\]|\\.)*'|[^\s,;&}}\]\)]+)
    """
)
_HEADER_LINE = re.compile(
    r"(?i)\b((?:set-)?cookie|authorization|x-telegram-bot-api-secret-token)(\s*[:=]\s*)[^\r\n]+"
)
_BEARER = re.compile(r"(?i)\b(bearer\s+)[A-Za-z0-9._~+/=-]+")
_SESSION = re.compile(r"((?:__Host-)?ta_session=)[^;\s]+")
# runs of lower-case words: candidates for a mnemonic (checked against the word list)
_WORD_RUN = re.compile(r"\b[a-z]{3,8}(?:[\s,]+[a-z]{3,8}){11,}\b")
_WORD = re.compile(r"[a-z]+")
MNEMONIC_WORDS = 12


@cache
def _bip39_words() -> frozenset[str]:
    text = resources.files("bip_utils.bip.bip39").joinpath("wordlist/english.txt").read_text()
    return frozenset(text.split())


def _mnemonics(text: str) -> str:
    if " " not in text:
        return text
    words = _bip39_words()

    def scrub(match: re.Match[str]) -> str:
        run = match.group(0)
        found = list(_WORD.finditer(run))
        out, start, streak = [], 0, []  # streak: the words of the list met in a row
        for word in [*found, None]:
            if word is not None and word.group(0) in words:
                streak.append(word)
                continue
            if len(streak) >= MNEMONIC_WORDS:
                out.append(run[start : streak[0].start()] + REDACTED)
                start = streak[-1].end()
            streak = []
        return "".join(out) + run[start:]

    return _WORD_RUN.sub(scrub, text)


def redact_secrets(text: str, *known: str) -> str:
    """Remove every secret-shaped part of `text` (and each of the `known` values).

    Args:
        text: any text (a log message, a traceback, a request body).
        known: exact values to remove as well (at least 6 characters each).

    Returns:
        The text with each secret replaced by `[REDACTED]`.
    """
    for value in known:
        if value and len(value) >= 6:
            text = text.replace(value, REDACTED)
    text = _BOT_URL.sub(r"\1" + REDACTED, text)
    text = _BOT_TOKEN.sub(REDACTED, text)
    text = _HEADER_LINE.sub(r"\1\2" + REDACTED, text)
    text = _BEARER.sub(r"\1" + REDACTED, text)
    text = _SESSION.sub(r"\1" + REDACTED, text)
    text = _KEY_VALUE.sub(r"\1" + REDACTED, text)
    text = _HEX_KEY.sub(REDACTED, text)
    return _mnemonics(text)


def redact_value(value: object) -> object:
    """`redact_secrets` through nested dicts, lists and tuples (strings only; other values kept).

    A mapping key that names a secret (`secret`, `token`, `cookie`, ...) has its value replaced whole.
    """
    if isinstance(value, str):
        return redact_secrets(value)
    if isinstance(value, dict):
        return {k: (REDACTED if _secret_key(k) else redact_value(v)) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return type(value)(redact_value(v) for v in value)
    return value


# a mapping key naming a secret anywhere in it (`given_secret`, `bot_token`, `Cookie`, `HTTP_AUTHORIZATION`)
_SECRET_KEY = re.compile(
    r"(?i)secret|token|passw|passphrase|mnemonic|private_?key|privkey|api_?key|cookie|authorization"
)


def _secret_key(key: object) -> bool:
    return isinstance(key, str) and _SECRET_KEY.search(key) is not None


__all__ = ["REDACTED", "redact_secrets", "redact_value"]
