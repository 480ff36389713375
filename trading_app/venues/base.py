"""The one venue interface everything above it uses, and the value types it speaks.

`PaperVenue` and `DydxVenue` implement `Venue` and pass the same contract suite
(`tests/venues/contract.py`). A venue instance belongs to exactly one user and
one network; nothing in here is shared between tenants.

Prices and sizes are `Decimal` and already on the market's grid when they reach a
venue (`trading_app.domain.quantize` does that, once). A venue must refuse values
that are off the grid rather than round them.
"""

from __future__ import annotations

import abc
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime
from decimal import Decimal

from trading_app.domain.enums import OrderStatus, OrderType, PositionSide, Side


@dataclass(frozen=True)
class MarketSpec:
    """A perpetual market's trading rules and current oracle price.

    `step_size` is also the minimum order size (dYdX has no separate minimum).
    The raw dYdX fields are kept so quantums and subticks can be computed exactly.
    """

    ticker: str
    status: str
    step_size: Decimal
    tick_size: Decimal
    oracle_price: Decimal
    clob_pair_id: int = 0
    atomic_resolution: int = 0
    step_base_quantums: int = 0
    subticks_per_tick: int = 0
    quantum_conversion_exponent: int = 0
    initial_margin_fraction: Decimal | None = None

    @property
    def min_size(self) -> Decimal:
        return self.step_size

    @property
    def is_active(self) -> bool:
        return self.status == "ACTIVE"


@dataclass(frozen=True)
class OrderRef:
    """Everything needed to query or cancel an order later. Persisted in `orders`."""

    client_id: int
    market: str
    order_type: OrderType
    order_flags: int = 0
    clob_pair_id: int = 0
    subaccount: int = 0
    good_til_block: int | None = None
    good_til_block_time: int | None = None  # unix seconds
    venue_order_id: str = ""  # dYdX indexer order UUID; paper order id
    tx_hash: str = ""
    # stateful placements: not seen committed by this chain height, the tx never will be
    # (the mempool's TTL); short-term orders have `good_til_block` instead
    commit_by: int | None = None


@dataclass(frozen=True)
class OrderReport:
    """An order's state as the venue sees it."""

    ref: OrderRef
    status: OrderStatus
    side: Side
    size: Decimal
    filled: Decimal = Decimal(0)
    avg_fill_price: Decimal | None = None
    fee: Decimal = Decimal(0)
    trigger_price: Decimal | None = None
    reduce_only: bool = False
    removal_reason: str | None = None


@dataclass(frozen=True)
class Fill:
    """One execution. `fee` is positive when paid, negative for a rebate."""

    fill_id: str
    client_id: int
    market: str
    side: Side
    size: Decimal
    price: Decimal
    fee: Decimal
    time: datetime
    liquidity: str = "TAKER"
    fill_type: str = "LIMIT"  # LIMIT, LIQUIDATED, DELEVERAGED, ...


@dataclass(frozen=True)
class VenuePosition:
    """An open position on the venue (net, one per market)."""

    market: str
    side: PositionSide
    size: Decimal
    entry_price: Decimal
    unrealized_pnl: Decimal = Decimal(0)


@dataclass(frozen=True)
class AccountSnapshot:
    """Equity and open positions in one read."""

    equity: Decimal
    free_collateral: Decimal
    positions: dict[str, VenuePosition] = field(default_factory=dict)


@dataclass(frozen=True)
class AccountState:
    """The monitor's one batched read: open orders, recent fills, positions."""

    account: AccountSnapshot
    open_orders: list[OrderReport]
    fills: list[Fill]


@dataclass(frozen=True)
class OrderBudget:
    """What the account may still place as stateful (conditional / long-term) orders right now.

    Attributes:
        limits: (blocks, max stateful placements) per window, e.g. ((1, 2), (100, 20)); empty when
            the chain sets none.
        room: Placements that fit in the coming block without exceeding any window.
        window_room: Placements left in the longest window.
        max_open_stateful: The equity tier's cap on open stateful orders (None: no cap).
        source: "chain" (read from the node) or "genesis" (mainnet defaults: the node could not say).
    """

    limits: tuple[tuple[int, int], ...]
    room: int
    window_room: int
    max_open_stateful: int | None
    source: str


class Venue(abc.ABC):
    """An exchange account of one user on one network.

    Client ids are supplied by the caller and derived from our own ids
    (`trading_app.domain.ids.client_id_for`), so resending a request can never
    create a second order: a venue treats a repeated client id as the same order.
    """

    network: str

    @abc.abstractmethod
    async def market(self, ticker: str) -> MarketSpec:
        """Return one market's rules and oracle price.

        Raises:
            UnknownMarket: the venue has no such market.
            VenueUnavailable: the price source or venue cannot be reached.
        """

    @abc.abstractmethod
    async def markets(self) -> dict[str, MarketSpec]:
        """Return every market the venue lists, by ticker."""

    @abc.abstractmethod
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
        """Place an immediate-or-cancel order that fills no worse than `worst_price`."""

    @abc.abstractmethod
    async def place_limit_order(
        self,
        market: str,
        side: Side,
        size: Decimal,
        price: Decimal,
        *,
        client_id: int,
        good_til_seconds: int,
    ) -> OrderRef:
        """Place a resting limit entry that expires after `good_til_seconds`."""

    @abc.abstractmethod
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
        """Place a reduce-only conditional market order that fires at `trigger_price`.

        `side` is the order's side (SELL protects a long).
        """

    @abc.abstractmethod
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
        """Place a reduce-only conditional market order that takes profit at `trigger_price`."""

    @abc.abstractmethod
    async def cancel(self, ref: OrderRef) -> None:
        """Cancel an order. Cancelling an order that is already gone is not an error."""

    @abc.abstractmethod
    async def order_status(self, ref: OrderRef) -> OrderReport:
        """Return what the venue guarantees about one order, never a guess.

        A final status (FILLED, CANCELED, EXPIRED, REJECTED) is returned only once the venue
        guarantees it: the order can no longer fill, and `filled` is everything it ever will
        fill. While its fate is open (not visible yet, a short-term order before its
        good-til-block has passed and been indexed, a stateful tx not yet committed) the answer
        is PENDING: the order is in doubt, and the caller waits or asks again. An absence (a
        404, a timeout) is never read as a final status.

        The report's `ref` may carry more than the ref passed in (a good-til-block bound, a
        commit deadline, a tx hash): the caller stores it and passes it back next time.

        Raises:
            OrderNotFound: only when the venue guarantees the order does not exist and never
                will under this placement (paper: no such order; dYdX: a stateful tx not
                committed by its `commit_by` height). The same client id may then be sent again.
            VenueTemporaryError: the venue cannot be asked now (decides nothing).
        """

    async def cancel_many(self, refs: Sequence[OrderRef]) -> list[OrderReport | None] | None:
        """Cancel several orders of this account in one go, if the venue can; `cancel` rules apply.

        Returns:
            Per ref, in order, what `order_status` says after the cancel (None for an order the
            venue does not know); or None when this venue has no batched cancel: the caller then
            cancels one order at a time (the default).

        Raises:
            VenueError: the batch failed (nothing is known about any of its orders).
        """
        return None

    @abc.abstractmethod
    async def fills(self, market: str | None = None, since: datetime | None = None) -> list[Fill]:
        """Return fills, newest last, optionally for one market and after `since`."""

    @abc.abstractmethod
    async def account(self) -> AccountSnapshot:
        """Return equity, free collateral and open positions."""

    @abc.abstractmethod
    async def account_state(self, since: datetime | None = None) -> AccountState:
        """Return open orders, fills after `since` and positions in one batched read."""

    async def order_budget(self) -> OrderBudget | None:
        """What the account may still place as stateful orders now; None: the venue has no such limits.

        The monitor asks before an optional placement (moving a trailing stop: a new stop, then
        the old one cancelled) and defers the move while `room` is 0. Protection that must be
        placed (a stop after a fill) does not ask: it is placed and waits for room as before.

        Raises:
            VenueError: the account cannot be read now (the limits themselves fall back to
                mainnet genesis values, said in `source`).
        """
        return None

    async def close(self) -> None:  # noqa: B027 - optional hook
        """Release connections. Safe to call more than once."""
