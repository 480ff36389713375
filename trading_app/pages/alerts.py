"""`/alerts`: every alert the trader's webhook received, newest first, with what became of it.

Register with `on_load=[AuthState.require_login, WalletFeed.link, AlertsState.load]`. Payloads
are shown as stored (secrets already masked at the door) and masked once more before display.
Pages go backwards with the service's `before` cursor; the cursors of the pages seen so far
are kept server-side so "Newer" returns exactly.
"""

from __future__ import annotations

import logging

import reflex as rx
from reflex.event import EventSpec

from trading_app.components.badges import status_badge
from trading_app.components.layout import app_shell, page_header
from trading_app.components.tables import cell, data_table, empty_state, panel
from trading_app.pages import views
from trading_app.pages.live import feed_watcher
from trading_app.services.intake.signal_store import list_signals
from trading_app.state import LOGIN_ROUTE, verified_address

log = logging.getLogger(__name__)

PAGE_SIZE = 25
COLUMNS = [
    ("Received", "start"),
    ("Outcome", "start"),
    ("Alert", "start"),
    ("Reason", "start"),
    ("Position", "start"),
    ("Payload", "start"),
]


class AlertsState(rx.State):
    """One page of the alert log."""

    loaded: bool = False
    rows: list[dict[str, str]] = []
    page: int = 1
    has_older: bool = False
    error: str = ""
    # the `before` cursor of every page seen, page 1 first (None = the newest alerts)
    _cursors: list[int | None] = [None]
    _next_before: int | None = None

    async def _show(self, page: int) -> EventSpec | None:
        address = await verified_address(self)
        if address is None:
            return rx.redirect(LOGIN_ROUTE, replace=True)
        try:
            result = await list_signals(address, limit=PAGE_SIZE, before=self._cursors[page - 1])
        except Exception:  # noqa: BLE001 - keep the last good page
            log.exception("alert log load failed")
            self.error = "Could not load your alerts just now. Try again in a moment."
            return None
        self.page, self.rows, self.error, self.loaded = (
            page,
            [views.alert_row(r) for r in result.items],
            "",
            True,
        )
        self._next_before, self.has_older = result.next_before, result.next_before is not None
        return None

    @rx.event
    async def load(self):
        """`on_load`: the newest page."""
        self._cursors = [None]
        return await self._show(1)

    @rx.event
    async def refresh(self):
        """The live feed moved: re-read the page being looked at (new alerts land on page 1)."""
        return await self._show(self.page)

    @rx.event
    async def older(self):
        """The next page back in time."""
        if self._next_before is None:
            return None
        # reassigned, not mutated in place: the state store saves what was assigned
        self._cursors = [*self._cursors[: self.page], self._next_before]
        return await self._show(self.page + 1)

    @rx.event
    async def newer(self):
        """The previous page (towards the newest alerts)."""
        if self.page <= 1:
            return None
        return await self._show(self.page - 1)


def _outcome(row: rx.Var) -> rx.Component:
    return status_badge(row["status"], row["status_text"])


def _position(row: rx.Var) -> rx.Component:
    return rx.cond(
        row["position"] != "",
        rx.link("#" + row["position"], href="/history", size="2"),
        rx.text("—", color_scheme="gray"),
    )


def _payload(row: rx.Var) -> rx.Component:
    return rx.popover.root(
        rx.popover.trigger(
            rx.button(
                rx.icon("braces", size=13),
                "View",
                size="1",
                variant="ghost",
                aria_label="Payload of alert " + row["id"],
            )
        ),
        rx.popover.content(
            rx.vstack(
                rx.text(
                    "Payload as received (secrets masked)", size="1", weight="medium", color_scheme="gray"
                ),
                rx.code_block(
                    row["payload"],
                    language="json",
                    wrap_long_lines=True,
                    width="100%",
                    custom_style={"fontSize": "12px", "margin": "0"},
                ),
                rx.text("From ", row["source_ip"], size="1", color_scheme="gray"),
                spacing="2",
            ),
            max_width="36em",
        ),
    )


def _alert(row: rx.Var) -> rx.Component:
    # what the trader wrote; the ticker it trades as underneath when that differs
    return rx.vstack(
        rx.link(  # the alert's story: every phase, order and number behind this row
            rx.text(row["action"], " ", row["market"], weight="medium", size="2", class_name="alert-sent"),
            href="/alerts/" + row["id"],
            aria_label="Story of alert " + row["id"],
        ),
        rx.cond(row["traded_as"] != "", rx.text(row["traded_as"], size="1", color_scheme="gray")),
        spacing="0",
    )


def _reason(row: rx.Var) -> rx.Component:
    # the plain sentence first, the code second (for support and for searching)
    return rx.vstack(
        rx.text(row["reason"], size="1", style={"overflowWrap": "anywhere"}, class_name="alert-reason"),
        rx.cond(
            row["reason_code"] != "",
            rx.code(
                row["reason_code"], size="1", color_scheme="gray", variant="ghost", class_name="alert-code"
            ),
        ),
        spacing="1",
    )


def _row(row: rx.Var) -> rx.Component:
    return rx.table.row(
        cell(rx.text(row["received"], size="1")),
        cell(_outcome(row)),
        cell(_alert(row)),
        rx.table.cell(_reason(row), min_width="14em", max_width="28em"),
        cell(_position(row)),
        cell(_payload(row)),
        id="alert-" + row["id"],
    )


def _pager() -> rx.Component:
    S = AlertsState
    return rx.hstack(
        rx.button(
            rx.icon("chevron_left", size=14),
            "Newer",
            on_click=S.newer,
            disabled=S.page <= 1,
            variant="soft",
            size="2",
            id="alerts-newer",
        ),
        rx.text("Page ", S.page, size="2", color_scheme="gray", id="alerts-page"),
        rx.button(
            "Older",
            rx.icon("chevron_right", size=14),
            on_click=S.older,
            disabled=~S.has_older,
            variant="soft",
            size="2",
            id="alerts-older",
        ),
        spacing="3",
        align="center",
        justify="end",
        width="100%",
    )


def alerts_page() -> rx.Component:
    """The page at `/alerts`."""
    S = AlertsState
    empty = empty_state(
        "bell_off",
        "No alerts yet",
        "Every alert your webhook receives is listed here, accepted or rejected, with the reason.",
        id="no-alerts",
    )
    return app_shell(
        "alerts",
        feed_watcher(S.refresh),
        page_header("Alert log", "Every alert your webhook received, newest first, and what became of it."),
        rx.cond(
            S.error != "",
            rx.callout(S.error, icon="triangle_alert", color_scheme="red", role="alert", width="100%"),
        ),
        panel("Alerts", data_table(COLUMNS, S.rows, _row, empty, "alert-log"), _pager()),
    )
