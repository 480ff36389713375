"""`/history`: the trader's closed trades, filtered by market, side, close reason and date, with
totals for the filter. Register with `on_load=[AuthState.require_login, WalletFeed.link, HistoryState.load]`.
"""

from __future__ import annotations

import logging

import reflex as rx
from reflex.event import EventSpec

from trading_app.components.badges import pnl_text, side_badge, status_badge
from trading_app.components.format import label
from trading_app.components.layout import app_shell, page_header
from trading_app.components.tables import cell, data_table, empty_state, panel, stat_card
from trading_app.pages import views
from trading_app.pages.live import feed_watcher
from trading_app.services.engine import manual
from trading_app.state import LOGIN_ROUTE, verified_address

log = logging.getLogger(__name__)

COLUMNS = [
    ("Closed (UTC)", "start"),
    ("Market", "start"),
    ("Side", "start"),
    ("Size", "end"),
    ("Entry", "end"),
    ("Exit", "end"),
    ("Realized PnL", "end"),
    ("Fees", "end"),
    ("Reason", "start"),
    ("Held", "end"),
]
FILTERS = ("market", "side", "reason", "start", "end")


class HistoryState(rx.State):
    """The filter form and the trades it selects."""

    loaded: bool = False
    market: str = views.ALL
    side: str = views.ALL
    reason: str = views.ALL
    start: str = ""
    end: str = ""
    markets: list[str] = []
    rows: list[dict[str, str]] = []
    totals: dict[str, str] = {}
    error: str = ""
    capped: bool = False

    async def _load(self) -> EventSpec | None:
        address = await verified_address(self)
        if address is None:
            return rx.redirect(LOGIN_ROUTE, replace=True)
        try:
            wanted = views.HistoryFilter.parse(self.market, self.side, self.reason, self.start, self.end)
        except views.FilterInvalid as e:
            self.error = str(e)
            return None
        try:
            closed = await manual.list_positions(address, "closed", limit=manual.MAX_ROWS)
        except Exception:  # noqa: BLE001 - keep the last good view
            log.exception("history load failed")
            self.error = "Could not load your trades just now. Try again in a moment."
            return None
        selected = [v for v in closed if wanted.matches(v)]
        self.markets = sorted({v.market for v in closed})
        self.rows = [views.closed_row(v) for v in selected]
        self.totals = views.history_totals(selected)
        self.capped = len(closed) >= manual.MAX_ROWS
        self.error = ""
        self.loaded = True
        return None

    @rx.event
    async def load(self):
        """`on_load`, the live feed, and every filter change."""
        return await self._load()

    @rx.event
    async def set_filter(self, field: str, value: str):
        """Change one filter and reload (unknown fields are ignored)."""
        if field in FILTERS:
            setattr(self, field, value)
        return await self._load()

    @rx.event
    async def clear_filters(self):
        """Back to every closed trade."""
        self.market = self.side = self.reason = views.ALL
        self.start = self.end = ""
        return await self._load()


def _select(field: str, text: str, value: rx.Var, options: list[tuple[str, str]] | rx.Var) -> rx.Component:
    if isinstance(options, rx.Var):
        items = [
            rx.select.item("All markets", value=views.ALL),
            rx.foreach(options, lambda m: rx.select.item(m, value=m)),
        ]
    else:
        items = [rx.select.item(name, value=key) for key, name in options]
    return rx.vstack(
        rx.el.label(
            rx.text(text, size="1", weight="medium", color_scheme="gray"), html_for=f"filter-{field}"
        ),
        rx.select.root(
            rx.select.trigger(id=f"filter-{field}", width="100%", aria_label=text),
            rx.select.content(*items),
            value=value,
            on_change=HistoryState.set_filter(field),
        ),
        spacing="1",
        width="100%",
    )


def _date(field: str, text: str, value: rx.Var) -> rx.Component:
    return rx.vstack(
        rx.el.label(
            rx.text(text, size="1", weight="medium", color_scheme="gray"), html_for=f"filter-{field}"
        ),
        rx.input(
            type="date",
            id=f"filter-{field}",
            value=value,
            on_change=HistoryState.set_filter(field),
            width="100%",
        ),
        spacing="1",
        width="100%",
    )


def _filters() -> rx.Component:
    S = HistoryState
    sides = [(views.ALL, "Long and short"), ("LONG", "Long"), ("SHORT", "Short")]
    reasons = [(views.ALL, "Any reason")] + [(r, label(r)) for r in views.CLOSE_REASONS]
    return rx.card(
        rx.vstack(
            rx.grid(
                _select("market", "Market", S.market, S.markets),
                _select("side", "Side", S.side, sides),
                _select("reason", "Close reason", S.reason, reasons),
                _date("start", "From (UTC)", S.start),
                _date("end", "To (UTC)", S.end),
                columns=rx.breakpoints(initial="2", md="5"),
                spacing="3",
                width="100%",
            ),
            rx.hstack(
                rx.cond(
                    S.error != "",
                    rx.text(S.error, color_scheme="red", size="2", role="alert", id="history-error"),
                ),
                rx.spacer(),
                rx.button("Clear filters", on_click=S.clear_filters, variant="ghost", size="1"),
                width="100%",
                align="center",
            ),
            spacing="2",
            width="100%",
        ),
        size="2",
        width="100%",
        id="history-filters",
    )


def _totals() -> rx.Component:
    t = HistoryState.totals
    return rx.grid(
        stat_card(
            "Trades", rx.text(t["trades"], size="6", weight="medium", id="history-trades"), t["record"]
        ),
        stat_card(
            "Realized PnL", pnl_text(t["realized"], t["realized_tone"], size="6", id="history-realized")
        ),
        stat_card("Win rate", rx.text(t["win_rate"], size="6", weight="medium", id="history-win-rate")),
        stat_card("Fees", rx.text(t["fees"], size="6", weight="medium", id="history-fees")),
        columns=rx.breakpoints(initial="2", md="4"),
        spacing="4",
        width="100%",
    )


def _row(row: rx.Var) -> rx.Component:
    # fits 1280 px: the close time short (the full one in its tooltip)
    return rx.table.row(
        cell(rx.tooltip(rx.text(row["closed_short"], size="1"), content=row["closed"])),
        cell(rx.text(row["market"], weight="medium")),
        cell(side_badge(row["side"])),
        cell(row["size"], "end"),
        cell(row["entry"], "end"),
        cell(row["exit"], "end"),
        cell(pnl_text(row["pnl"], row["pnl_tone"], size="2"), "end"),
        cell(row["fees"], "end"),
        cell(
            rx.match(
                row["status"],
                ("FAILED", status_badge(row["status"], "Never filled")),
                # a resting entry cancelled (or expired) unfilled: no trade, say so and why
                ("CANCELLED", rx.tooltip(status_badge(row["status"], "Cancelled"), content=row["reason"])),
                rx.text(row["reason"]),
            )
        ),
        cell(row["held"], "end"),
        id="trade-" + row["id"],
    )


def history_page() -> rx.Component:
    """The page at `/history`."""
    empty = empty_state(
        "history", "No trades match", "Closed trades appear here. Try clearing the filters.", id="no-trades"
    )
    return app_shell(
        "history",
        feed_watcher(HistoryState.load),
        page_header("Trade history", "Every closed position with its realized PnL and why it closed."),
        _filters(),
        _totals(),
        panel(
            "Closed trades",
            data_table(COLUMNS, HistoryState.rows, _row, empty, "closed-trades"),
            rx.cond(
                HistoryState.capped,
                rx.text(
                    f"Showing your latest {manual.MAX_ROWS} closed trades.", size="1", color_scheme="gray"
                ),
            ),
        ),
    )
