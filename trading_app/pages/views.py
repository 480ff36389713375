"""From service results to what the pages show: rows of display strings, chart points, filters.

Pure functions (no I/O, no Reflex), so the pages stay thin and this is unit-tested directly.
Money stays Decimal until it becomes text here; only chart coordinates are floats (they
position a line on screen and are never read back).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from decimal import Decimal
from urllib.parse import urlsplit

from trading_app.components import format as fmt
from trading_app.domain import pnl
from trading_app.domain.enums import CloseReason, PositionSide
from trading_app.domain.masking import mask_body
from trading_app.services.engine.manual import PnlSummary, PositionView
from trading_app.services.intake.signal_store import SignalRecord
from trading_app.venues.paper.book import SourceStatus

Row = dict[str, str]


def open_row(view: PositionView, now: datetime) -> Row:
    """One open position: market, side, size, entry, mark, unrealized PnL, TP, SL, age.

    Prices are shown on the market's tick and the size on its step (money in cents).
    """
    tick = view.tick_size
    return {
        "id": str(view.id),
        "market": view.market,
        "side": view.side,
        "size": fmt.number(view.size, view.step_size),
        "entry": fmt.number(view.entry_price, tick),
        "mark": fmt.number(view.mark_price, tick),
        "upnl": fmt.money(view.unrealized_pnl, signed=True),
        "upnl_tone": fmt.tone(view.unrealized_pnl),
        "tp": fmt.number(view.tp_price, tick),
        "sl": fmt.number(view.sl_price, tick),
        "age": fmt.age(view.opened_at, now),
        "opened": fmt.when(view.opened_at),
        "status": view.status,
        "status_text": fmt.label(view.status),
    }


def closed_row(view: PositionView) -> Row:
    """One closed (or failed) position with its books."""
    held = fmt.age(view.opened_at, view.closed_at) if view.closed_at else fmt.DASH
    return {
        "id": str(view.id),
        "market": view.market,
        "side": view.side,
        # an entry that never filled has no size to show ("—", not "0.0000")
        "size": fmt.number(view.size, view.step_size) if view.size else fmt.DASH,
        "entry": fmt.number(view.entry_price, view.tick_size),
        "exit": fmt.number(view.exit_price, view.tick_size),
        "pnl": fmt.money(view.realized_pnl, signed=True),
        "pnl_tone": fmt.tone(view.realized_pnl),
        "fees": fmt.money(view.fees),
        "reason": fmt.label(view.close_reason),
        "opened": fmt.when(view.opened_at),
        "closed": fmt.when(view.closed_at),
        # the table's short form (the year and "UTC" are in the column's tooltip): fits 1280 px
        "closed_short": short_when(view.closed_at),
        "held": held,
        "status": view.status,
        "status_text": fmt.label(view.status),
    }


def summary_texts(summary: PnlSummary) -> Row:
    """The PnL summary cards."""
    return {
        "realized": fmt.money(summary.realized, signed=True),
        "realized_tone": fmt.tone(summary.realized),
        "unrealized": fmt.money(summary.unrealized, signed=True),
        "unrealized_tone": fmt.tone(summary.unrealized),
        "fees": fmt.money(summary.fees),
        "win_rate": fmt.percent(summary.win_rate_pct),
        "record": f"{summary.wins} won · {summary.losses} lost · {summary.closed_trades} closed",
        "open": str(summary.open_positions),
    }


def short_when(moment: datetime | None) -> str:
    """`01-31 14:05` (UTC), for narrow table columns; "—" for never."""
    return moment.astimezone(UTC).strftime("%m-%d %H:%M") if moment is not None else fmt.DASH


def _distinct(moment: datetime, seen: set[str]) -> str:
    """A time label no earlier point has: minutes, else seconds, else numbered (`14:05:03 #2`)."""
    moment = moment.astimezone(UTC)
    label = moment.strftime("%m-%d %H:%M")
    if label in seen:
        label = moment.strftime("%m-%d %H:%M:%S")
    base, n = label, 2
    while label in seen:
        label, n = f"{base} #{n}", n + 1
    seen.add(label)
    return label


def equity_points(closed: Iterable[PositionView]) -> list[dict[str, object]]:
    """Cumulative realized PnL after each closed trade, oldest first, starting at zero.

    Every point's time label is distinct (trades closed in the same minute show their seconds):
    the chart's category axis would otherwise repeat a label.
    """
    booked = sorted(
        (v for v in closed if v.realized_pnl is not None and v.closed_at is not None),
        key=lambda v: (v.closed_at, v.id),
    )
    if not booked:
        return []
    total = Decimal(0)
    points: list[dict[str, object]] = [{"label": "start", "equity": 0.0, "text": fmt.money(total)}]
    seen = {"start"}
    for view in booked:
        if view.realized_pnl is None or view.closed_at is None:  # never: filtered above (narrows the types)
            continue
        total += view.realized_pnl
        label = _distinct(view.closed_at, seen)
        points.append({"label": label, "equity": float(total), "text": fmt.money(total, signed=True)})
    return points


# -- history filters -----------------------------------------------------------------------
CLOSE_REASONS = [r.value for r in CloseReason]
SIDES = [s.value for s in PositionSide]
ALL = "all"


class FilterInvalid(ValueError):
    """A filter value the page cannot use; the message says which."""


@dataclass(frozen=True)
class HistoryFilter:
    """Which closed trades to show. Dates are UTC calendar days, both ends included."""

    market: str = ALL
    side: str = ALL
    reason: str = ALL
    start: date | None = None
    end: date | None = None

    @classmethod
    def parse(cls, market: str, side: str, reason: str, start: str, end: str) -> HistoryFilter:
        """From the form's strings. Raises FilterInvalid for an unknown value or a bad date range."""
        if side not in (ALL, *SIDES):
            raise FilterInvalid("Side must be long or short.")
        if reason not in (ALL, *CLOSE_REASONS):
            raise FilterInvalid("Unknown close reason.")
        try:
            first = date.fromisoformat(start) if start else None
            last = date.fromisoformat(end) if end else None
        except ValueError as e:
            raise FilterInvalid("Dates must be YYYY-MM-DD.") from e
        if first and last and first > last:
            raise FilterInvalid("The start date is after the end date.")
        return cls(market=market or ALL, side=side, reason=reason, start=first, end=last)

    def matches(self, view: PositionView) -> bool:
        """Does this closed trade pass every filter (by its close time, or open time if it never closed)?"""
        moment = (view.closed_at or view.opened_at).astimezone(UTC)
        return (
            self.market in (ALL, view.market)
            and self.side in (ALL, view.side)
            and self.reason in (ALL, view.close_reason)
            and (self.start is None or moment >= datetime.combine(self.start, time.min, UTC))
            and (self.end is None or moment < datetime.combine(self.end + timedelta(days=1), time.min, UTC))
        )


def history_totals(views: Sequence[PositionView]) -> Row:
    """Totals over the filtered trades: count, win rate, realized PnL and fees."""
    summary = pnl.summarize(views)
    return {
        "trades": str(summary.trades),
        "record": f"{summary.wins} won · {summary.losses} lost",
        "win_rate": fmt.percent(summary.win_rate_pct),
        "realized": fmt.money(summary.realized_total, signed=True),
        "realized_tone": fmt.tone(summary.realized_total),
        "fees": fmt.money(summary.fees_total),
    }


# -- alert log ----------------------------------------------------------------------------
def alert_row(record: SignalRecord) -> Row:
    """One alert: when, what it asked (as the trader wrote it), the payload (secret masked again,
    to be sure), the outcome and its reason in plain words with the code second."""
    sent_action, sent_market = record.sent
    why = record.explained
    # the ticker the trader wrote first; the one it trades as when that differs
    traded_as = record.market if record.market and sent_market and record.market != sent_market else ""
    return {
        "id": str(record.id),
        "received": fmt.when(record.received_at),
        "status": record.status,
        "status_text": fmt.label(record.status),
        "action": (record.action or sent_action or "").upper() or fmt.DASH,
        "market": sent_market or record.market or fmt.DASH,
        "traded_as": f"as {traded_as}" if traded_as else "",
        "reason": why.sentence,
        "reason_code": why.code,
        "position": str(record.position_id) if record.position_id is not None else "",
        "payload": mask_body(record.payload),
        "source_ip": record.source_ip or fmt.DASH,
    }


# -- status lines ---------------------------------------------------------------------------
STALE_TICKS = 3  # like the readiness check: stale after three missed intervals
STALE_FLOOR_SECONDS = 15.0


def price_source_texts(status: SourceStatus) -> Row:
    """Which price source the paper venue uses, and whether it is answering."""
    title = "dYdX indexer" if status.kind == "indexer" else "Synthetic prices"
    if status.live:
        state, detail = "live", f"updated {fmt.when(status.last_update)}"
    elif status.last_error:
        state, detail = "down", status.last_error
    else:
        state, detail = "waiting", "no price read yet"
    return {"title": title, "source": _public_url(status.source), "state": state, "detail": detail}


def _public_url(source: str) -> str:
    """The source without credentials an operator may have put in its URL (user:pass@, ?key=)."""
    parts = urlsplit(source)
    if not parts.scheme or not parts.hostname:
        return source
    port = f":{parts.port}" if parts.port else ""
    return f"{parts.scheme}://{parts.hostname}{port}{parts.path}"


def monitor_health(status: Mapping[str, object], now: datetime) -> Row:
    """The position monitor as the trader should see it: ok, starting, stale or stopped."""
    if not status.get("running"):
        return {"state": "stopped", "text": "Not running", "at": fmt.DASH}
    seconds = status.get("interval_seconds")
    interval = float(seconds) if isinstance(seconds, int | float | str) and seconds else 0.0
    stale_after = max(STALE_TICKS * interval, STALE_FLOOR_SECONDS)
    last = status.get("last_tick_at")
    if not last:
        started = datetime.fromisoformat(str(status.get("started_at")))
        state = "starting" if (now - started).total_seconds() <= stale_after else "stale"
        return {"state": state, "text": "Waiting for the first check", "at": fmt.DASH}
    at = datetime.fromisoformat(str(last))
    state = "ok" if (now - at).total_seconds() <= stale_after else "stale"
    return {"state": state, "text": f"Last check {fmt.age(at, now)} ago", "at": fmt.when(at)}
