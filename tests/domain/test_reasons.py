"""Reasons in plain words with the code second, and the ticker the trader wrote."""

from __future__ import annotations

import json

import pytest

from trading_app.domain.errors import RejectReason
from trading_app.domain.reasons import PLAIN, Explained, explain
from trading_app.domain.sent import MAX_SHOWN, sent_fields


def test_every_reject_reason_has_a_plain_sentence() -> None:
    missing = [r.value for r in RejectReason if r.value not in PLAIN]
    assert missing == []
    assert all(text and text[0].isupper() and not text.endswith(".") for text in PLAIN.values())


def test_a_coded_reason_reads_plain_first_and_code_last() -> None:
    why = explain("sl_wrong_side: a long needs its stop-loss below 3000", "REJECTED")
    assert why == Explained(
        "The stop-loss is on the wrong side of the price",
        "a long needs its stop-loss below 3000",
        "sl_wrong_side",
    )
    assert why.text == (
        "The stop-loss is on the wrong side of the price: "
        "a long needs its stop-loss below 3000 (sl_wrong_side)"
    )
    assert not why.text.startswith("sl_wrong_side")


@pytest.mark.parametrize(
    ("reason", "status", "plain", "code"),
    [
        ("venue_rejected: insufficient margin", "FAILED", "The exchange refused the order", "venue_rejected"),
        ("in_doubt: venue unreachable; retried", "EXECUTING", "Waiting for the exchange", "in_doubt"),
        ("stale: it waited 400 s", "REJECTED", "The alert is too old to trade", "stale"),
        (
            "market: xyzceausdt.p (read as XYZCEA-USD) is not listed on your venue",
            "REJECTED",
            "This market is not listed on your venue",
            "unknown_market",
        ),
        (
            "per-minute cap: more than 3 alerts in the last minute",
            "REJECTED",
            "Too many alerts",
            "per_minute_cap",
        ),
        (
            "source address 203.0.113.9 is not one of TradingView's webhook addresses",
            "REJECTED",
            "Sent from an address that is not TradingView's",
            "source_not_allowed",
        ),
        (
            "action: 'hold' is not one of buy, sell",
            "REJECTED",
            "The alert could not be read",
            "invalid_payload",
        ),
        (
            "body: not valid JSON (Expecting value)",
            "REJECTED",
            "The alert could not be read",
            "invalid_payload",
        ),
    ],
)
def test_every_stored_reason_gets_its_sentence(reason: str, status: str, plain: str, code: str) -> None:
    why = explain(reason, status)
    assert why.plain.startswith(plain) and why.code == code
    assert why.detail  # nothing the trader was told is lost


def test_the_unknown_market_detail_names_what_was_sent() -> None:
    why = explain("market: xyzceausdt.p (read as XYZCEA-USD) is not listed on your venue", "REJECTED")
    assert why.detail == "xyzceausdt.p (read as XYZCEA-USD)"
    assert explain("unknown_market: FOO-USD is not listed on this venue").detail == "FOO-USD"


def test_no_reason_and_an_unknown_text() -> None:
    assert explain(None) == Explained("", "", "") == explain("", "REJECTED")
    assert explain("something new: happened", "FAILED") == Explained("something new: happened", "", "")


def test_sent_fields_are_what_the_trader_wrote() -> None:
    body = json.dumps({"secret": "***", "action": "buy", "market": " xyzcea\n"})
    assert sent_fields(body) == ("buy", "xyzcea")
    assert sent_fields(json.dumps({"action": 1, "market": ["BTC"]})) == ("1", None)
    assert sent_fields(json.dumps({"market": "A" * 100}))[1] == "A" * (MAX_SHOWN - 1) + "…"
    assert sent_fields("not json") == (None, None) == sent_fields("[1]") == sent_fields(None)
    assert sent_fields(json.dumps({"market": True})) == (None, None)


@pytest.mark.parametrize(
    ("reason", "status", "sentence", "code"),
    [
        (
            "entry resting: the limit order waits on the book",
            "EXECUTED",
            "The limit order waits on the book",
            "",
        ),
        (
            "entry_cancelled: you cancelled the resting limit entry before it filled",
            "CANCELLED",
            "You cancelled the resting limit entry before it filled",
            "entry_cancelled",
        ),
    ],
)
def test_a_reason_that_is_already_a_sentence_is_said_once(
    reason: str, status: str, sentence: str, code: str
) -> None:
    why = explain(reason, status)
    assert (why.sentence, why.code) == (sentence, code)  # not "waiting on the book: ...waits on the book"
    assert not why.sentence.startswith("entry")
