"""What DydxVenue guarantees about one order: `Venue.order_status` on dYdX, from the chain's rules.

Short-term orders (IOC entries and closes) reach the indexer's order table only when they fill
(ender dydx_order_fill_handler_per_order.sql inserts the row; vulcan order-remove-handler.ts only
updates rows), so a 404 says nothing. Such an order is finished once the indexer has processed its
good-til-block, the last block it could fill in (`chain.short_term_finished`): its filled amount is
then what its fills say, the rest expired. A fully filled order is final at once (no copy of the id
can fill beyond its size). A ref without a good-til-block gets an upper bound instead (any copy was
sent before now) and stays PENDING; the caller stores the bound and asks again.

Stateful orders (TP/SL, long-term limits) exist once their tx is committed: the indexer shows the
order, or the node's GetTx has the tx with code 0. A non-zero code means DeliverTx refused it
(REJECTED). Neither by the ref's `commit_by` height, as processed by the indexer: it never existed
(OrderNotFound; the mempool dropped it). Before that: PENDING.

No memory of this process decides anything; `Described` only fills in side and size for a report
about an order the indexer has never shown.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, replace
from decimal import Decimal
from typing import Any

import httpx
from dydx_v4_client import OrderFlags

from trading_app.domain.enums import OrderStatus, Side
from trading_app.venues.base import Fill, OrderRef, OrderReport
from trading_app.venues.dydx import chain, encoding, parse
from trading_app.venues.dydx.client import DydxClient
from trading_app.venues.errors import OrderNotFound, VenueError

FILLS_PAGE = 100
MAX_FILL_PAGES = 5


@dataclass(frozen=True)
class Described:
    """What a placement said about an order (descriptive only)."""

    side: Side
    size: Decimal
    trigger: Decimal | None = None
    reduce_only: bool = False


class OrderReader:
    """Reads one order's fate from the node and the indexer of one subaccount.

    Args:
        client: The network's node and indexer.
        owner_address: The subaccount's owner.
        subaccount: Subaccount number.
        short_block_window: The chain's ShortBlockWindow (an upper bound is safe).
        mempool_ttl_blocks: The nodes' mempool TTL in blocks.
        describe: Looks up what this process placed under an indexer order id, if anything.
    """

    def __init__(self, client: DydxClient, owner_address: str, subaccount: int, *, short_block_window: int,
                 mempool_ttl_blocks: int, describe: Callable[[str], Described | None]) -> None:
        self.client = client
        self.owner_address = owner_address
        self.subaccount = subaccount
        self.short_block_window = short_block_window
        self.mempool_ttl_blocks = mempool_ttl_blocks
        self._describe = describe

    async def indexed(self, order_uuid: str) -> dict[str, Any] | None:
        """The indexer's order, or None while it has none (404)."""
        try:
            data: dict[str, Any] = await self.client.get(f"/v4/orders/{order_uuid}")
        except httpx.HTTPStatusError:
            return None
        return data

    async def report(self, ref: OrderRef) -> OrderReport:
        """What the chain guarantees about the order `ref` names (`Venue.order_status`).

        Args:
            ref: The order's ref; it must carry its indexer id (`venue_order_id`).

        Returns:
            The report; its `ref` carries any bound learnt (good-til-block, commit deadline).

        Raises:
            OrderNotFound: a stateful order not committed by its `commit_by` height.
            VenueTemporaryError: the node or the indexer cannot be asked now.
        """
        if encoding.is_stateful(ref.order_flags):
            return await self._stateful(ref)
        return await self._short_term(ref)

    # -- short-term ---------------------------------------------------------------------------
    async def _short_term(self, ref: OrderRef) -> OrderReport:
        if ref.good_til_block is None:
            data = await self.indexed(ref.venue_order_id)
            if data is not None and parse.order_filled(data):
                return await self._fully_filled(replace(ref, good_til_block=int(data["goodTilBlock"])), data)
            bound = chain.good_til_block_bound(await self.client.latest_height(), self.short_block_window)
            return self._pending(replace(ref, good_til_block=bound), data)
        # the height first: the order and fills read after it reflect at least that block
        indexer_height = await self.client.indexer_height()
        data = await self.indexed(ref.venue_order_id)
        if data is not None and parse.order_filled(data):
            return await self._fully_filled(ref, data)
        if not chain.short_term_finished(indexer_height, ref.good_til_block):
            return self._pending(ref, data)
        fills = await self.own_fills(ref, ref.good_til_block)
        filled = sum((f.size for f in fills), Decimal(0))
        side, size, reduce_only = self._shape(ref, data)
        done = size > 0 and filled >= size
        return self._with_fills(OrderReport(ref, OrderStatus.FILLED if done else OrderStatus.EXPIRED, side,
                                            size, filled, reduce_only=reduce_only), fills)

    async def _fully_filled(self, ref: OrderRef, data: dict[str, Any]) -> OrderReport:
        gtb = data.get("goodTilBlock")
        fills = await self.own_fills(ref, int(gtb) if gtb else ref.good_til_block)
        return parse.order_report(data, ref, fills, OrderStatus.FILLED)

    def _pending(self, ref: OrderRef, data: dict[str, Any] | None) -> OrderReport:
        side, size, reduce_only = self._shape(ref, data)
        filled = _amount(data.get("totalFilled")) if data else Decimal(0)
        return OrderReport(ref, OrderStatus.PENDING, side, size, filled, reduce_only=reduce_only,
                           trigger_price=self._trigger(ref, data))

    # -- stateful -----------------------------------------------------------------------------
    async def _stateful(self, ref: OrderRef) -> OrderReport:
        data = await self.indexed(ref.venue_order_id)
        if data is not None:
            return await self._from_indexer(ref, data)
        committed = await self._committed(ref)
        if committed is not None:
            return committed
        if ref.commit_by is None:
            deadline = chain.commit_deadline(await self.client.latest_height(), self.mempool_ttl_blocks)
            return self._pending(replace(ref, commit_by=deadline), None)
        indexer_height = await self.client.indexer_height()
        if indexer_height < ref.commit_by:
            return self._pending(ref, None)
        data = await self.indexed(ref.venue_order_id)  # read again now the indexer is past the deadline
        if data is not None:
            return await self._from_indexer(ref, data)
        committed = await self._committed(ref)
        if committed is not None:
            return committed
        raise OrderNotFound(f"order {ref.client_id} was not committed by block {ref.commit_by}: it was never "
                            "placed (the mempool dropped it)")

    async def _committed(self, ref: OrderRef) -> OrderReport | None:
        if not ref.tx_hash:
            return None
        try:
            tx = await self.client.get_tx(ref.tx_hash)
        except VenueError:
            return None  # a node without a tx index says nothing; the indexer and the deadline decide
        if tx is None:
            return None
        side, size, reduce_only = self._shape(ref, None)
        if tx.code != 0:
            reason = f"refused in DeliverTx ({tx.codespace or '?'} {tx.code}): {tx.log[:200]}"
            return OrderReport(ref, OrderStatus.REJECTED, side, size, reduce_only=reduce_only,
                               trigger_price=self._trigger(ref, None), removal_reason=reason)
        placed = OrderStatus.UNTRIGGERED if ref.order_flags == OrderFlags.CONDITIONAL else OrderStatus.OPEN
        return OrderReport(ref, placed, side, size, reduce_only=reduce_only,
                           trigger_price=self._trigger(ref, None))

    async def _from_indexer(self, ref: OrderRef, data: dict[str, Any]) -> OrderReport:
        if ref.good_til_block_time is None:
            ref = replace(ref, good_til_block_time=parse.ref_from_order(data).good_til_block_time)
        fills = await self.own_fills(ref, None) if _amount(data.get("totalFilled")) > 0 else []
        return parse.order_report(data, ref, fills)

    # -- helpers ------------------------------------------------------------------------------
    async def own_fills(self, ref: OrderRef, up_to_height: int | None) -> list[Fill]:
        """This order's fills (`/v4/fills` of its market matched by orderId), oldest first.

        Args:
            ref: The order's ref (market, indexer id, client id).
            up_to_height: Its good-til-block for a short-term order (no fill is later), else None.
        """
        params: dict[str, Any] = {"address": self.owner_address, "subaccountNumber": self.subaccount,
                                  "market": ref.market, "marketType": "PERPETUAL", "limit": FILLS_PAGE,
                                  "createdBeforeOrAtHeight": up_to_height}
        # a short-term order was placed at most ShortBlockWindow + 1 blocks before its GTB
        earliest = up_to_height - self.short_block_window - 1 if up_to_height is not None else None
        found: dict[str, dict[str, Any]] = {}
        for _ in range(MAX_FILL_PAGES):
            batch = (await self.client.get("/v4/fills", params)).get("fills") or []
            found.update((f["id"], f) for f in batch if f.get("orderId") == ref.venue_order_id)
            lowest = min((int(f["createdAtHeight"]) for f in batch), default=None)
            if len(batch) < FILLS_PAGE or lowest is None or (earliest is not None and lowest < earliest):
                break
            params["createdBeforeOrAtHeight"] = lowest
        ordered = sorted(found.values(), key=lambda f: (int(f["createdAtHeight"]), f["createdAt"], f["id"]))
        return [parse.fill(f, ref.client_id) for f in ordered]

    def _shape(self, ref: OrderRef, data: dict[str, Any] | None) -> tuple[Side, Decimal, bool]:
        if data is not None:
            return Side(data["side"]), _amount(data["size"]), bool(data.get("reduceOnly", False))
        described = self._describe(ref.venue_order_id)
        if described is not None:
            return described.side, described.size, described.reduce_only
        return Side.BUY, Decimal(0), False

    def _trigger(self, ref: OrderRef, data: dict[str, Any] | None) -> Decimal | None:
        if data is not None:
            return parse.dec(data.get("triggerPrice"))
        described = self._describe(ref.venue_order_id)
        return described.trigger if described is not None else None

    @staticmethod
    def _with_fills(report: OrderReport, fills: list[Fill]) -> OrderReport:
        size = sum((f.size for f in fills), Decimal(0))
        if not size:
            return report
        average = sum((f.size * f.price for f in fills), Decimal(0)) / size
        return replace(report, avg_fill_price=average, fee=sum((f.fee for f in fills), Decimal(0)))


def _amount(value: Any) -> Decimal:
    return parse.dec(value, Decimal(0)) or Decimal(0)
