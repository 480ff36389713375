"""Secrets never survive into stored bodies; dedupe keys name an alert stably."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from trading_app.domain.alert_body import dedupe_key
from trading_app.domain.masking import mask_body
from trading_app.domain.signals import ParsedSignal, parse_signal

SECRET = "wh_9f8e7d6c5b4a"
NOW = datetime(2024, 5, 1, tzinfo=UTC)


def parsed(body: dict[str, Any]) -> ParsedSignal:
    return parse_signal(body, now=NOW, max_lag_seconds=None)


@pytest.mark.parametrize(
    "text",
    [
        f'{{"secret": "{SECRET}", "action": "buy"}}',
        f'{{"action":"buy","secret":"{SECRET}"}}',
        f'{{\n  "Secret" :  "{SECRET}",\n  "market": "BTC-USD"\n}}',
        f"{{'secret': '{SECRET}', 'action': 'buy'}}",  # Python-ish, not JSON
        f"secret={SECRET}&action=buy",
        f"secret: {SECRET}\naction: buy",
        f'{{"secret": "{SECRET}',  # cut off mid-string
        f'{{"secret": "{SECRET}\\"quoted\\"", "action": "buy"}}',
        f'{{"secr\\u0065t": "{SECRET}", "action": "buy"}}',  # escaped key only JSON decoding sees
        f'{{"secret": {{"nested": "{SECRET}"}}, "action": "buy"}}',
        f'{{"secret": ["{SECRET}"], "action": "buy"}}',
        f'{{"secret": "{SECRET}", "comment": "my key is {SECRET}"}}',
        f'{{"data": {{"secret": "{SECRET}"}}}}',
        f'{{"webhook_secret": "{SECRET}", "binanceApiKey": "{SECRET}x", "password": "{SECRET}y"}}',
    ],
)
def test_secret_never_survives(text: str) -> None:
    masked = mask_body(text)
    assert SECRET not in masked
    assert "***" in masked


def test_valid_json_stays_valid_and_keeps_its_layout() -> None:
    text = f'{{"secret": "{SECRET}",  "action": "buy", "size": 1.10}}'
    masked = mask_body(text)
    assert masked == '{"secret": "***",  "action": "buy", "size": 1.10}'
    assert json.loads(masked)["secret"] == "***"


def test_numeric_secret_is_masked_as_a_json_string() -> None:
    masked = mask_body('{"secret": 123456789, "action": "buy"}')
    assert "123456789" not in masked and json.loads(masked) == {"secret": "***", "action": "buy"}


def test_body_without_secret_is_unchanged() -> None:
    text = '{"action": "buy", "market": "BTC-USD", "comment": "no secrets here"}'
    assert mask_body(text) == text


@settings(max_examples=200, deadline=None)
@given(
    secret=st.text(alphabet=st.characters(codec="utf-8", exclude_characters="\x00"), min_size=6, max_size=40),
    others=st.dictionaries(st.sampled_from(["action", "market", "size", "note"]), st.text(max_size=10)),
    indent=st.sampled_from([None, 2]),
)
def test_secret_never_survives_in_any_json_body(
    secret: str, others: dict[str, str], indent: int | None
) -> None:
    text = json.dumps({**others, "secret": secret}, indent=indent, ensure_ascii=False)
    masked = mask_body(text)
    assert json.loads(masked)["secret"] == "***"
    assert json.dumps(secret, ensure_ascii=False)[1:-1] not in masked


def test_alert_id_keys() -> None:
    signal = parsed({"action": "buy", "market": "BTC-USD", "alert_id": "strat-7"})
    assert dedupe_key(signal, b"anything") == "id:strat-7"
    long_id = parsed({"action": "buy", "market": "BTC-USD", "alert_id": "x" * 100})
    key = dedupe_key(long_id, b"")
    assert key.startswith("idh:") and len(key) == 68
    assert key == dedupe_key(long_id, b"other body")


def test_body_key_ignores_the_secret_whitespace_and_key_order() -> None:
    signal = parsed({"action": "buy", "market": "BTC-USD"})
    a = dedupe_key(signal, b'{"secret": "one", "action": "buy", "market": "BTC-USD"}')
    b = dedupe_key(signal, b'{"market":"BTC-USD","action":"buy","secret":"two"}')
    c = dedupe_key(signal, b'{"market":"BTC-USD","action":"buy"}')
    assert a == b == c and a.startswith("body:") and len(a) == 69


def test_body_key_differs_when_the_alert_differs() -> None:
    signal = parsed({"action": "buy", "market": "BTC-USD"})
    a = dedupe_key(signal, b'{"action": "buy", "market": "BTC-USD", "timestamp": "2024-05-01T00:00:00Z"}')
    b = dedupe_key(signal, b'{"action": "buy", "market": "BTC-USD", "timestamp": "2024-05-01T00:01:00Z"}')
    assert a != b


def test_body_key_for_text_that_is_not_a_json_object() -> None:
    signal = parsed({"action": "buy", "market": "BTC-USD"})
    a = dedupe_key(signal, b"buy BTC secret=one\n")
    assert a == dedupe_key(signal, b"buy BTC secret=two")  # the secret never feeds the key
    assert a != dedupe_key(signal, b"sell BTC secret=one")
    assert dedupe_key(signal, b"\xff\xfe not utf-8").startswith("body:")
