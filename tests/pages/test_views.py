"""What the pages show, from service results: rows, the equity curve, history filters, status lines."""

from __future__ import annotations

import json
from dataclasses import replace
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal as D

import pytest

from trading_app.domain.masking import mask_body
from trading_app.pages import views
from trading_app.services.engine.manual import PnlSummary, PositionView
from trading_app.services.intake.signal_store import SignalRecord
from trading_app.venues.paper.book import SourceStatus

NOW = datetime(2025, 3, 1, 12, 0, tzinfo=UTC)


def view(
    n: int,
    pnl: str | None = None,
    *,
    market: str = "BTC-USD",
    side: str = "LONG",
    reason: str | None = "TAKE_PROFIT",
    closed: datetime | None = None,
    status: str = "CLOSED",
) -> PositionView:
    opened = NOW - timedelta(days=10 - n)
    return PositionView(
        id=n,
        network="paper",
        market=market,
        side=side,
        size=D("0.0100"),
        entry_price=D("65000"),
        mark_price=None,
        unrealized_pnl=None,
        tp_price=D("70000"),
        sl_price=D("60000"),
        status=status,
        opened_at=opened,
        closed_at=closed or (opened + timedelta(hours=2) if pnl is not None else None),
        exit_price=D("70000.5"),
        realized_pnl=D(pnl) if pnl is not None else None,
        fees=D("0.65"),
        close_reason=reason,
    )


def test_open_row_shows_every_column_as_text() -> None:
    live = replace(
        view(1),
        status="OPEN",
        mark_price=D("66000"),
        unrealized_pnl=D("10"),
        closed_at=None,
        opened_at=NOW - timedelta(hours=3, minutes=4),
    )
    row = views.open_row(live, NOW)
    assert row == {
        "id": "1",
        "market": "BTC-USD",
        "side": "LONG",
        "size": "0.01",
        "entry": "65,000",
        "mark": "66,000",
        "upnl": "+$10.00",
        "upnl_tone": "up",
        "tp": "70,000",
        "sl": "60,000",
        "age": "3h 4m",
        "opened": "2025-03-01 08:56:00 UTC",
        "status": "OPEN",
        "status_text": "Open",
    }
    assert all(isinstance(v, str) for v in row.values())  # no Decimal or float ever reaches the browser
    unknown = views.open_row(replace(live, mark_price=None, unrealized_pnl=None), NOW)
    assert (unknown["mark"], unknown["upnl"], unknown["upnl_tone"]) == ("—", "—", "none")


def test_closed_row_and_summary_texts() -> None:
    row = views.closed_row(view(2, "-4.5", reason="STOP_LOSS"))
    assert (row["exit"], row["pnl"], row["pnl_tone"], row["fees"], row["reason"], row["held"]) == (
        "70,000.5",
        "-$4.50",
        "down",
        "$0.65",
        "Stop loss",
        "2h 0m",
    )
    never = views.closed_row(view(3, None, reason=None, status="FAILED"))
    assert (never["pnl"], never["held"], never["reason"]) == ("—", "—", "—")
    summary = PnlSummary(
        realized=D("12.345"),
        unrealized=D("-1"),
        fees=D("3.1"),
        closed_trades=3,
        wins=2,
        losses=1,
        win_rate_pct=D("66.67"),
        open_positions=1,
    )
    texts = views.summary_texts(summary)
    assert texts["realized"] == "+$12.34" and texts["unrealized"] == "-$1.00" and texts["win_rate"] == "66.7%"
    assert texts["record"] == "2 won · 1 lost · 3 closed" and texts["open"] == "1"


def test_rows_show_prices_on_the_tick_sizes_on_the_step_and_money_in_cents() -> None:
    """The issue's raw decimals (an entry averaged over fills, a sub-cent PnL) on the market's grid."""
    grid = {"tick_size": D("0.1"), "step_size": D("0.001")}
    live = replace(
        view(1),
        status="OPEN",
        size=D("0.01"),
        entry_price=D("3412.134482758620689655"),
        mark_price=D("3415.27391"),
        unrealized_pnl=D("0.031394"),
        tp_price=D("3600"),
        sl_price=D("3300"),
        closed_at=None,
        **grid,
    )
    row = views.open_row(live, NOW)
    assert (row["size"], row["entry"], row["mark"], row["upnl"], row["tp"], row["sl"]) == (
        "0.010",
        "3,412.1",
        "3,415.3",
        "+$0.03",
        "3,600.0",
        "3,300.0",
    )
    closed = replace(
        view(2, "-0.125965", reason="STOP_LOSS"), exit_price=D("97260.6"), entry_price=D("97300"), **grid
    )
    row = views.closed_row(closed)
    assert (row["size"], row["entry"], row["exit"], row["pnl"]) == ("0.010", "97,300.0", "97,260.6", "-$0.13")
    assert row["closed_short"] == "02-21 14:00" and row["closed"] == "2025-02-21 14:00:00 UTC"
    never = views.closed_row(replace(closed, size=D(0), status="FAILED", exit_price=None))
    assert (never["size"], never["exit"]) == ("—", "—")


def test_equity_curve_labels_are_distinct_when_trades_close_in_the_same_minute() -> None:
    at = datetime(2025, 3, 1, 11, 30, 5, tzinfo=UTC)
    trades = [view(n, "1", closed=at + timedelta(seconds=s)) for n, s in ((1, 0), (2, 20), (3, 20), (4, 80))]
    labels = [p["label"] for p in views.equity_points(trades)]
    assert labels == ["start", "03-01 11:30", "03-01 11:30:25", "03-01 11:30:25 #2", "03-01 11:31"]


def test_equity_curve_is_cumulative_in_close_order_and_skips_unbooked_trades() -> None:
    first = view(1, "10", closed=NOW - timedelta(hours=5))
    second = view(2, "-4", closed=NOW - timedelta(hours=1))
    third = view(3, "2.5", closed=NOW - timedelta(hours=3))
    failed = view(4, None, status="FAILED")
    points = views.equity_points([second, failed, first, third])
    assert [p["equity"] for p in points] == [0.0, 10.0, 12.5, 8.5]
    assert [p["text"] for p in points] == ["$0.00", "+$10.00", "+$12.50", "+$8.50"]
    assert points[1]["label"] == "03-01 07:00"
    assert views.equity_points([failed]) == []


def test_history_filter_parses_the_form_and_matches_closed_trades() -> None:
    trades = [
        view(
            1,
            "5",
            market="ETH-USD",
            side="SHORT",
            reason="STOP_LOSS",
            closed=datetime(2025, 2, 10, 23, 59, tzinfo=UTC),
        ),
        view(2, "-3", closed=datetime(2025, 2, 11, 0, 0, tzinfo=UTC)),
        view(3, "7", reason="MANUAL", closed=datetime(2025, 2, 12, 8, 0, tzinfo=UTC)),
    ]
    every = views.HistoryFilter.parse("all", "all", "all", "", "")
    assert [t.id for t in trades if every.matches(t)] == [1, 2, 3]
    by_day = views.HistoryFilter.parse("", "all", "all", "2025-02-11", "2025-02-11")
    assert by_day.start == by_day.end == date(2025, 2, 11)
    assert [t.id for t in trades if by_day.matches(t)] == [2]  # both ends are whole UTC days
    assert [
        t.id for t in trades if views.HistoryFilter.parse("ETH-USD", "all", "all", "", "").matches(t)
    ] == [1]
    assert [
        t.id for t in trades if views.HistoryFilter.parse("all", "LONG", "MANUAL", "", "").matches(t)
    ] == [3]
    for bad in [
        ("all", "UP", "all", "", ""),
        ("all", "all", "BORED", "", ""),
        ("all", "all", "all", "2025-13-01", ""),
        ("all", "all", "all", "2025-02-12", "2025-02-11"),
    ]:
        with pytest.raises(views.FilterInvalid):
            views.HistoryFilter.parse(*bad)

    totals = views.history_totals([t for t in trades if every.matches(t)] + [view(4, None, status="FAILED")])
    assert totals == {
        "trades": "3",
        "record": "2 won · 1 lost",
        "win_rate": "66.7%",
        "realized": "+$9.00",
        "realized_tone": "up",
        "fees": "$1.95",
    }


def test_alert_row_masks_any_secret_left_in_the_payload() -> None:
    body = json.dumps(
        {"secret": "hunter2-long-secret", "action": "buy", "market": "BTC-USD", "api_key": "k-123456"}
    )
    record = SignalRecord(
        id=9,
        received_at=NOW,
        status="REJECTED",
        action="long",
        market="BTC-USD",
        reason="over the cap",
        position_id=None,
        payload=body,
        content_type="application/json",
        source_ip="52.89.214.238",
    )
    row = views.alert_row(record)
    assert "hunter2-long-secret" not in row["payload"] and "k-123456" not in row["payload"]
    assert json.loads(row["payload"])["secret"] == "***"  # noqa: S105 - the mask, not a secret
    assert (row["action"], row["status_text"], row["position"], row["received"]) == (
        "LONG",
        "Rejected",
        "",
        "2025-03-01 12:00:00 UTC",
    )
    assert views.alert_row(replace(record, position_id=4, action=None))["position"] == "4"


def test_the_page_masks_a_stored_payload_with_the_inbox_rule() -> None:
    # rows stored before a key was known to be a credential are shown masked, by the same rule
    payload = '{"action": "buy", "Binance API Key": "k-abcdefgh", "note": "key k-abcdefgh"}'
    record = SignalRecord(9, NOW, "REJECTED", None, None, None, None, payload, None, None)
    shown = views.alert_row(record)["payload"]
    assert "k-abcdefgh" not in shown and shown == mask_body(payload)
    assert json.loads(shown) == {"action": "buy", "Binance API Key": "***", "note": "key ***"}


def test_status_lines_for_price_source_and_monitor() -> None:
    live = SourceStatus(kind="indexer", source="http://idx", live=True, last_update=NOW)
    assert views.price_source_texts(live) == {
        "title": "dYdX indexer",
        "source": "http://idx",
        "state": "live",
        "detail": "updated 2025-03-01 12:00:00 UTC",
    }
    down = replace(live, live=False, last_error="VenueUnavailable: connection refused")
    assert views.price_source_texts(down)["state"] == "down"
    fresh = SourceStatus(kind="synthetic", source="synthetic(seed=0)", live=False, last_update=None)
    assert views.price_source_texts(fresh)["state"] == "waiting"
    assert views.price_source_texts(fresh)["source"] == "synthetic(seed=0)"
    keyed = replace(live, source="https://user:pa55@indexer.example:8443/v4?api_key=k3y")
    assert views.price_source_texts(keyed)["source"] == "https://indexer.example:8443/v4"

    base = {"running": True, "interval_seconds": 3.0, "started_at": (NOW - timedelta(minutes=5)).isoformat()}
    assert views.monitor_health({"running": False}, NOW)["state"] == "stopped"
    ok = views.monitor_health({**base, "last_tick_at": (NOW - timedelta(seconds=4)).isoformat()}, NOW)
    assert ok == {"state": "ok", "text": "Last check 4s ago", "at": "2025-03-01 11:59:56 UTC"}
    stale = views.monitor_health({**base, "last_tick_at": (NOW - timedelta(seconds=16)).isoformat()}, NOW)
    assert stale["state"] == "stale"
    assert views.monitor_health({**base, "last_tick_at": None}, NOW)["state"] == "stale"
    starting = {**base, "started_at": (NOW - timedelta(seconds=2)).isoformat(), "last_tick_at": None}
    assert views.monitor_health(starting, NOW)["state"] == "starting"
