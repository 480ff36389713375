"""The panels of `/dashboard`: status line, PnL cards, open positions, equity curve, recent alerts."""

from __future__ import annotations

import reflex as rx

from trading_app.components.badges import network_badge, pnl_text, side_badge, status_badge
from trading_app.components.charts import equity_curve
from trading_app.components.dialogs import confirm
from trading_app.components.tables import cell, data_table, empty_state, panel, stat_card
from trading_app.pages.dashboard_levels import scale_row
from trading_app.pages.dashboard_state import DashboardState as S
from trading_app.pages.live import WalletFeed

POSITION_COLUMNS = [
    ("Market", "start"),
    ("Side", "start"),
    ("Size", "end"),
    ("Entry", "end"),
    ("Mark", "end"),
    ("Unrealized PnL", "end"),
    ("Take profit", "end"),
    ("Stop loss", "end"),
    ("Age", "end"),
    ("", "end"),
]
HEALTH_COLORS = (("ok", "green"), ("starting", "blue"), ("stale", "amber"), ("stopped", "red"))
SOURCE_COLORS = (("live", "green"), ("waiting", "gray"), ("down", "red"))


def _status_item(label: str, *content: rx.Component, **props: object) -> rx.Component:
    return rx.hstack(
        rx.text(label, size="1", color_scheme="gray", weight="medium"),
        *content,
        spacing="2",
        align="center",
        **props,
    )


def status_line() -> rx.Component:
    """Where orders go, where paper prices come from, the monitor's health, and the live feed."""
    source = rx.hstack(
        rx.badge(
            S.price_source["state"],
            color_scheme=rx.match(S.price_source["state"], *SOURCE_COLORS, "gray"),
            variant="soft",
        ),
        rx.tooltip(
            rx.text(S.price_source["title"], size="2"),
            content=S.price_source["source"] + " · " + S.price_source["detail"],
        ),
        spacing="2",
        align="center",
    )
    monitor = rx.hstack(
        rx.badge(
            S.monitor["state"],
            color_scheme=rx.match(S.monitor["state"], *HEALTH_COLORS, "gray"),
            variant="soft",
            id="monitor-state",
        ),
        rx.tooltip(rx.text(S.monitor["text"], size="2"), content=S.monitor["at"]),
        spacing="2",
        align="center",
    )
    return rx.card(
        rx.flex(
            _status_item("Network", network_badge(S.network, id="network-badge")),
            rx.cond(S.network == "paper", _status_item("Paper prices", source, id="price-source")),
            _status_item("Monitor", monitor, id="monitor-health"),
            rx.spacer(),
            rx.hstack(
                rx.box(
                    width="8px",
                    height="8px",
                    border_radius="50%",
                    background="var(--green-9)",
                    class_name="live-dot",
                ),
                rx.text(
                    rx.cond(
                        WalletFeed.last_event != "",
                        WalletFeed.last_event + " at " + WalletFeed.last_event_at,
                        "Live",
                    ),
                    size="1",
                    color_scheme="gray",
                    id="live-status",
                ),
                rx.text("· refreshed ", S.updated_at, size="1", color_scheme="gray"),
                spacing="2",
                align="center",
            ),
            spacing="5",
            wrap="wrap",
            align="center",
        ),
        size="1",
        width="100%",
    )


def summary_cards() -> rx.Component:
    """Realized and unrealized PnL, win rate, fees."""
    return rx.grid(
        stat_card(
            "Realized PnL",
            pnl_text(S.summary["realized"], S.summary["realized_tone"], size="6", id="summary-realized"),
            S.summary["record"],
        ),
        stat_card(
            "Unrealized PnL",
            pnl_text(
                S.summary["unrealized"], S.summary["unrealized_tone"], size="6", id="summary-unrealized"
            ),
            rx.text(S.summary["open"], " open", size="1", color_scheme="gray"),
        ),
        stat_card(
            "Win rate",
            rx.text(S.summary["win_rate"], size="6", weight="medium", id="summary-win-rate"),
            "Closed trades with a profit",
        ),
        stat_card(
            "Fees paid",
            rx.text(S.summary["fees"], size="6", weight="medium", id="summary-fees"),
            "Open and closed positions",
        ),
        columns=rx.breakpoints(initial="2", md="4"),
        spacing="4",
        width="100%",
    )


def _close_button(row: rx.Var) -> rx.Component:
    busy = S.closing == row["id"]
    trigger = rx.button(
        rx.cond(busy, rx.spinner(size="1"), rx.icon("x", size=14)),
        "Close",
        size="1",
        variant="soft",
        color_scheme="red",
        disabled=S.closing != "",
        aria_label="Close " + row["market"] + " position",
    )
    return confirm(
        trigger,
        "Close " + row["market"] + "?",
        "Your "
        + row["side"].lower()
        + " of "
        + row["size"]
        + " is closed at market now, and its take-profit "
        "and stop-loss orders are cancelled.",
        "Close position",
        S.close_position(row["id"]),
        confirm_id="confirm-close-" + row["id"],
    )


def _position_row(row: rx.Var) -> rx.Component:
    # a scaled position has a second row under it: its levels, stop and stop history
    return rx.fragment(_position_main_row(row), scale_row(row))


def _position_main_row(row: rx.Var) -> rx.Component:
    return rx.table.row(
        cell(rx.text(row["market"], weight="medium")),
        cell(side_badge(row["side"])),
        cell(row["size"], "end"),
        cell(row["entry"], "end"),
        cell(row["mark"], "end"),
        cell(pnl_text(row["upnl"], row["upnl_tone"], size="2"), "end"),
        cell(row["tp"], "end", color="var(--green-11)"),
        cell(row["sl"], "end", color="var(--red-11)"),
        cell(rx.tooltip(rx.text(row["age"]), content="Opened " + row["opened"]), "end"),
        cell(
            rx.cond(
                row["status"] == "OPEN", _close_button(row), status_badge(row["status"], row["status_text"])
            ),
            "end",
        ),
        id="position-" + row["id"],
    )


def _notice() -> rx.Component:
    # goes by itself at the first reload a few seconds later (dashboard_state.NOTICE_SECONDS)
    return rx.cond(
        S.notice != "",
        rx.hstack(
            rx.callout(
                S.notice,
                icon=rx.cond(S.notice_ok, "circle_check", "triangle_alert"),
                color_scheme=rx.cond(S.notice_ok, "green", "red"),
                role="status",
                id="close-result",
                flex="1",
            ),
            rx.icon_button(
                rx.icon("x", size=14),
                on_click=S.dismiss_notice,
                variant="ghost",
                color_scheme="gray",
                size="1",
                aria_label="Dismiss",
                id="dismiss-notice",
            ),
            align="center",
            width="100%",
        ),
    )


def positions_panel() -> rx.Component:
    """Open positions with a close button each, and close-all."""
    close_all = confirm(
        rx.button(
            rx.cond(S.closing == "all", rx.spinner(size="1"), rx.icon("octagon_x", size=14)),
            "Close all",
            size="2",
            variant="soft",
            color_scheme="red",
            disabled=(S.closing != "") | ((S.positions.length() == 0) & (S.pending.length() == 0)),
            id="close-all",
        ),
        "Close every open position and pending entry?",
        "All your positions on this network are closed at market now, and their take-profit and stop-loss "
        "orders are cancelled. Every pending entry (a limit order still resting on the book) is cancelled "
        "too.",
        "Close all",
        S.close_all,
        confirm_id="confirm-close-all",
    )
    empty = empty_state(
        "inbox",
        "No open positions",
        "When an alert arrives at your webhook, the position it opens shows up here by itself.",
        id="no-positions",
    )
    return panel(
        "Open positions",
        _notice(),
        data_table(POSITION_COLUMNS, S.positions, _position_row, empty, "open-positions"),
        action=close_all,
        id="positions-panel",
    )


def equity_panel() -> rx.Component:
    """Cumulative realized PnL over closed trades."""
    empty = empty_state(
        "chart_line", "No closed trades yet", "Your equity curve starts with the first closed trade."
    )
    return panel(
        "Equity curve",
        rx.cond(S.equity.length() > 0, equity_curve(S.equity, id="equity-chart"), empty),
        action=rx.link("Trade history", href="/history", size="2"),
        id="equity-panel",
    )


def _alert_item(row: rx.Var) -> rx.Component:
    return rx.hstack(
        status_badge(row["status"], row["status_text"]),
        rx.vstack(
            rx.link(
                rx.text(row["action"], " ", row["market"], size="2", weight="medium"),
                href="/alerts/" + row["id"],
                aria_label="Story of alert " + row["id"],
            ),
            rx.text(row["received"], size="1", color_scheme="gray"),
            rx.cond(
                row["reason"] != "",
                rx.text(
                    row["reason"],
                    size="1",
                    color_scheme="gray",
                    trim="both",
                    style={"overflowWrap": "anywhere"},
                ),
            ),
            spacing="0",
            min_width="0",
        ),
        spacing="3",
        align="start",
        width="100%",
        padding_y="0.4em",
        border_bottom="1px solid var(--gray-a3)",
    )


def alerts_panel() -> rx.Component:
    """The latest alerts and what became of them."""
    empty = empty_state(
        "bell_off", "No alerts yet", "Alerts sent to your webhook appear here with their outcome."
    )
    return panel(
        "Recent alerts",
        rx.cond(
            S.alerts.length() > 0,
            rx.vstack(rx.foreach(S.alerts, _alert_item), spacing="0", width="100%"),
            empty,
        ),
        action=rx.link("All alerts", href="/alerts", size="2", id="all-alerts-link"),
        id="alerts-panel",
    )
