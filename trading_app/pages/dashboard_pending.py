"""The dashboard's pending entries: limit orders resting on the book, each with a Cancel button.

They are not open positions (they hold nothing yet), so they have their own panel above the open
positions, shown only while there are some. The rows come from `DashboardState.pending`
(`pages.pending_rows`), reloaded with the rest of the dashboard when the live feed moves.
"""

from __future__ import annotations

import reflex as rx

from trading_app.components.badges import side_badge
from trading_app.components.dialogs import confirm
from trading_app.components.tables import cell, data_table, panel
from trading_app.pages.dashboard_state import DashboardState as S

PENDING_COLUMNS = [
    ("Market", "start"),
    ("Side", "start"),
    ("Size", "end"),
    ("Limit price", "end"),
    ("Take profit", "end"),
    ("Stop loss", "end"),
    ("Age", "end"),
    ("Expires in", "end"),
    ("", "end"),
]


def _cancel_button(row: rx.Var) -> rx.Component:
    busy = S.closing == row["id"]
    trigger = rx.button(
        rx.cond(busy, rx.spinner(size="1"), rx.icon("ban", size=14)),
        "Cancel",
        size="1",
        variant="soft",
        color_scheme="red",
        disabled=S.closing != "",
        aria_label="Cancel " + row["market"] + " pending entry",
        id="cancel-pending-" + row["id"],
    )
    return confirm(
        trigger,
        "Cancel the " + row["market"] + " entry?",
        "Your limit "
        + rx.cond(row["side"] == "LONG", "buy", "sell")
        + " of "
        + row["size"]
        + " at "
        + row["limit"]
        + " is cancelled on the exchange now. If part of it has filled meanwhile, that part stays open "
        "with its stop-loss and take-profit.",
        "Cancel entry",
        S.cancel_pending(row["id"]),
        confirm_id="confirm-cancel-" + row["id"],
        dismiss_label="Keep it",
    )


def _pending_row(row: rx.Var) -> rx.Component:
    return rx.table.row(
        cell(rx.text(row["market"], weight="medium")),
        cell(side_badge(row["side"])),
        cell(
            rx.cond(
                row["filled"] != "",
                rx.text(row["size"], rx.text.span(" (" + row["filled"] + " filled)", color_scheme="gray")),
                rx.text(row["size"]),
            ),
            "end",
        ),
        cell(rx.text(row["limit"], weight="medium"), "end", id="pending-limit-" + row["id"]),
        cell(row["tp"], "end", color="var(--green-11)"),
        cell(row["sl"], "end", color="var(--red-11)"),
        cell(rx.tooltip(rx.text(row["age"]), content="Placed " + row["placed"]), "end"),
        cell(rx.tooltip(rx.text(row["expires_in"]), content="Good til " + row["expires"]), "end"),
        cell(_cancel_button(row), "end"),
        id="pending-" + row["id"],
    )


def pending_panel() -> rx.Component:
    """Resting entries with their limit price, age, expiry and a Cancel button; hidden when none."""
    return rx.cond(
        S.pending.length() > 0,
        panel(
            "Pending entries",
            rx.text(
                "Limit orders waiting on the book. They become open positions, with their stop-loss and "
                "take-profit, when they fill.",
                size="2",
                color_scheme="gray",
            ),
            data_table(PENDING_COLUMNS, S.pending, _pending_row, rx.fragment(), "pending-entries"),
            id="pending-panel",
        ),
    )
