"""Pause and the Telegram remote control: the Settings switch, the bot's delivery mode and
reachability, and the "Paused" badge of the dashboard.

Thin: every handler re-derives the trader from the verified session. Nothing secret reaches the
browser (the mode and the status words only; never the token, the hook id or its secret).
"""

from __future__ import annotations

import reflex as rx

from trading_app.services.accounts.pause import paused_since, set_paused
from trading_app.services.notify import events
from trading_app.services.notify.telegram_delivery import delivery_status, sync_delivery
from trading_app.state import LOGIN_ROUTE, verified_address

__all__ = ["ControlState", "control_card", "paused_badge"]

_MODES = {"webhook": "Webhook", "polling": "Polling", "off": "Off"}


class ControlState(rx.State):
    """Whether trading is paused, and how the trader's bot receives commands."""

    paused: bool = False
    paused_at: str = ""
    bot_mode: str = "off"
    bot_reachable: str = ""  # "yes", "no", "" (not checked)
    bot_message: str = ""
    checking: bool = False

    async def _show(self, address: str) -> None:
        since = await paused_since(address)
        self.paused = since is not None
        self.paused_at = since.strftime("%Y-%m-%d %H:%M UTC") if since else ""
        status = await delivery_status(address)
        self.bot_mode = status.mode
        self.bot_reachable = {True: "yes", False: "no", None: ""}[status.reachable]
        self.bot_message = status.message

    @rx.event
    async def load(self):
        """`on_load` of Settings and the dashboard (and their live refresh).

        A revoked session leaves for /login here too: the check clears the tab's `AuthState`, and
        the shell then shows its spinner, which unmounts the page's other refresh timers, so this
        handler may be the only one that notices.
        """
        address = await verified_address(self)
        if address is None:
            return rx.redirect(LOGIN_ROUTE, replace=True)
        await self._show(address)
        return None

    @rx.event
    async def set_pause(self, paused: bool):
        """The Settings switch: pause or resume trading."""
        address = await verified_address(self)
        if address is None:
            return rx.redirect(LOGIN_ROUTE)
        await set_paused(address, bool(paused))
        await events.positions_changed(address)  # the dashboard's badge, in every open tab
        await self._show(address)
        return rx.toast.info("Trading paused." if paused else "Trading resumed.")

    @rx.event
    async def check_bot(self):
        """"Verify bot": set the bot up again for the current mode and say whether it answers."""
        address = await verified_address(self)
        if address is None:
            yield rx.redirect(LOGIN_ROUTE)
            return
        self.checking = True
        yield
        await sync_delivery(address)
        await self._show(address)
        self.checking = False


def paused_badge() -> rx.Component:
    """"Paused" next to the page title while trading is paused."""
    return rx.cond(
        ControlState.paused,
        rx.callout(
            rx.text("Trading is paused since ", ControlState.paused_at,
                    ": alerts are recorded as rejected and nothing is traded. ",
                    "Resume in Settings or with /resume in Telegram."),
            icon="pause",
            color_scheme="amber",
            id="paused-badge",
            role="status",
            width="100%",
        ),
    )


def control_card() -> rx.Component:
    """The pause switch and the bot's delivery status, for the Settings page."""
    reachable = rx.match(
        ControlState.bot_reachable,
        ("yes", rx.badge("Reachable", color_scheme="green", id="bot-reachable")),
        ("no", rx.badge("Not reachable", color_scheme="red", id="bot-reachable")),
        rx.badge("Not checked", color_scheme="gray", id="bot-reachable"),
    )
    return rx.vstack(
        rx.hstack(
            rx.switch(
                checked=ControlState.paused,
                on_change=ControlState.set_pause,
                id="pause-switch",
            ),
            rx.text(rx.cond(ControlState.paused, "Paused", "Trading on"), weight="medium", id="pause-state"),
            align="center",
            spacing="3",
        ),
        rx.text(
            "While paused, alerts are recorded as rejected (paused) and nothing is traded; "
            "open positions keep their TP and SL and can still be closed.",
            size="2",
            color_scheme="gray",
        ),
        rx.hstack(
            rx.text("Telegram commands:", weight="medium"),
            rx.badge(rx.match(ControlState.bot_mode, *_MODES.items(), "Off"), id="bot-mode"),
            reachable,
            rx.button("Verify bot", on_click=ControlState.check_bot, loading=ControlState.checking,
                      type="button", size="1", variant="soft"),
            align="center",
            spacing="3",
            wrap="wrap",
        ),
        rx.text(ControlState.bot_message, size="2", id="bot-message"),
        rx.text(
            "In your bot's chat: /status, /positions, /pnl [days], /close <market>, /closeall, "
            "/pause, /resume, /help. Only the chat saved above is answered.",
            size="2",
            color_scheme="gray",
        ),
        spacing="3",
        width="100%",
    )
