"""Pending entries as the dashboard shows them, and close-all's result message."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime, timedelta
from decimal import Decimal as D

from tests.pages.test_views import view
from trading_app.pages.pending_rows import close_all_text, pending_row
from trading_app.services.engine.pending import PendingView

NOW = datetime(2025, 3, 1, 12, 0, tzinfo=UTC)


def resting(**changes: object) -> PendingView:
    placed = NOW - timedelta(minutes=5)
    base = PendingView(
        id=7,
        network="paper",
        market="BTC-USD",
        side="LONG",
        order_type="LIMIT",
        size=D("0.0100"),
        filled=D(0),
        limit_price=D("60000.50"),
        tp_price=D("70000"),
        sl_price=D("55000"),
        created_at=placed,
        expires_at=placed + timedelta(hours=24),
        status="OPENING",
    )
    return replace(base, **changes)  # type: ignore[arg-type]


def test_a_pending_row_shows_the_limit_price_age_and_expiry() -> None:
    row = pending_row(resting(), NOW)
    assert row["id"] == "7" and row["market"] == "BTC-USD" and row["side"] == "LONG"
    assert (row["size"], row["filled"], row["limit"]) == ("0.01", "", "60,000.5")
    assert (row["tp"], row["sl"]) == ("70,000", "55,000")
    assert (row["age"], row["expires_in"]) == ("5m", "23h 55m")
    assert row["expires"] == "2025-03-02 11:55:00 UTC" and row["placed"] == "2025-03-01 11:55:00 UTC"


def test_a_part_fill_a_market_entry_and_a_passed_expiry() -> None:
    assert pending_row(resting(filled=D("0.004")), NOW)["filled"] == "0.004"
    market = pending_row(resting(order_type="MARKET", limit_price=None, expires_at=None), NOW)
    assert (market["limit"], market["expires_in"], market["expires"]) == ("Market", "—", "—")
    assert pending_row(resting(expires_at=NOW - timedelta(seconds=1)), NOW)["expires_in"] == "—"


def test_close_all_says_what_it_closed_and_what_it_cancelled() -> None:
    closed = [view(1, "12.5"), view(2, "-2.25")]
    cancelled = [replace(view(3, None), status="CANCELLED", close_reason="MANUAL")]
    assert close_all_text(closed) == "Closed 2 positions: realized +$10.25."
    assert close_all_text(cancelled) == "Cancelled 1 pending entry."
    assert close_all_text(closed[:1] + cancelled * 2) == (
        "Closed 1 position: realized +$12.50. Cancelled 2 pending entries."
    )
    assert close_all_text([]) == "There was nothing to close."
