"""`PaperVenue`: a simulated dYdX account whose books live in the database (they survive restarts).

Execution model (dYdX-like):
- market orders are IOC: they walk the source's order book (or take the oracle price when the
  source has no book) and never fill past `worst_price`; the unfilled rest is cancelled;
- limit orders rest (OPEN) and fill at their limit price, as maker, once the oracle price crosses
  it; a limit that already crosses when placed takes liquidity first, as taker, and rests the rest;
- stop-loss / take-profit orders are reduce-only and rest UNTRIGGERED; when the oracle price
  crosses the trigger they execute as a reduce-only IOC bounded by their worst price;
- reduce-only never grows or flips a position: it is resized to the position and, once that is
  closed, the rest is cancelled (`REDUCE_ONLY_RESIZE`, CANCELED with what it filled), or cancelled
  with nothing filled when there is no position, as on dYdX;
- orders past their good-til time expire (EXPIRED).

Triggers run in `process_triggers()`, which the monitor calls every tick, and lazily at the start
of `order_status`, `fills`, `account`, `account_state` and `cancel`, so what they see is never
stale. `order_status`, `fills` and `cancel` still work from the books when the price source is
down; `account` and `account_state` need prices and raise `VenueUnavailable`. Placing an order
needs prices too: while the source is down orders are refused with its reason, except a resend of
an existing client id, which returns the existing order.

Concurrency: a per-user asyncio lock orders calls inside one process, and every write that moves
the books (a fill, a position, the collateral, a cancel) happens under the user's account row lock
(`store.lock_account`), so several workers cannot double-fill. A new order that rests is one INSERT
of its own: it changes nothing else, and its unique client id refuses a second row.
Reads check first, without any lock, whether an order is due at the current price (`Ledger.due`);
only then is the account locked, and every live order read afresh and decided again under it.
"""

from __future__ import annotations

import asyncio
import weakref
from collections.abc import Callable, Sequence
from contextlib import suppress
from datetime import datetime
from decimal import Decimal

from sqlmodel.ext.asyncio.session import AsyncSession

from trading_app.db.engine import autocommit_scope, session_scope
from trading_app.db.models import PaperAccount, PaperOrder
from trading_app.domain.clock import utcnow
from trading_app.domain.enums import OrderType, Side
from trading_app.venues.base import (
    AccountSnapshot,
    AccountState,
    Fill,
    MarketSpec,
    OrderRef,
    OrderReport,
    Venue,
    VenuePosition,
)
from trading_app.venues.errors import (
    OrderNotFound,
    UnknownMarket,
    VenueError,
    VenueUnavailable,
)
from trading_app.venues.paper import cancels, rows, store
from trading_app.venues.paper import matching as m
from trading_app.venues.paper.book import OrderBook, SourceStatus
from trading_app.venues.paper.books import Books, editable
from trading_app.venues.paper.drafts import Draft, prepare
from trading_app.venues.paper.ledger import Ledger
from trading_app.venues.paper.placing import rest_order, same_order
from trading_app.venues.paper.prices import PriceSource
from trading_app.venues.paper.reads import read_snapshot
from trading_app.venues.paper.rows import OrderFacts, OrderRow

_locks: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, dict[str, asyncio.Lock]] = (
    weakref.WeakKeyDictionary()
)


def user_lock(user: str) -> asyncio.Lock:
    """The in-process lock of one user's paper books (shared by every PaperVenue of that user)."""
    return _locks.setdefault(asyncio.get_running_loop(), {}).setdefault(user, asyncio.Lock())


class PaperVenue(Venue):
    """A paper account of one user; see the module docstring for the execution model.

    Args:
        user_address: the owner (an existing `users.address`); every query is scoped to it.
        price_source: where market rules, prices and books come from.
        taker_fee, maker_fee: fee rates (dYdX's base tier by default).
        starting_collateral: USD credited when the account is first used.
        clock: returns the current aware UTC time (fill times, expiry).
    """

    network = "paper"

    def __init__(
        self,
        user_address: str,
        price_source: PriceSource,
        *,
        taker_fee: Decimal = Decimal("0.0005"),
        maker_fee: Decimal = Decimal("0.0001"),
        starting_collateral: Decimal = Decimal("10000"),
        clock: Callable[[], datetime] = utcnow,
    ) -> None:
        if not user_address:
            raise ValueError("a paper venue needs its user's address")
        self.user = user_address
        self.prices = price_source
        self.taker_fee = taker_fee
        self.maker_fee = maker_fee
        self.starting_collateral = starting_collateral
        self._clock = clock
        self._account_ready = False
        self._ledger = Ledger(user_address, taker_fee, maker_fee)

    def describe_source(self) -> SourceStatus:
        """Which price source is live and when it last answered (for the UI)."""
        return self.prices.describe()

    async def market(self, ticker: str) -> MarketSpec:
        return await self.prices.market(ticker)

    async def markets(self) -> dict[str, MarketSpec]:
        return dict(await self.prices.markets())

    # -- placing -------------------------------------------------------------------
    async def place_market_order(
        self,
        market: str,
        side: Side,
        size: Decimal,
        *,
        worst_price: Decimal,
        client_id: int,
        reduce_only: bool = False,
    ) -> OrderRef:
        return await self._place(
            Draft(market, side, size, OrderType.MARKET, client_id, worst_price, reduce_only=reduce_only)
        )

    async def place_limit_order(
        self, market: str, side: Side, size: Decimal, price: Decimal, *, client_id: int, good_til_seconds: int
    ) -> OrderRef:
        return await self._place(
            Draft(market, side, size, OrderType.LIMIT, client_id, price, good_til_seconds=good_til_seconds)
        )

    async def place_stop_loss(
        self,
        market: str,
        side: Side,
        size: Decimal,
        trigger_price: Decimal,
        *,
        worst_price: Decimal,
        client_id: int,
        good_til_seconds: int,
    ) -> OrderRef:
        kind = OrderType.STOP_MARKET
        return await self._place(
            Draft(market, side, size, kind, client_id, worst_price, trigger_price, True, good_til_seconds)
        )

    async def place_take_profit(
        self,
        market: str,
        side: Side,
        size: Decimal,
        trigger_price: Decimal,
        *,
        worst_price: Decimal,
        client_id: int,
        good_til_seconds: int,
    ) -> OrderRef:
        kind = OrderType.TAKE_PROFIT_MARKET
        return await self._place(
            Draft(market, side, size, kind, client_id, worst_price, trigger_price, True, good_til_seconds)
        )

    async def _ensure_account(self) -> None:
        if not self._account_ready:
            await store.ensure_account(self.user, self.starting_collateral)
            self._account_ready = True

    async def _locked_account(self, session: AsyncSession) -> PaperAccount:
        account = await store.lock_account(session, self.user)
        if account is None:  # deleted under us, or a stale flag: create it and lock again
            self._account_ready = False
            await self._ensure_account()
            account = await store.lock_account(session, self.user)
            if account is None:
                raise VenueError(f"paper account of {self.user} cannot be created")
        return account

    async def _place(self, draft: Draft) -> OrderRef:
        d = draft.checked()
        async with user_lock(self.user):
            try:
                specs, spec, takes_now, book = await prepare(d, self.prices)
            except VenueError:
                # a resend of an existing client id is that order, even while the price source is
                # down: looked up only on failure, so a new order costs one transaction, not two
                async with autocommit_scope() as session:
                    seen = await rows.find_row(session, self.user, d.client_id)
                if seen is not None:
                    return same_order(seen, d)
                raise
            await self._ensure_account()
            if not takes_now:
                return await rest_order(self.user, d, self._clock())
            async with session_scope() as session:
                account = await self._locked_account(session)
                # stamped under the lock: fill times follow commit order, so a `fills(since)`
                # cursor can never skip a fill that commits after a later-stamped one
                now = self._clock()
                values = d.row_values(self.user, now)
                order_id = await rows.insert_order(session, values)
                if order_id is None:  # the client id is used: a resend, or a caller's bug
                    existing = await rows.find_row(session, self.user, d.client_id)
                    if existing is None:
                        raise VenueError(f"paper order {d.client_id} is neither new nor found")
                    return same_order(existing, d)
                books = Books(session, account)
                order = books.track(PaperOrder(id=order_id, **values))
                rest = d.order_type is OrderType.LIMIT
                await self._ledger.take(books, order, spec, specs, book, now, reject=True, rest=rest)
                await books.write()
                return store.to_ref(order)

    async def process_triggers(self) -> int:
        """Expire, fill and trigger this user's live orders at the current prices.

        Returns:
            How many orders changed.

        Raises:
            VenueUnavailable: prices cannot be read (expiry has still been applied).
        """
        return (await self._triggered())[0]

    async def _triggered(
        self, client_id: int | None = None
    ) -> tuple[int, list[OrderRow] | None, OrderRow | None]:
        """`process_triggers`, and the live orders it read when nothing was due (None otherwise:
        they may have changed, read them again). With `client_id`, that order too (live or not),
        read by the same query, when nothing was due."""
        async with user_lock(self.user):
            # one read-only statement: no transaction, and rows rather than ORM objects
            async with autocommit_scope() as session:
                found = await rows.live_rows(session, self.user, client_id)
            live = [r for r in found if r.status in rows.LIVE_STATUSES]
            seen = next((r for r in found if r.client_id == client_id), None)
            changed = await self._advance_due(live) if live else None
            if changed is not None:
                return changed, None, None
            return 0, live, seen

    async def _advance_due(self, live: Sequence[OrderFacts]) -> int | None:
        """`process_triggers` once `live` (read without a lock) is known; the caller holds user_lock.
        None: nothing was due, nothing was written.

        A read-only pre-check first: when no order of `live` is due (expired, crossed, triggered)
        nothing is written at all, which is what almost every read finds. Otherwise the account
        row is locked and every live order is read afresh and decided again under that lock, so
        an order another worker has just filled is never filled a second time.
        """
        specs: dict[str, MarketSpec] | None = None
        books: dict[str, OrderBook | None] = {}
        failure: VenueUnavailable | None = None
        try:
            specs = await self.prices.markets()
        except VenueUnavailable as e:
            failure = e
        due = [o for o in live if Ledger.due(o, specs or {}, self._clock())]
        if not due:
            if failure is not None:
                raise failure
            return None
        if specs is not None:
            try:
                for o in due:  # books only for the markets where a conditional fires now
                    if o.trigger_price is not None and o.market not in books:
                        with suppress(UnknownMarket):  # listed without a book: it fires next time
                            books[o.market] = await self.prices.order_book(o.market)
            except VenueUnavailable as e:
                specs, failure = None, e
        changed = 0
        async with session_scope() as session:
            ledger_books = Books(session, await self._locked_account(session))
            now = self._clock()  # under the lock, as in _place
            for row in await rows.live_rows(session, self.user):  # fresh, under the lock
                order = ledger_books.track(editable(row))
                changed += await self._ledger.advance(ledger_books, order, specs or {}, books, now)
            await ledger_books.write()
        if failure is not None:
            raise failure
        return changed

    # -- reading -------------------------------------------------------------------
    async def cancel(self, ref: OrderRef) -> None:
        """Cancel a live order; an order that is filled, cancelled, expired or unknown is left alone.

        Triggers are processed first: an order the price has already filled is filled, not cancelled,
        as it would be on an exchange that matches continuously.
        """
        live: list[OrderRow] | None = None
        with suppress(VenueUnavailable):
            live = (await self._triggered())[1]
        if live is not None and all(o.client_id != ref.client_id for o in live):
            return  # not live: nothing to cancel (and no lock taken)
        async with user_lock(self.user):
            if live is None:  # prices are down: whether it is live is not known yet
                async with autocommit_scope() as session:
                    seen = await rows.find_row(session, self.user, ref.client_id)
                if seen is None or seen.status not in rows.LIVE_STATUSES:
                    return
            async with session_scope() as session:
                await self._locked_account(session)
                # decided again under the lock: only a still live order is cancelled
                await rows.cancel_live(session, self.user, ref.client_id, self._clock())

    async def cancel_many(self, refs: Sequence[OrderRef]) -> list[OrderReport | None]:
        """`cancel` and `order_status` for many orders: one trigger pass, one transaction (`cancels`)."""
        return await cancels.cancel_many(self, refs)

    async def order_status(self, ref: OrderRef) -> OrderReport:
        """The order's state; raises OrderNotFound for a client id this user never placed."""
        order: OrderRow | None = None
        with suppress(VenueUnavailable):
            _, _, order = await self._triggered(ref.client_id)
        # the order as the trigger check read it when that check changed nothing; otherwise read now
        if order is None:
            async with autocommit_scope() as session:
                order = await rows.find_row(session, self.user, ref.client_id)
        if order is None:
            raise OrderNotFound(f"no paper order with client id {ref.client_id}")
        return store.to_report(order)

    async def fills(self, market: str | None = None, since: datetime | None = None) -> list[Fill]:
        with suppress(VenueUnavailable):
            await self.process_triggers()
        async with autocommit_scope() as session:  # one read-only statement
            found = await rows.fill_rows(session, self.user, market, since)
        return [store.to_fill(r) for r in found]

    async def account(self) -> AccountSnapshot:
        return (await self.account_state(since=self._clock())).account

    async def account_state(self, since: datetime | None = None) -> AccountState:
        try:
            specs = await self.prices.markets()
        except VenueUnavailable:
            await self.process_triggers()  # expiry still applies; it raises the source's reason
            raise
        await self._ensure_account()
        # one read, no lock (shared with the reads of other users arriving at the same moment): a
        # quiet account, with nothing due, costs no write and no query of its own
        snap = await read_snapshot(self.user, since)
        if any(Ledger.due(o, specs, self._clock()) for o in snap.orders):
            async with user_lock(self.user):
                await self._advance_due(snap.orders)
            specs = await self.prices.markets()
            snap = await read_snapshot(self.user, since)
        held, open_orders, fill_rows = snap.positions, snap.orders, snap.fills
        collateral = snap.collateral if snap.collateral is not None else self.starting_collateral
        missing = [p.market for p in held if p.market not in specs]
        if missing:
            raise VenueUnavailable(f"no price for {', '.join(missing)} from {self.prices.describe().source}")
        equity, free, _ = m.margin_figures(
            collateral, [(p.market, p.size, p.entry_price) for p in held], specs
        )
        positions: dict[str, VenuePosition] = {
            p.market: store.to_position(p, specs[p.market].oracle_price) for p in held
        }
        snapshot = AccountSnapshot(equity=equity, free_collateral=free, positions=positions)
        return AccountState(
            account=snapshot,
            open_orders=[store.to_report(o) for o in open_orders],
            fills=[store.to_fill(f) for f in fill_rows],
        )
