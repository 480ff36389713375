"""Executing paper orders inside a locked transaction: fills, fees, netting, margin, order state.

`Ledger` methods only run inside `PaperVenue`'s transactions, after the user's account row has
been locked (`store.lock_account`); they change the rows of `Books` in memory (the caller writes
them with `Books.write`), never commit and never do network I/O (prices and books
are read before the transaction starts).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal

from trading_app.db.models import PaperFill, PaperOrder
from trading_app.domain.enums import OrderStatus, OrderType, Side
from trading_app.venues.base import MarketSpec
from trading_app.venues.errors import OrderRejected, VenueError
from trading_app.venues.paper import matching as m
from trading_app.venues.paper.book import OrderBook
from trading_app.venues.paper.books import Books
from trading_app.venues.paper.rows import OrderFacts

IOC_UNFILLED = "IMMEDIATE_OR_CANCEL_WOULD_REST_ON_BOOK"


def finish(order: PaperOrder, status: OrderStatus, reason: str | None, now: datetime) -> None:
    """Put `order` in a final (or resting) state, with dYdX's removal reason."""
    order.status = status.value
    order.removal_reason = reason
    order.updated_at = now


def worst_price(order: OrderFacts) -> Decimal:
    """The order's limit price, or its worst price (market and conditional orders).

    Every paper order is written with one (`Draft.price` is required); the column is nullable in
    the schema only.

    Raises:
        VenueError: a row without a price, which this venue never writes.
    """
    if order.price is None:
        raise VenueError(f"paper order {order.client_id} has no price")
    return order.price


def row_id(order: PaperOrder) -> int:
    """The order's primary key, which a fill refers to (the venue flushes a new order first).

    Raises:
        VenueError: the order was never flushed.
    """
    if order.id is None:
        raise VenueError(f"paper order {order.client_id} has no id yet")
    return order.id


@dataclass(frozen=True)
class Ledger:
    """One user's execution rules (fee rates) applied to their rows."""

    user: str
    taker_fee: Decimal
    maker_fee: Decimal

    async def take(
        self,
        books: Books,
        order: PaperOrder,
        spec: MarketSpec,
        specs: dict[str, MarketSpec],
        book: OrderBook | None,
        now: datetime,
        *,
        reject: bool,
        rest: bool = False,
    ) -> None:
        """Execute `order` as taker against `book` (or the oracle price), never past its worst price.

        IOC: whatever cannot fill now is cancelled, unless `rest` (a crossing limit keeps resting).
        A reduce-only order is first cut to the position; with no position it is cancelled, and one
        cut short ends CANCELED (`REDUCE_ONLY_RESIZE`) with what it filled, as on dYdX.

        Raises:
            OrderRejected: the fill would leave the account undercollateralized and `reject` is set
                (a new order); otherwise such an order is cancelled (`UNDERCOLLATERALIZED`).
        """
        side = Side(order.side)
        pos = await books.position(order.market)
        wanted = order.size - order.filled
        resized = False
        if order.reduce_only:
            cut = m.reducible(pos.size, side, wanted)
            resized, wanted = cut < wanted, cut
            if wanted == 0:
                finish(order, OrderStatus.CANCELED, "REDUCE_ONLY_RESIZE", now)
                return
        plan = (
            m.walk_book(side, wanted, worst_price(order), book)
            if book is not None
            else m.oracle_plan(side, wanted, worst_price(order), spec.oracle_price)
        )
        if plan and not await self.margin_ok(books, order, plan, specs, self.taker_fee):
            if reject:
                raise OrderRejected(
                    f"undercollateralized: {order.side} {wanted} {order.market} needs more margin"
                )
            finish(order, OrderStatus.CANCELED, "UNDERCOLLATERALIZED", now)
            return
        await self.apply(books, order, plan, self.taker_fee, "TAKER", now)
        done = sum((q for _, q in plan), Decimal(0)) == wanted
        if rest:
            resting = OrderStatus.PARTIALLY_FILLED if plan else OrderStatus.OPEN
            finish(order, OrderStatus.FILLED if done else resting, None, now)
        elif done and resized:
            # dYdX: the match stops once the position is closed and the rest of the order is removed
            # (x/clob/memclob/memclob.go matchOrder: ReduceOnlyResized, REMOVAL_REASON_INVALID_REDUCE_ONLY,
            # which the indexer calls REDUCE_ONLY_RESIZE): CANCELED with what it filled
            finish(order, OrderStatus.CANCELED, "REDUCE_ONLY_RESIZE", now)
        else:
            finish(
                order,
                OrderStatus.FILLED if done else OrderStatus.CANCELED,
                None if done else IOC_UNFILLED,
                now,
            )

    async def margin_ok(
        self,
        books: Books,
        order: PaperOrder,
        plan: m.Plan,
        specs: dict[str, MarketSpec],
        rate: Decimal,
    ) -> bool:
        """Whether the account still covers its initial margin after `plan` (reductions always pass)."""
        if order.reduce_only:
            return True
        held = sorted((await books.positions()).values(), key=lambda p: p.market)
        rows = {p.market: (p.market, p.size, p.entry_price) for p in held}
        _, size, entry = rows.get(order.market, (order.market, Decimal(0), Decimal(0)))
        collateral = books.account.collateral
        before = abs(size)
        for price, qty in plan:
            netted = m.net(size, entry, Side(order.side), qty, price)
            size, entry = netted.size, netted.entry_price
            collateral += netted.realized_pnl - m.fee_for(price, qty, rate)
        if abs(size) <= before:
            return True
        rows[order.market] = (order.market, size, entry)
        if any(ticker not in specs for ticker, s, _ in rows.values() if s != 0):
            return False  # a market without a price cannot be margined
        _, free, _ = m.margin_figures(collateral, rows.values(), specs)
        return free >= 0

    async def apply(
        self,
        books: Books,
        order: PaperOrder,
        plan: m.Plan,
        rate: Decimal,
        liquidity: str,
        now: datetime,
    ) -> None:
        """Book every execution of `plan`: fills, fee, netted position, collateral, order totals."""
        if not plan:
            return
        pos = await books.position(order.market)
        side = Side(order.side)
        for price, qty in plan:
            netted = m.net(pos.size, pos.entry_price, side, qty, price)
            fee = m.fee_for(price, qty, rate)
            pos.size, pos.entry_price = netted.size, netted.entry_price
            pos.realized_pnl += netted.realized_pnl
            books.account.collateral += netted.realized_pnl - fee
            before = order.filled
            order.filled = before + qty
            order.avg_fill_price = m.stored(
                ((order.avg_fill_price or Decimal(0)) * before + price * qty) / order.filled
            )
            order.fee += fee
            books.add_fill(
                PaperFill(
                    user_address=self.user,
                    order_id=row_id(order),
                    client_id=order.client_id,
                    market=order.market,
                    side=order.side,
                    size=qty,
                    price=price,
                    fee=fee,
                    liquidity=liquidity,
                    created_at=now,
                )
            )
        pos.updated_at = books.account.updated_at = order.updated_at = now

    @staticmethod
    def due(order: OrderFacts, specs: dict[str, MarketSpec], now: datetime) -> bool:
        """Whether `advance` would change `order` now: it expired, or the price crossed it.

        Pure, and cheap enough to run on every read: a read-only pre-check, so that a write
        transaction is only opened when something fires (`advance` decides again under the lock).
        """
        if order.good_til is not None and now >= order.good_til:
            return True
        spec = specs.get(order.market)
        if spec is None or not spec.is_active:
            return False
        side, kind = Side(order.side), OrderType(order.order_type)
        if kind is OrderType.LIMIT:
            return m.limit_crossed(side, worst_price(order), spec.oracle_price)
        return order.trigger_price is not None and m.is_triggered(
            kind, side, order.trigger_price, spec.oracle_price
        )

    async def advance(
        self,
        books: Books,
        order: PaperOrder,
        specs: dict[str, MarketSpec],
        order_books: dict[str, OrderBook | None],
        now: datetime,
    ) -> bool:
        """Expire, fill or trigger one live order at the current prices; True if it changed.

        `order_books` holds the book of every market where a conditional order fires (read beforehand).
        """
        if not self.due(order, specs, now):
            return False
        if order.good_til is not None and now >= order.good_til:
            finish(order, OrderStatus.EXPIRED, "EXPIRED", now)
            return True
        spec = specs[order.market]  # `due`: known, active, and the price crossed the order
        if order.order_type == OrderType.LIMIT.value:
            plan = [(worst_price(order), order.size - order.filled)]
            if not await self.margin_ok(books, order, plan, specs, self.maker_fee):
                finish(order, OrderStatus.CANCELED, "UNDERCOLLATERALIZED", now)
                return True
            await self.apply(books, order, plan, self.maker_fee, "MAKER", now)
            finish(order, OrderStatus.FILLED, None, now)
            return True
        if order.market not in order_books:  # it fired between the price read and the lock: next time
            return False
        await self.take(books, order, spec, specs, order_books[order.market], now, reject=False)
        return True
