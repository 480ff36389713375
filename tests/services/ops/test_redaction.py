"""Every secret shape the app handles is redacted; ordinary text (prices, ids, sentences) is left alone."""

from __future__ import annotations

import json

import pytest

from tests.services.settings_support import new_api_key, new_mnemonic
from trading_app.services.ops.redaction import REDACTED, redact_secrets, redact_value

TOKEN = "1234567890:AAHdqTcvCH1vGWJxfSeofSAs0K5PALDsaw"  # noqa: S105 - made up


@pytest.mark.parametrize(
    "text",
    [
        f"POST https://api.telegram.org/bot{TOKEN}/sendMessage",
        f"token={TOKEN}",
        f"the bot{TOKEN} failed",  # glued to a word
        f"/bot12:{TOKEN[13:]}/getMe",  # a short or odd token inside a Bot API URL
    ],
)
def test_bot_tokens_go_bare_glued_or_in_urls(text: str) -> None:
    cleaned = redact_secrets(text)
    assert TOKEN not in cleaned and TOKEN[11:] not in cleaned and REDACTED in cleaned


def test_mnemonics_go_with_any_spacing_but_plain_sentences_stay() -> None:
    phrase = new_mnemonic()
    words = phrase.split()
    for text in (phrase, "  ".join(words), ",".join(words), " ".join(words[:12]), f"phrase: {phrase}!"):
        cleaned = redact_secrets(text)
        assert not any(" ".join(words[i : i + 3]) in cleaned for i in range(10)), text
    sentence = "the monitor could not read the venue so the position stays open until the next tick runs"
    assert redact_secrets(sentence) == sentence  # many words, few of them from the BIP-39 list
    eleven = " ".join(words[:11])
    assert redact_secrets(eleven) == eleven  # under 12 words is no phrase


def test_private_keys_secret_fields_cookies_and_authorization_go() -> None:
    key = new_api_key()
    body = json.dumps({"secret": "hunter2-hunter2", "action": "buy", "webhook_secret": "abc123xyz"})
    text = (
        f"key 0x{key} and {key.upper()} body {body} password=pa55word&x=1 "
        "Authorization: Bearer eyJhbGciOi.payload.sig\nCookie: __Host-ta_session=s3ss10n; other=1\n"
        "X-Telegram-Bot-Api-Secret-Token: tg-secret-123"
    )
    cleaned = redact_secrets(text)
    for secret in (
        key,
        key.upper(),
        "hunter2-hunter2",
        "abc123xyz",
        "pa55word",
        "eyJhbGciOi",
        "s3ss10n",
        "tg-secret-123",
    ):
        assert secret not in cleaned, secret
    assert '"action": "buy"' in cleaned and "x=1" in cleaned


def test_ordinary_values_stay() -> None:
    text = (
        "signal 1234 BTC-USD filled 0.01 @ 65000.5 for 0x12ab34cd56ef78ab90cd12ab34cd56ef78abcdef at 12:30:01"
    )
    assert redact_secrets(text) == text
    assert redact_secrets("secret 42:xyzzy-plugh", "42:xyzzy-plugh") == "secret [REDACTED]"  # a known value


def test_nested_values_are_redacted_and_secret_keys_replaced_whole() -> None:
    value = {
        "given_secret": "short",
        "headers": [["authorization", "Bearer abc"], ["x", TOKEN]],
        "vars": {"bot_token": "'x'", "n": 3, "note": f"url /bot{TOKEN}/getMe"},
        "tuple": (TOKEN, 1),
    }
    cleaned = redact_value(value)
    assert isinstance(cleaned, dict)
    assert cleaned["given_secret"] == REDACTED and cleaned["vars"]["bot_token"] == REDACTED
    assert cleaned["vars"]["n"] == 3 and TOKEN not in json.dumps(cleaned)
    assert cleaned["tuple"] == (REDACTED, 1)
