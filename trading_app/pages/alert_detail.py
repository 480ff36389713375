"""`/alerts/[signal_id]`: the story of one alert, without reading logs.

What arrived (the body, masked), what it asked (the parsed alert), how it was sized (the numbers
the risk step used at the time, as stored), every order placed for it with its venue id and
state, and the time of each phase from arrival to the push. A route rather than a dialog, so a
trader can link to it. Register with `on_load=[AuthState.require_login, WalletFeed.link,
AlertDetailState.load]`; it re-reads itself when the trader's feed moves (an alert still
executing fills in while it is looked at). Another trader's alert id is "not found".
"""

from __future__ import annotations

import logging

import reflex as rx
from reflex.event import EventSpec

from trading_app.components.badges import status_badge
from trading_app.components.layout import app_shell, page_header
from trading_app.components.tables import cell, data_table, empty_state, panel
from trading_app.pages import alert_story_views as views
from trading_app.pages.live import feed_watcher
from trading_app.services.engine.alert_story import alert_story
from trading_app.services.engine.scale_view import levels_for
from trading_app.state import LOGIN_ROUTE, verified_address

log = logging.getLogger(__name__)

ROUTE = "/alerts/[signal_id]"
ORDER_COLUMNS = [
    ("Order", "start"),
    ("Type", "start"),
    ("Side", "start"),
    ("Size", "end"),
    ("Limit / worst", "end"),
    ("Trigger", "end"),
    ("Filled", "end"),
    ("Avg fill", "end"),
    ("State", "start"),
    ("Venue id", "start"),
]
STOP_COLUMNS = [("Time", "start"), ("From", "end"), ("To", "end"), ("Why", "start"), ("Outcome", "start")]
STEP_COLUMNS = [("Phase", "start"), ("Time", "start"), ("After arrival", "end"), ("Detail", "start")]


def _id_from_path(path: str) -> int | None:
    tail = path.rstrip("/").rsplit("/", 1)[-1]
    return int(tail) if tail.isascii() and tail.isdigit() and 0 < len(tail) < 19 else None


class AlertDetailState(rx.State):
    """The story of the alert named by the route."""

    loaded: bool = False
    found: bool = False
    error: str = ""
    head: dict[str, str] = {}
    payload: str = ""
    parsed: list[dict[str, str]] = []
    sizing: list[dict[str, str]] = []
    orders: list[dict[str, str]] = []
    steps: list[dict[str, str]] = []
    stop_history: list[dict[str, str]] = []  # a scaled position's stop moves (see `scale_rows`)

    async def _show(self) -> EventSpec | None:
        address = await verified_address(self)
        if address is None:
            return rx.redirect(LOGIN_ROUTE, replace=True)
        signal_id = _id_from_path(self.router.url.path)
        try:
            story = await alert_story(address, signal_id) if signal_id is not None else None
            ids = {story.position_id, *(o.position_id for o in story.orders)} if story else set()
            scales = await levels_for(address, [i for i in ids if i is not None])
        except Exception:  # noqa: BLE001 - keep what is shown
            log.exception("alert story load failed")
            self.error = "Could not load this alert just now. Try again in a moment."
            return None
        self.loaded, self.error, self.found = True, "", story is not None
        if story is None:
            self.head, self.payload = {}, ""
            self.parsed, self.sizing, self.orders, self.steps = [], [], [], []
            self.stop_history = []
            return None
        self.head, self.payload = views.header(story), views.payload(story)
        self.parsed, self.sizing = views.parsed_rows(story), views.sizing_rows(story.sizing)
        self.orders = [views.order_row(o) for o in story.orders]
        self.steps = views.step_rows(story)
        scale = scales.get(story.position_id or 0) or next(iter(scales.values()), None)
        self.stop_history = views.stop_rows(scale)
        return None

    @rx.event
    async def load(self):
        """`on_load`: read the alert of the route."""
        return await self._show()

    @rx.event
    async def refresh(self):
        """The live feed moved: read it again."""
        return await self._show()


def _pairs(rows: rx.Var, key: str, value: str, table_id: str) -> rx.Component:
    return rx.data_list.root(
        rx.foreach(
            rows,
            lambda row: rx.data_list.item(
                rx.data_list.label(row[key], min_width="10em"),
                rx.data_list.value(rx.text(row[value], style={"fontVariantNumeric": "tabular-nums"})),
            ),
        ),
        size="2",
        id=table_id,
    )


def _order_row(row: rx.Var) -> rx.Component:
    return rx.table.row(
        cell(rx.text(row["role"], weight="medium")),
        cell(row["type"]),
        cell(row["side"]),
        *[cell(row[k], "end") for k in ("size", "price", "trigger", "filled", "avg")],
        cell(status_badge(row["status"], row["status_text"])),
        cell(rx.code(row["venue_id"], size="1")),
        id="order-" + row["id"],
    )


def _step_row(row: rx.Var) -> rx.Component:
    return rx.table.row(
        cell(rx.text(row["label"], weight="medium", size="2")),
        cell(rx.text(row["at"], size="1")),
        cell(rx.text(row["since"], size="1", color_scheme="gray"), "end"),
        rx.table.cell(
            rx.text(row["detail"], size="1", color_scheme="gray", style={"overflowWrap": "anywhere"})
        ),
        id="step-" + row["phase"],
    )


def _stop_row(row: rx.Var) -> rx.Component:
    return rx.table.row(
        cell(rx.text(row["when"], size="1")),
        cell(row["from"], "end"),
        cell(row["to"], "end"),
        cell(row["reason"]),
        rx.table.cell(
            rx.text(
                row["outcome"],
                rx.cond(row["detail"] != "", ": " + row["detail"], ""),
                size="1",
                style={"overflowWrap": "anywhere"},
            )
        ),
    )


def _summary() -> rx.Component:
    H = AlertDetailState.head
    return rx.hstack(
        rx.text("#", H["id"], size="4", color_scheme="gray"),
        status_badge(H["status"], H["status_text"]),
        rx.text(H["action"], " ", H["market"], weight="bold", size="4"),
        rx.text("received ", H["received"], " from ", H["source_ip"], size="2", color_scheme="gray"),
        rx.cond(H["paper"] != "", rx.badge(H["paper"], variant="outline")),
        rx.cond(
            H["position"] != "",
            rx.link("Position #", H["position"], href="/history", size="2", id="story-position"),
        ),
        spacing="3",
        align="center",
        wrap="wrap",
        id="story-summary",
    )


def _content() -> rx.Component:
    S = AlertDetailState
    no_orders = empty_state("list_x", "No orders", "Nothing was sent to the venue for this alert.")
    nothing = rx.text("—", color_scheme="gray")
    unparsed = rx.text(
        "Not parsed: the alert was refused before it could be read.", size="2", color_scheme="gray"
    )
    unsized = rx.text(
        "Not sized: the alert did not pass the risk checks or opens nothing.", size="2", color_scheme="gray"
    )
    return rx.vstack(
        _summary(),
        rx.cond(
            S.head["reason"] != "",
            rx.callout(S.head["reason"], icon="info", width="100%", id="story-reason"),
        ),
        panel("Timeline", data_table(STEP_COLUMNS, S.steps, _step_row, nothing, "story-timeline")),
        rx.grid(
            panel(
                "Parsed alert",
                rx.cond(S.parsed.length() > 0, _pairs(S.parsed, "field", "value", "story-parsed"), unparsed),
            ),
            panel(
                "Sizing at the time",
                rx.cond(S.sizing.length() > 0, _pairs(S.sizing, "label", "value", "story-sizing"), unsized),
            ),
            columns=rx.breakpoints(initial="1", md="2"),
            spacing="5",
            width="100%",
        ),
        panel(
            "Orders",
            data_table(ORDER_COLUMNS, S.orders, _order_row, no_orders, "story-orders"),
            rx.text(
                "Limit / worst: a limit order's price; for a market, stop-loss or take-profit order, the "
                "worst price it may fill at once sent or triggered (the slippage bound).",
                size="1",
                color_scheme="gray",
            ),
            id="story-orders-panel",
        ),
        rx.cond(
            S.stop_history.length() > 0,
            panel(
                "Stop history",
                data_table(STOP_COLUMNS, S.stop_history, _stop_row, rx.fragment(), "story-stops"),
                id="story-stops-panel",
            ),
        ),
        panel(
            "Body as received (secrets masked)",
            rx.code_block(S.payload, language="json", wrap_long_lines=True, width="100%", id="story-body"),
        ),
        spacing="5",
        width="100%",
    )


def alert_detail_page() -> rx.Component:
    """The page at `/alerts/[signal_id]`."""
    S = AlertDetailState
    missing = empty_state(
        "search_x", "No such alert", "This alert does not exist or is not yours.", id="no-story"
    )
    return app_shell(
        "alerts",
        feed_watcher(S.refresh),
        page_header(
            "Alert story",
            "What arrived, how it was sized, the orders it placed and when each step happened.",
            rx.link(
                rx.hstack(rx.icon("arrow_left", size=14), "Alert log", spacing="1", align="center"),
                href="/alerts",
                size="2",
                id="back-to-alerts",
                white_space="nowrap",
            ),
        ),
        rx.cond(
            S.error != "",
            rx.callout(S.error, icon="triangle_alert", color_scheme="red", role="alert", width="100%"),
        ),
        rx.cond(S.loaded, rx.cond(S.found, _content(), missing), rx.spinner()),
    )
