"""The one masking rule (`domain.masking`): which keys are credentials, and what masking guarantees
whoever calls it (the inbox before storing, the pages before showing, the dedupe key of text)."""

from __future__ import annotations

import json

import pytest
from hypothesis import example, given, settings
from hypothesis import strategies as st

from trading_app.domain.masking import MASK, WITHHELD, is_sensitive, mask_body


@pytest.mark.parametrize(
    "key",
    ["secret", "Secret", "webhook_secret", "my secret", "password", "PASSPHRASE", "apikey", "api_key",
     "Binance API-Key", "Binance API Key", "binanceApiKey", "private_key", "privateKey", "wallet-mnemonic"],
)
def test_credential_keys_are_sensitive_wherever_the_word_is(key: str) -> None:
    assert is_sensitive(key)


@pytest.mark.parametrize("key", ["action", "market", "size_usd", "keyboard", "comment", "alert_id"])
def test_ordinary_keys_are_not(key: str) -> None:
    assert not is_sensitive(key)


def test_a_credential_repeated_elsewhere_is_blanked_and_json_stays_json() -> None:
    text = '{"api_key": "k-1234567", "comment": "my key is k-1234567", "size": 1.50, "n": [1]}'
    masked = mask_body(text)
    assert "k-1234567" not in masked
    assert json.loads(masked) == {"api_key": MASK, "comment": f"my key is {MASK}", "size": "1.50", "n": [1]}


def test_a_repeated_value_inside_a_number_never_breaks_the_json() -> None:
    # blanked inside strings only: a number stays a number, and the body stays JSON
    masked = mask_body('{"password": "123456", "price": 1234567, "note": "x123456x"}')
    assert json.loads(masked) == {"password": MASK, "price": 1234567, "note": f"x{MASK}x"}


def test_short_values_are_blanked_only_under_their_key_in_text() -> None:
    assert mask_body("password=buy action=buy") == "password=*** action=buy"


def test_the_traders_secret_is_blanked_everywhere_even_under_ordinary_keys() -> None:
    masked = mask_body('{"note": "wh-secret-42", "action": "buy"}', "wh-secret-42")
    assert "wh-secret-42" not in masked and json.loads(masked)["note"] == MASK


def test_keys_with_spaces_are_masked_in_text_bodies_too() -> None:
    masked = mask_body("BUY BTC 'my secret': 'abc def ghi' password=hunter22 ok")
    assert "abc def ghi" not in masked and "hunter22" not in masked and masked.startswith("BUY BTC")


def test_what_cannot_be_masked_is_withheld(monkeypatch: pytest.MonkeyPatch) -> None:
    from trading_app.domain import masking

    def broken(*_args: object) -> str:
        raise RecursionError

    monkeypatch.setattr(masking, "_mask_json", broken)
    assert mask_body('{"secret": "abcdefgh"}') == WITHHELD


JSON_BODIES = st.dictionaries(
    st.sampled_from(["secret", "api_key", "action", "market", "comment", "nested"]),
    st.one_of(st.text(max_size=12), st.integers(), st.lists(st.text(max_size=8), max_size=2)),
).map(lambda d: json.dumps(d, ensure_ascii=False))
TEXT_BODIES = st.text(alphabet="abc =:'\"secrtpwod_-{},", max_size=80)


@settings(max_examples=300, deadline=None)
@given(text=st.one_of(JSON_BODIES, TEXT_BODIES), secret=st.sampled_from(["", "wh_9f8e7d6c5b4a"]))
@example(text='""', secret="")  # CI's find: a text body that is JSON but no object
@example(text='{"secret": "\x7f"}', secret="")  # CI's find: a raw DEL, which json.dumps writes escaped
def test_masking_a_masked_body_changes_nothing(text: str, secret: str) -> None:
    # the pages mask the stored copy again: that must show exactly what the inbox stored
    once = mask_body(text, secret)
    assert mask_body(once) == once
    try:
        parsed = json.loads(text)
    except ValueError:
        return
    if not isinstance(parsed, dict):  # a text body can be valid JSON without keys (`""`, `1`)
        return
    # a JSON object stays JSON, with every credential masked (an empty one has nothing to hide)
    assert all(v in (MASK, "") for k, v in json.loads(once).items() if is_sensitive(k))
