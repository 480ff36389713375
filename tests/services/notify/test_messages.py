"""Message builders: exact numbers, escaped outside values, Telegram-valid HTML within 4096 chars."""

from __future__ import annotations

from decimal import Decimal

import pytest

from tests.fakes.telegram_html import check_html
from trading_app.domain.enums import Network
from trading_app.services.notify.messages import (
    EntryCancelled,
    PositionClosed,
    PositionOpened,
    ProtectionFailed,
    SignalRejected,
    TradingError,
    fit,
    fmt_grid,
    fmt_number,
    fmt_usd,
    render,
)

EVIL = "<b>BTC&co</b> \"x\" 'y'"


def plain(html_text: str) -> str:
    text, problem = check_html(html_text)
    assert problem is None, problem
    return text


def all_events(value: str) -> list[object]:
    return [
        PositionOpened(
            Network.MAINNET, value, "long", Decimal("0.0100"), Decimal("64123.5"), "70000", "60000"
        ),
        PositionClosed(
            "testnet", value, "short", "2", "3000.25", value, Decimal("-12.3456"), Decimal("0.61")
        ),
        SignalRejected("paper", 42, value, value, detail=value),
        TradingError("paper", value, "position flattened", market=value, detail=value),
        ProtectionFailed("mainnet", value, "LONG", "1.5", value, flattened=True, detail=value),
        EntryCancelled("paper", value, "LONG", "1", "2", expired=False),
    ]


@pytest.mark.parametrize("event", all_events(EVIL), ids=lambda e: type(e).__name__)
def test_outside_values_are_escaped_and_shown_verbatim(event: object) -> None:
    text = render(event)  # type: ignore[arg-type]
    assert "<b>BTC" not in text  # the trader's markup never becomes ours
    assert "&lt;b&gt;BTC&amp;co&lt;/b&gt;" in text
    assert EVIL in plain(text)  # and Telegram shows exactly what came in


def test_opened_has_every_fact_and_badge() -> None:
    text = plain(render(PositionOpened("paper", "ETH-USD", "LONG", "0.5", "3000", "3300", "2900")))
    assert "PAPER" in text and "Opened LONG ETH-USD" in text
    for part in ("Size: 0.5", "Entry: 3,000", "Take-profit: 3,300", "Stop-loss: 2,900"):
        assert part in text
    no_tp = plain(render(PositionOpened("testnet", "ETH-USD", "SHORT", "1", "3000", None, "3100")))
    assert "TESTNET" in no_tp and "Take-profit: none" in no_tp


@pytest.mark.parametrize(
    ("pnl", "shown"),
    [(Decimal("12.3"), "+$12.30"), (Decimal("-1234.5"), "-$1,234.50"), (Decimal("0"), "$0.00"), (None, "—")],
)
def test_closed_shows_signed_pnl_fees_and_reason(pnl: Decimal | None, shown: str) -> None:
    event = PositionClosed(
        "mainnet", "BTC-USD", "LONG", "0.01", "65000", "TAKE_PROFIT", pnl, Decimal("0.0325")
    )
    text = plain(render(event))
    assert "MAINNET" in text and "take-profit hit" in text and "Exit: 65,000" in text
    assert f"Realized PnL: {shown}" in text
    assert "Fees: $0.03" in text  # money in cents, half-even


def test_prices_on_the_tick_sizes_on_the_step_money_in_cents() -> None:
    """The issue's texts: an averaged entry with a 20-digit tail, a sub-cent PnL."""
    opened = plain(
        render(
            PositionOpened(
                "paper", "ETH-USD", "LONG", Decimal("0.01"), Decimal("3412.134482758620689655"),
                Decimal("3600"), Decimal("3300"), tick=Decimal("0.1"), step=Decimal("0.001"),
            )
        )
    )
    for part in ("Size: 0.010", "Entry: 3,412.1", "Take-profit: 3,600.0", "Stop-loss: 3,300.0"):
        assert part in opened, opened
    closed = plain(
        render(
            PositionClosed(
                "paper", "BTC-USD", "LONG", Decimal("0.002"), Decimal("97260.64"), "STOP_LOSS",
                Decimal("-0.125965"), Decimal("0.004"), entry=Decimal("187.499924812030075188"),
                tick=Decimal("0.1"), step=Decimal("0.0001"),
            )
        )
    )
    for part in ("Size: 0.0020", "Entry: 187.5", "Exit: 97,260.6", "Realized PnL: -$0.13", "Fees: $0.00"):
        assert part in closed, closed
    failed = plain(render(ProtectionFailed("paper", "SOL-USD", "LONG", "3", "stop-loss", True, step="0.1")))
    assert "for 3.0." in failed


def test_rejected_names_the_alert_and_reason() -> None:
    text = plain(render(SignalRejected("paper", 17, "BTC-USD", "max_open_positions", "10 already open")))
    assert (
        "Alert #17 rejected — BTC-USD" in text and "max_open_positions" in text and "10 already open" in text
    )
    assert "Alert rejected" in plain(render(SignalRejected("paper", None, None, "bad_json")))


def test_error_and_protection_failure_say_what_we_did() -> None:
    text = plain(render(TradingError("mainnet", "placing the stop-loss", "position flattened", "SOL-USD")))
    assert "What failed: placing the stop-loss" in text and "What we did: position flattened" in text
    ok = plain(render(ProtectionFailed("mainnet", "SOL-USD", "SHORT", "3", "stop-loss", flattened=True)))
    assert "flattened" in ok and "FAILED" not in ok
    bad = plain(render(ProtectionFailed("mainnet", "SOL-USD", "SHORT", "3", "stop-loss", flattened=False)))
    assert "Flattening FAILED" in bad and "Check the exchange now" in bad


def test_numbers_are_exact_and_never_float() -> None:
    assert fmt_number(Decimal("64123.50")) == "64,123.5"
    assert fmt_number("0.000012345") == "0.000012345"
    assert fmt_number(Decimal("1E+3")) == "1,000"
    assert fmt_number(Decimal("-0.1234567890123"), max_places=10) == "-0.123456789"
    assert fmt_usd(Decimal("0.1")) == "$0.10" and fmt_usd("-0.0000001") == "$0.00"
    assert fmt_usd(Decimal("-0.125965"), signed=True) == "-$0.13"
    assert fmt_usd(Decimal("0.004"), signed=True) == "$0.00"  # nothing to sign once in cents
    assert fmt_grid(Decimal("3000"), Decimal("0.1")) == "3,000.0" and fmt_grid("7", None) == "7"
    assert fmt_usd(Decimal("5"), signed=True) == "+$5.00"
    with pytest.raises(TypeError):
        fmt_number(1.5)  # type: ignore[arg-type]
    with pytest.raises(ValueError):
        fmt_usd("NaN")


def test_long_texts_fit_one_message_without_breaking_html() -> None:
    text = render("x&<" * 3000)  # plain text is escaped whole, then shortened
    assert len(text.encode("utf-16-le")) // 2 <= 4096
    assert plain(text).endswith("…")
    tagged = fit("<b>" + "a&amp;" * 2000 + "</b>", limit=100)
    assert len(tagged) <= 100 and tagged.endswith("…</b>")
    plain(tagged)
    event = TradingError("paper", "y" * 10_000, "z" * 10_000, detail="😀" * 5000)
    assert len(render(event).encode("utf-16-le")) // 2 <= 4096
    plain(render(event))


def test_an_entry_cancelled_without_the_trader_says_why_and_that_nothing_opened() -> None:
    event = EntryCancelled("paper", "BTC-USD", "LONG", Decimal("0.01"), Decimal("60000"), expired=True)
    expired = plain(render(event))
    assert "BTC-USD" in expired and "limit long entry of 0.01 at 60,000 expired" in expired
    assert "Nothing was opened" in expired and "PAPER" in expired
    by_hand = plain(render(EntryCancelled("mainnet", EVIL, "SHORT", "2", "150.5", False)))
    assert "was cancelled on the exchange" in by_hand and EVIL in by_hand
