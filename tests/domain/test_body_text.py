"""Decoding and masking alert bodies: exact, never raising, never leaking, linear on hostile input."""

from __future__ import annotations

import json
import subprocess
import sys
import time
from decimal import Decimal

import pytest

from tests.conftest import ROOT
from trading_app.domain.alert_body import Body, decode_body
from trading_app.domain.json_text import storable
from trading_app.domain.masking import mask_body

SECRET = "Zq3-kV9_wX2mPa7LrT5nYb8Hc4Jd6Fg1"


def stored(body: Body, secret: str) -> str:
    """What the inbox stores for a decoded body."""
    return mask_body(body.text, secret, body.payload)


def test_json_is_parsed_whatever_the_wrapping_with_exact_numbers() -> None:
    for raw in (
        b'{"secret": "s", "price": 65000.123456789012345678}\n',
        b'\xef\xbb\xbf{"secret":"s","price":65000.123456789012345678}\r\n',
    ):
        body = decode_body(raw)
        assert body.problem is None and body.given_secret == "s"
        assert body.payload == {"secret": "s", "price": Decimal("65000.123456789012345678")}
        assert not body.text.startswith("\ufeff")


@pytest.mark.parametrize(
    ("raw", "problem"),
    [
        (b'{"secret": "s", "comment": "caf\xe9"}', "body: not valid UTF-8 (byte 31)"),
        (b"[" * 100_000, "body: JSON nested deeper than 32 levels"),
        (b'{"a": ' + b"9" * 5000 + b"}", "body: not valid JSON (ValueError)"),
        (
            b'{"secret": "s", "price": NaN,}',
            "body: not valid JSON (Expecting property name enclosed in double quotes",
        ),
        (b"", "body: not valid JSON (Expecting value at line 1 column 1)"),
        (b'"just a string"', "body: expected a JSON object"),
        (b"null", "body: expected a JSON object"),
    ],
)
def test_problems_are_named_and_nothing_raises(raw: bytes, problem: str) -> None:
    body = decode_body(raw)
    assert body.problem is not None and body.problem.startswith(problem), body.problem


def test_huge_exponents_decode_to_something_parse_signal_can_refuse() -> None:
    body = decode_body(b'{"price": 1e999999999999999999999, "size": 1e-999999999999999999999}')
    assert body.problem is None
    assert body.payload == {"price": float("inf"), "size": 0.0}


def test_the_secret_of_a_broken_body_is_still_found_but_only_as_a_string() -> None:
    assert decode_body(f'{{"secret": "{SECRET}", "price": {{{{close}}}}}}'.encode()).given_secret == SECRET
    assert decode_body(f'[{{"secret": "{SECRET}"}}]'.encode()).given_secret == SECRET
    assert decode_body(b'{"secret": 12345}').given_secret is None
    assert decode_body(f"secret={SECRET} buy".encode()).given_secret is None
    assert decode_body(b'{"secret": "a\\"b"').given_secret == 'a"b'


def test_a_json_body_keeps_its_text_with_every_credential_masked() -> None:
    text = (
        f'{{"secret":  "{SECRET}", "action": "buy",\n "nested": {{"Binance_API_Key": "k-123456"}},'
        f' "comment": "pasted {SECRET} here", "list": [{{"password": "hunter2"}}], "price": 1.50}}'
    )
    masked = stored(decode_body(text.encode()), SECRET)
    assert masked == (
        '{"secret":  "***", "action": "buy",\n "nested": {"Binance_API_Key": "***"},'
        ' "comment": "pasted *** here", "list": [{"password": "***"}], "price": 1.50}'
    )


def test_values_that_cannot_be_masked_in_place_are_reserialized() -> None:
    text = f'{{"secret": "{SECRET}", "api_key": {{"id": 7, "key": "abc"}}, "private_key": 123456789}}'
    masked = stored(decode_body(text.encode()), SECRET)
    assert json.loads(masked) == {"secret": "***", "api_key": "***", "private_key": "***"}
    escaped = '{"secret": "' + "".join(f"\\u{ord(c):04x}" for c in SECRET) + '"}'
    assert json.loads(stored(decode_body(escaped.encode()), SECRET)) == {"secret": "***"}


def test_text_bodies_are_masked_too() -> None:
    masked = stored(decode_body(f"BUY BTC secret={SECRET} api_key='abc def' ok".encode()), SECRET)
    assert SECRET not in masked and "abc def" not in masked and masked.startswith("BUY BTC secret=***")
    big = f'{{"secret": "{SECRET}", "api_key": "k-123456", "pad": "{"x " * 5000}", price: NaN'
    masked = stored(decode_body(big.encode()), SECRET)
    assert SECRET not in masked and "k-123456" not in masked and '"api_key": "***"' in masked


@pytest.mark.parametrize("depth", [10, 900])
def test_a_credential_that_needs_reserializing_is_masked_at_any_depth(depth: int) -> None:
    text = '{"secret": "' + SECRET + '", "api_key": 987654, "deep": ' + "[" * depth + "]" * depth + "}"
    masked = stored(decode_body(text.encode()), SECRET)
    assert SECRET not in masked and "987654" not in masked
    if depth < 31:  # deeper bodies are refused undecoded and masked as text
        assert json.loads(masked)["api_key"] == "***"


def test_storable_text_has_no_nul_and_no_lone_surrogates() -> None:
    assert storable("a\x00b\ud800c") == "a\ufffdb?c"


@pytest.mark.parametrize(
    "text",
    [
        '{"secret": "' + SECRET + '", "comment": "' + "y" * 65000 + '"}',
        '{"secret": "' + SECRET + '" ' + "y" * 65000,
        ("a" * 63 + " ") * 1024,
        "secret=abcdefg1 " * 4096,
        '"secret":"' * 6500,
        '"k":"' * 13000,
        "{" + ",".join(f'"api_key{i}":"v{i:08d}"' for i in range(3000)) + "}",
        '"' * 65536,
        ":" * 65536,
    ],
)
def test_hostile_bodies_are_handled_in_linear_time(text: str) -> None:
    raw = text.encode()[: 64 * 1024]
    start = time.perf_counter()
    stored(decode_body(raw), SECRET)
    # a quadratic scan of 64 KiB takes minutes; linear work takes milliseconds even on a busy machine
    assert time.perf_counter() - start < 0.5


def test_deep_nesting_is_refused_before_json_can_overflow_the_c_stack() -> None:
    # importing the app raises the recursion limit to 100,000 (py_ecc): json.loads would then crash
    # the whole process on 64 KiB of brackets instead of raising, so run it where a crash is visible
    code = (
        "import sys, trading_app.api.app\n"
        "from trading_app.domain.alert_body import decode_body\n"
        "assert sys.getrecursionlimit() >= 10000, sys.getrecursionlimit()\n"
        "for raw in (b'[' * 65536, b'{\"a\":' * 13000, b'[' * 33 + b']' * 33):\n"
        "    print(decode_body(raw).problem)\n"
    )
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=120, cwd=ROOT
    )
    assert result.returncode == 0, result.stderr[-2000:]
    assert result.stdout.splitlines() == ["body: JSON nested deeper than 32 levels"] * 3
    assert decode_body(b'{"a": ' + b"[" * 31 + b"]" * 31 + b"}").problem is None  # 32 levels in all
