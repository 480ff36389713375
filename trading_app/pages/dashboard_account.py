"""The dashboard's account cards: equity, free collateral and margin use on the current venue.

`risk_pct` and `equity_pct` sizing use this equity (a paper account starts at $10,000), so the
trader sees the number their alerts are sized from. `FundsState` loads with the dashboard
(`on_load`) and reloads whenever the trader's feed moves (`feed_watcher`), like the rest of the
page; a venue that cannot be read is said plainly in the cards, and the last figures stay.
"""

from __future__ import annotations

import logging

import reflex as rx
from reflex.event import EventSpec

from trading_app.components import format as fmt
from trading_app.components.tables import stat_card
from trading_app.services.accounts.funds import Funds, FundsUnavailable, account_funds
from trading_app.state import LOGIN_ROUTE, verified_address

log = logging.getLogger(__name__)

__all__ = ["FundsState", "funds_cards", "funds_texts"]

_UNKNOWN = {"equity": fmt.DASH, "free": fmt.DASH, "margin": fmt.DASH, "margin_pct": "", "network": ""}


def funds_texts(funds: Funds) -> dict[str, str]:
    """Display strings of one read (money in cents, margin use with one decimal)."""
    pct = funds.margin_use_pct
    return {
        "equity": fmt.money(funds.equity),
        "free": fmt.money(funds.free_collateral),
        "margin": fmt.money(funds.margin_used),
        "margin_pct": f"{fmt.percent(pct)} of equity" if pct is not None else "",
        "network": funds.network,
    }


class FundsState(rx.State):
    """The trader's account figures on the venue they trade on now."""

    funds: dict[str, str] = _UNKNOWN
    funds_error: str = ""

    async def _read(self) -> EventSpec | None:
        address = await verified_address(self)
        if address is None:
            return rx.redirect(LOGIN_ROUTE, replace=True)
        try:
            self.funds, self.funds_error = funds_texts(await account_funds(address)), ""
        except FundsUnavailable as e:
            self.funds_error = str(e)
        except Exception:  # noqa: BLE001 - the rest of the dashboard goes on; the next refresh retries
            log.exception("account figures failed")
            self.funds_error = "Could not read your account just now; it retries by itself."
        return None

    @rx.event
    async def load(self):
        """`on_load` of the dashboard."""
        return await self._read()

    @rx.event
    async def refresh(self):
        """The trader's feed moved (or the periodic refresh)."""
        return await self._read()


def funds_cards() -> rx.Component:
    """Equity, free collateral and margin in use, and what went wrong reading them."""
    S = FundsState
    return rx.vstack(
        rx.grid(
            stat_card(
                "Equity",
                rx.text(S.funds["equity"], size="6", weight="medium", id="funds-equity"),
                rx.text("What risk_pct and equity_pct sizing use", size="1", color_scheme="gray"),
            ),
            stat_card(
                "Free collateral",
                rx.text(S.funds["free"], size="6", weight="medium", id="funds-free"),
                "Left for new positions",
            ),
            stat_card(
                "Margin in use",
                rx.text(S.funds["margin"], size="6", weight="medium", id="funds-margin"),
                rx.text(S.funds["margin_pct"], size="1", color_scheme="gray", id="funds-margin-pct"),
            ),
            columns=rx.breakpoints(initial="1", sm="3"),
            spacing="4",
            width="100%",
        ),
        rx.cond(
            S.funds_error != "",
            rx.callout(
                S.funds_error, icon="triangle_alert", color_scheme="amber", width="100%", id="funds-error"
            ),
        ),
        spacing="3",
        width="100%",
        id="funds-cards",
    )
