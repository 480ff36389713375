"""An order request as the paper venue receives it, and the checks it must pass before anything is written.

Bad input is refused with `OrderRejected` and a reason; nothing is rounded onto the grid here
(that happens once, upstream, in `trading_app.domain.quantize`).
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from decimal import Decimal
from typing import Any

from trading_app.domain.enums import OrderStatus, OrderType, Side
from trading_app.venues.base import MarketSpec
from trading_app.venues.errors import OrderRejected, UnknownMarket
from trading_app.venues.paper import matching as m
from trading_app.venues.paper.book import OrderBook
from trading_app.venues.paper.prices import PriceSource
from trading_app.venues.paper.rows import OrderFacts

MAX_CLIENT_ID = 2**32 - 1  # dYdX client ids are uint32
MAX_GOOD_TIL = timedelta(days=95)  # dYdX's stateful order window


@dataclass(frozen=True)
class Draft:
    """One order request. `price` is the worst price of market and conditional orders, or the limit."""

    market: str
    side: Side
    size: Decimal
    order_type: OrderType
    client_id: int
    price: Decimal
    trigger: Decimal | None = None
    reduce_only: bool = False
    good_til_seconds: int | None = None

    def checked(self) -> Draft:
        """This request with a normalised side, or OrderRejected for a malformed one (no market needed)."""
        try:
            side = Side(self.side)
        except ValueError:
            raise OrderRejected(f"side must be BUY or SELL, got {self.side!r}") from None
        cid = self.client_id
        if isinstance(cid, bool) or not isinstance(cid, int) or not 0 <= cid <= MAX_CLIENT_ID:
            raise OrderRejected(f"client id must be an integer in 0..{MAX_CLIENT_ID}")
        gts, most = self.good_til_seconds, int(MAX_GOOD_TIL.total_seconds())
        if gts is not None and (isinstance(gts, bool) or not isinstance(gts, int) or not 0 < gts <= most):
            raise OrderRejected(f"good_til_seconds must be an integer in 1..{most}")
        return replace(self, side=side)

    def check_market(self, spec: MarketSpec) -> None:
        """Refuse an inactive market and any size or price off the market's grid."""
        if not spec.is_active:
            raise OrderRejected(f"market {spec.ticker} is {spec.status}, not ACTIVE")
        m.require_on_grid(self.size, spec.step_size, "size")
        what = "limit price" if self.order_type is OrderType.LIMIT else "worst price"
        m.require_on_grid(self.price, spec.tick_size, what)
        if self.trigger is not None:
            m.require_on_grid(self.trigger, spec.tick_size, "trigger price")

    def same_as(self, order: OrderFacts) -> bool:
        """Whether an existing order with this client id is this request (a resend)."""
        return (order.market, order.side, order.order_type) == (
            self.market,
            self.side.value,
            self.order_type.value,
        )

    def row_values(self, user: str, now: datetime) -> dict[str, Any]:
        """The paper_orders row of this request, unfilled: OPEN, or UNTRIGGERED for a stop-loss or
        take-profit (written so at once: execution sets a taking order's final state)."""
        conditional = self.order_type in (OrderType.STOP_MARKET, OrderType.TAKE_PROFIT_MARKET)
        good_til = now + timedelta(seconds=self.good_til_seconds) if self.good_til_seconds else None
        return {
            "user_address": user,
            "client_id": self.client_id,
            "market": self.market,
            "side": self.side.value,
            "order_type": self.order_type.value,
            "size": self.size,
            "price": self.price,
            "trigger_price": self.trigger,
            "reduce_only": self.reduce_only,
            "status": (OrderStatus.UNTRIGGERED if conditional else OrderStatus.OPEN).value,
            "filled": Decimal(0),
            "avg_fill_price": None,
            "fee": Decimal(0),
            "removal_reason": None,
            "good_til": good_til,
            "created_at": now,
            "updated_at": now,
        }


async def prepare(
    d: Draft, prices: PriceSource
) -> tuple[dict[str, MarketSpec], MarketSpec, bool, OrderBook | None]:
    """The market rules for `d`, whether it takes liquidity now and then the book: all read before
    anything is written.

    Raises:
        VenueUnavailable: the price source is down.
        UnknownMarket, OrderRejected: the market is unknown or inactive, or the order off its grid.
    """
    specs = await prices.markets()
    spec = specs.get(d.market)
    if spec is None:
        raise UnknownMarket(f"unknown market {d.market}")
    d.check_market(spec)
    takes_now = d.order_type is OrderType.MARKET or (
        d.order_type is OrderType.LIMIT and m.limit_crossed(d.side, d.price, spec.oracle_price)
    )
    book = await prices.order_book(d.market) if takes_now else None
    return specs, spec, takes_now, book
