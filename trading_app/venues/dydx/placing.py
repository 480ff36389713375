"""Sending orders to dYdX so that sending a client id again never makes a second order.

Whether an id may be sent is decided from what the chain says about it, never from this process's
memory:
- a stateful id the indexer shows was committed once; sending it again would place a new order as
  soon as the first is gone (CheckTx only refuses ids that are still in state: keeper/orders.go
  PerformStatefulOrderValidation, 3005), so it is not sent and its ref is returned;
- a short-term id the indexer shows has filled is not sent either: its fill amount leaves chain
  state at GTB + ShortBlockWindow (keeper/process_single_match.go), after which the chain would fill
  it again. An id the indexer does not show may be sent: if an earlier copy filled in a block the
  indexer has not processed, the chain still holds that fill and refuses the id (24 fully filled,
  2004 IOC already filled, 20 a live copy with a higher-or-equal GTB) as long as the indexer is less
  than ShortBlockWindow behind, which is checked first (`chain.MAX_INDEXER_LAG_TO_SEND`).
Refusals that name an existing copy of the id are the same order: the ref returned then carries an
upper bound on that copy's good-til-block, or a commit deadline for a stateful copy.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from dataclasses import replace
from decimal import Decimal
from typing import Any

from dydx_v4_client import OrderFlags
from dydx_v4_client.node import message

from trading_app.domain.enums import OrderType, Side
from trading_app.venues.base import MarketSpec, OrderRef
from trading_app.venues.dydx import chain, encoding, parse
from trading_app.venues.dydx import errors as codes
from trading_app.venues.dydx.client import DydxClient
from trading_app.venues.dydx.signer import Signer
from trading_app.venues.dydx.status import Described, OrderReader
from trading_app.venues.errors import OrderRejected, VenueError, VenueTemporaryError

# short-term refusals that mean a copy of this id exists or existed within the fill-amount window
# (memclob/memclob.go validateNewOrder)
SAME_SHORT_TERM = frozenset((codes.CLOB, code) for code in (
    codes.CLOB_ORDER_IS_CANCELED, codes.CLOB_INVALID_REPLACEMENT, codes.CLOB_ORDER_FULLY_FILLED,
    codes.CLOB_IOC_ALREADY_FILLED))
# a reduce-only IOC with nothing to reduce is refused at CheckTx (memclob.go, clob 2001): the order
# never existed, so after its good-til-block it reads EXPIRED with nothing filled, as on any venue
NOTHING_TO_REDUCE = (codes.CLOB, codes.CLOB_REDUCE_ONLY_WOULD_INCREASE)


class Placer:
    """Places orders of one subaccount (see the module docstring)."""

    def __init__(self, client: DydxClient, signer: Signer, reader: OrderReader, *, short_block_window: int,
                 mempool_ttl_blocks: int, short_term_blocks: int,
                 remember: Callable[[str, Described], None]) -> None:
        self.client = client
        self.signer = signer
        self.reader = reader
        self.short_block_window = short_block_window
        self.mempool_ttl_blocks = mempool_ttl_blocks
        self.short_term_blocks = short_term_blocks
        self._remember = remember

    def ref(self, spec: MarketSpec, client_id: int, kind: OrderType, flags: int, **good_til: Any) -> OrderRef:
        """The reference of an order id in this subaccount (no I/O)."""
        owner, sub = self.reader.owner_address, self.reader.subaccount
        uuid = encoding.order_uuid(owner, sub, client_id, spec.clob_pair_id, flags)
        return OrderRef(client_id, spec.ticker, kind, int(flags), spec.clob_pair_id, sub, venue_order_id=uuid,
                        **good_til)

    async def short_term(self, spec: MarketSpec, client_id: int, side: Side, size: Decimal,
                         worst_price: Decimal, reduce_only: bool) -> OrderRef:
        """A short-term IOC market order, unless the chain says this id already filled.

        Args:
            spec: The market (raw dYdX fields included).
            client_id: The order's uint32 client id.
            side: BUY or SELL.
            size: Size on the step grid.
            worst_price: The IOC's limit, on the tick grid.
            reduce_only: Only reduce the position.

        Returns:
            The order's ref with its good-til-block (or an upper bound on an earlier copy's).

        Raises:
            VenueTemporaryError: the indexer is too far behind to tell whether the id filled.
            OrderRejected: the chain refused the order for good (or the input is off the grid).
        """
        encoding.size_to_quantums(size, spec)  # refuse off-grid input before any I/O
        encoding.price_to_subticks(worst_price, spec)
        ref = self.ref(spec, client_id, OrderType.MARKET, OrderFlags.SHORT_TERM)
        indexer_height, height = await asyncio.gather(self.client.indexer_height(),
                                                      self.client.latest_height())
        data = await self.reader.indexed(ref.venue_order_id)  # read after the height: reflects that block
        if data is not None:
            return replace(ref, good_til_block=int(data["goodTilBlock"]))
        if height - indexer_height > chain.MAX_INDEXER_LAG_TO_SEND:
            raise VenueTemporaryError(f"the dYdX indexer is {height - indexer_height} blocks behind the "
                                      "node: cannot tell whether this order id already filled; try again")
        gtb = encoding.short_term_good_til_block(height, self.short_term_blocks)
        order = encoding.market_order(spec, self.reader.owner_address, self.reader.subaccount, client_id,
                                      side, size, worst_price, gtb, reduce_only)
        ref = replace(ref, good_til_block=gtb)
        self._remember(ref.venue_order_id, Described(Side(side), size, None, reduce_only))
        try:
            result = await self.signer.submit(self.client, message.place_order(order), stateful=False)
        except OrderRejected as e:
            if reduce_only and (e.codespace, e.code) == NOTHING_TO_REDUCE:
                return ref
            if (e.codespace, e.code) in SAME_SHORT_TERM:
                bound = chain.good_til_block_bound(height, self.short_block_window)
                return replace(ref, good_til_block=bound)
            raise
        return replace(ref, tx_hash=result.tx_hash)

    async def stateful(self, ref: OrderRef, order: Any, described: Described) -> OrderRef:
        """A long-term or conditional order, unless the chain has committed this id before.

        Args:
            ref: The order's ref (indexer id, good-til-block-time).
            order: The order proto to place.
            described: Side, size and trigger, kept to describe the order before it is indexed.

        Returns:
            `ref` with the tx hash and `commit_by` (the height by which it is committed or never);
            without a hash when the chain refused the id as already present (the same order).

        Raises:
            OrderRejected: the chain refused the order for good.
            VenueTemporaryError: the node cannot be asked now (the tx may have reached it).
        """
        data = await self.reader.indexed(ref.venue_order_id)
        if data is not None:
            return replace(ref, good_til_block_time=parse.ref_from_order(data).good_til_block_time)
        self._remember(ref.venue_order_id, described)
        try:
            result = await self.signer.submit(self.client, message.place_order(order), stateful=True,
                                              placement=True)
        except OrderRejected as e:
            if (e.codespace, e.code) != (codes.CLOB, codes.CLOB_ORDER_ALREADY_EXISTS):
                raise
            # a copy is in committed or uncommitted state: it entered the mempool before now
            return replace(ref, commit_by=await self._deadline_from_now())
        deadline = None
        if result.height is not None:
            deadline = chain.commit_deadline(result.height, self.mempool_ttl_blocks)
        return replace(ref, tx_hash=result.tx_hash, commit_by=deadline)

    async def _deadline_from_now(self) -> int | None:
        try:
            return chain.commit_deadline(await self.client.latest_height(), self.mempool_ttl_blocks)
        except VenueError:
            return None  # order_status sets one at its first read


def check_worst_price(side: Side, trigger: Decimal, worst: Decimal, take_profit: bool) -> None:
    """Refuse a conditional order whose triggered IOC could not fill at its trigger.

    Raises:
        OrderRejected: `worst` is on the wrong side of `trigger` for `side`.
    """
    # the triggered IOC must be able to fill at the trigger: a SELL's limit at or below it, a BUY's above
    if side is Side.SELL and worst > trigger or side is Side.BUY and worst < trigger:
        kind = "take-profit" if take_profit else "stop-loss"
        raise OrderRejected(
            f"{kind} worst price {worst} is on the wrong side of the trigger {trigger} for a {side}"
        )
