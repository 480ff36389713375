"""The alert tools of `/settings`: build a TradingView alert message checked against the live market,
copy it, and send a test alert through the real webhook path (always executed on paper).

The webhook secret never enters this state: the message shown carries a placeholder, and Copy
fetches the real message inside its handler and hands it straight to the clipboard.
"""

from __future__ import annotations

import reflex as rx

from trading_app.pages.settings_parts import labelled, text_input
from trading_app.services.intake import alert_tools
from trading_app.state import LOGIN_ROUTE, verified_address

BUILDER_FIELDS = (
    "market",
    "action",
    "size_mode",
    "size_value",
    "sl_pct",
    "tp_pct",
    "rr",
    "order_type",
    "limit_price",
    "tp_split",
    "be_after_tp",
    "trail_pct",
    "trail_after_tp",
)
ACTION_LABELS = {
    "strategy": "From the strategy (TradingView fills in buy/sell)",
    "buy": "Buy (long)",
    "sell": "Sell (short)",
    "close": "Close the position",
    "reverse": "Reverse the position",
}
SIZE_MODE_LABELS = {
    "size_usd": "Notional (USD)",
    "size": "Size (base units, e.g. 0.01 BTC)",
    "risk_pct": "Percent of equity at risk",
    "default": "My account default",
}
ORDER_TYPE_LABELS = {"market": "Market", "limit": "Limit"}


class AlertToolsState(rx.State):
    """The builder's inputs (as typed), its verdict and the last test alert's outcome."""

    market: str = "BTC-USD"
    action: str = "strategy"
    size_mode: str = "size_usd"
    size_value: str = "100"
    sl_pct: str = "1"
    tp_pct: str = ""
    rr: str = "2"
    order_type: str = "market"
    limit_price: str = ""
    tp_split: str = ""
    be_after_tp: str = ""
    trail_pct: str = ""
    trail_after_tp: str = ""
    message: str = ""  # the built message, secret replaced by a placeholder
    errors: list[str] = []
    notes: list[str] = []
    test_ok: bool = False
    test_message: str = ""

    def _form(self) -> dict[str, str]:
        return {name: getattr(self, name) for name in BUILDER_FIELDS}

    @rx.event
    def set_field(self, name: str, value: str):
        if name in BUILDER_FIELDS:
            setattr(self, name, str(value))
            self.message = ""  # a shown message always matches the inputs

    @rx.event
    async def build(self):
        """Build and check the message (the shown copy has no secret in it)."""
        address = await verified_address(self)
        if address is None:
            return rx.redirect(LOGIN_ROUTE)
        built = await alert_tools.build_alert(address, self._form())
        # a message with errors is never shown: it would be pasted into TradingView as is
        self.message = built.message if built.ok else ""
        self.errors, self.notes = list(built.errors), list(built.notes)
        return None

    @rx.event
    async def copy_message(self):
        """Put the message with the real secret on the clipboard, never into state."""
        address = await verified_address(self)
        if address is None:
            return rx.redirect(LOGIN_ROUTE)
        built = await alert_tools.build_alert(address, self._form(), reveal=True)
        if not built.ok:
            self.message, self.errors, self.notes = "", list(built.errors), list(built.notes)
            return rx.toast.error("Fix the message first.")
        copied = rx.toast.success("Alert message copied. Paste it into TradingView.")
        return [rx.set_clipboard(built.message), copied]

    @rx.event
    async def send_test(self):
        """Send the built alert through the webhook as a paper test, and say what happened."""
        address = await verified_address(self)
        if address is None:
            return rx.redirect(LOGIN_ROUTE)
        self.test_message = ""
        result = await alert_tools.send_test_alert(address, self._form())
        self.test_ok, self.test_message = result.ok, result.message
        return None


S = AlertToolsState


def _select(name: str, labels: dict[str, str]) -> rx.Component:
    return rx.select.root(
        rx.select.trigger(id=f"builder-{name}", width="100%"),
        rx.select.content(*[rx.select.item(label, value=value) for value, label in labels.items()]),
        value=getattr(S, name),
        on_change=S.set_field(name),
        name=name,
    )


def _input(name: str, label: str, hint: str, placeholder: str = "") -> rx.Component:
    control = text_input(
        f"builder-{name}", value=getattr(S, name), on_change=S.set_field(name), placeholder=placeholder
    )
    return labelled(label, control, f"builder-{name}", hint)


def _verdict() -> rx.Component:
    return rx.vstack(
        rx.foreach(
            S.errors,
            lambda e: rx.callout(e, icon="triangle_alert", color_scheme="red", role="alert", width="100%"),
        ),
        rx.cond(
            S.message != "",
            rx.code_block(S.message, language="json", wrap_long_lines=True, width="100%", id="built-message"),
        ),
        rx.foreach(S.notes, lambda n: rx.text(n, size="1", color_scheme="gray")),
        spacing="2",
        width="100%",
        id="builder-verdict",
    )


def alerts_card() -> rx.Component:
    """The builder, Copy, and "Send a test alert"."""
    fields = rx.grid(
        _input("market", "Market", "As on TradingView or dYdX: BTC-USD, BTCUSDT.P, ...", "BTC-USD"),
        labelled("Action", _select("action", ACTION_LABELS), "builder-action"),
        labelled("Size mode", _select("size_mode", SIZE_MODE_LABELS), "builder-size_mode"),
        _input("size_value", "Size value", "In the units of the size mode."),
        _input("sl_pct", "Stop-loss (%)", "Distance from the entry; required."),
        _input("tp_pct", "Take-profit (%)", "Or use reward:risk. Several levels: 1, 3", "none"),
        _input("rr", "Reward:risk", "Multiples of the stop distance. Several levels: 1, 2", "none"),
        _input("tp_split", "Split (% per level)", "E.g. 50, 50; empty: equal parts.", "equal"),
        _input("be_after_tp", "Break-even after TP", "Stop to entry + fees after this level fills.", "never"),
        _input("trail_pct", "Trailing stop (%)", "The stop follows the best price by this much.", "none"),
        _input("trail_after_tp", "Trail after TP", "0 or empty: from the start.", "0"),
        labelled("Order type", _select("order_type", ORDER_TYPE_LABELS), "builder-order_type"),
        rx.cond(S.order_type == "limit", _input("limit_price", "Limit price", "On the market's tick.")),
        columns=rx.breakpoints(initial="1", sm="2"),
        spacing="4",
        width="100%",
    )
    test_outcome = rx.cond(
        S.test_message != "",
        rx.callout(
            S.test_message,
            icon=rx.cond(S.test_ok, "circle_check", "triangle_alert"),
            color_scheme=rx.cond(S.test_ok, "green", "red"),
            id="test-alert-outcome",
            width="100%",
        ),
    )
    return rx.vstack(
        fields,
        rx.hstack(
            rx.button(rx.icon("hammer", size=14), "Build", on_click=S.build, type="button"),
            rx.button(
                rx.icon("clipboard_copy", size=14),
                "Copy message",
                on_click=S.copy_message,
                type="button",
                variant="soft",
            ),
            rx.button(
                rx.icon("send", size=14),
                "Send a test alert",
                on_click=S.send_test,
                type="button",
                variant="soft",
            ),
            spacing="2",
            wrap="wrap",
        ),
        _verdict(),
        rx.text(
            "A test alert goes through your webhook exactly as TradingView's would (a strategy message is "
            "sent as a buy) and always runs on paper, whatever network you trade on.",
            size="1",
            color_scheme="gray",
        ),
        test_outcome,
        spacing="4",
        width="100%",
    )
