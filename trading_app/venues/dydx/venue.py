"""DydxVenue: the Venue interface on dYdX v4 (testnet or mainnet) for one subaccount.

Orders go to the node (signed by `Signer`, sent by `placing.Placer`), state is read from the
indexer and the node (`status.OrderReader`). Outcomes are decided from what the chain guarantees
(`chain`): a short-term order once its good-til-block has passed and been indexed, a stateful one
once its tx is seen committed or its mempool deadline has passed. Nothing this process remembers
decides an order's fate or whether an id may be sent again.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from dataclasses import replace
from datetime import datetime
from decimal import Decimal
from typing import Any

import httpx
from dydx_v4_client import OrderFlags
from dydx_v4_client.node import message

from trading_app.domain.enums import Network, OrderType, Side
from trading_app.venues.base import (
    AccountSnapshot,
    AccountState,
    Fill,
    MarketSpec,
    OrderBudget,
    OrderRef,
    OrderReport,
    Venue,
)
from trading_app.venues.dydx import chain, encoding, parse, stream
from trading_app.venues.dydx import errors as codes
from trading_app.venues.dydx.client import DydxClient, DydxEndpoints
from trading_app.venues.dydx.credentials import InvalidCredential, normalize_dydx_address
from trading_app.venues.dydx.limits import LimitsCache
from trading_app.venues.dydx.placing import Placer, check_worst_price
from trading_app.venues.dydx.signer import Signer
from trading_app.venues.dydx.status import Described, OrderReader
from trading_app.venues.errors import OrderRejected, UnknownMarket

FILLS_PAGE = 100
# What one venue keeps about orders (uuid -> client id, what a placement described) is bounded:
# the oldest entries go first, and anything forgotten is read back from the indexer
MEMORY = 5000
MAX_FILL_PAGES = 5


class DydxVenue(Venue):
    """One user's dYdX subaccount on one network.

    Args:
        network: `Network.TESTNET` or `Network.MAINNET`.
        owner_address: The dydx1 owner of the subaccount.
        subaccount: Subaccount number (0 for dydx.trade accounts).
        signer: Signs for the owner (mnemonic or permissioned API key).
        endpoints: Node and indexer URLs (`client.endpoints_for`).
        clock: Unix-seconds clock for good-til-block-time (injectable for tests).
        short_term_blocks: Life of short-term IOC orders in blocks (<= 20, the smallest window).
        spec_ttl: Seconds a market's raw fields are cached for encoding.
        short_block_window: The chain's ShortBlockWindow (default per network: 40, which is also
            right, only slower to decide, on a chain that still has 20).
        mempool_ttl_blocks: Blocks a node keeps an uncommitted tx (TTLNumBlocks).
    """

    def __init__(
        self,
        network: Network | str,
        owner_address: str,
        subaccount: int,
        signer: Signer,
        endpoints: DydxEndpoints,
        *,
        clock: Callable[[], float] = time.time,
        short_term_blocks: int = encoding.SHORT_TERM_BLOCKS,
        spec_ttl: float = 60.0,
        short_block_window: int | None = None,
        mempool_ttl_blocks: int = chain.MEMPOOL_TTL_BLOCKS,
    ) -> None:
        self.network = Network(network)
        self.owner_address = normalize_dydx_address(owner_address)
        if signer.owner_address != self.owner_address:
            raise InvalidCredential(
                f"the signing credential is for {signer.owner_address}, not for {self.owner_address}"
            )
        if not isinstance(subaccount, int) or not 0 <= subaccount <= 128_000:
            raise InvalidCredential("the subaccount number must be 0..128000")
        if not 1 <= short_term_blocks <= chain.SMALLEST_SHORT_BLOCK_WINDOW:
            raise ValueError(f"short-term life must be 1..{chain.SMALLEST_SHORT_BLOCK_WINDOW} blocks")
        self.subaccount = subaccount
        self.signer = signer
        self.client = DydxClient(endpoints)
        self.short_block_window = short_block_window or chain.SHORT_BLOCK_WINDOWS[self.network]
        self._clock = clock
        self._short_term_blocks = short_term_blocks
        self._spec_ttl = spec_ttl
        self._specs: dict[str, tuple[float, MarketSpec]] = {}
        self._described: dict[str, Described] = {}
        self._client_ids: dict[str, int] = {}
        self._cancels: dict[int, None] = {}  # client ids we asked to cancel (the stream's echo)
        self.limits = LimitsCache(self.client)
        self.reader = OrderReader(self.client, self.owner_address, subaccount,
                                  short_block_window=self.short_block_window,
                                  mempool_ttl_blocks=mempool_ttl_blocks, describe=self._described.get)
        self.placer = Placer(self.client, signer, self.reader, short_block_window=self.short_block_window,
                             mempool_ttl_blocks=mempool_ttl_blocks, short_term_blocks=short_term_blocks,
                             remember=lambda uuid, d: _remember(self._described, uuid, d))

    # -- markets ---------------------------------------------------------------------------

    async def market(self, ticker: str) -> MarketSpec:
        """Return one market's rules and oracle price from the indexer."""
        try:
            data = await self.client.get("/v4/perpetualMarkets", {"ticker": ticker})
        except httpx.HTTPStatusError:
            raise UnknownMarket(f"dYdX has no market {ticker}") from None
        entry = (data.get("markets") or {}).get(ticker)
        if entry is None:
            raise UnknownMarket(f"dYdX has no market {ticker}")
        spec = parse.market_spec(entry)
        self._specs[ticker] = (time.monotonic(), spec)
        return spec

    async def markets(self) -> dict[str, MarketSpec]:
        """Return every perpetual market the indexer lists."""
        data = await self.client.get("/v4/perpetualMarkets")
        return {ticker: parse.market_spec(entry) for ticker, entry in (data.get("markets") or {}).items()}

    async def _spec(self, ticker: str) -> MarketSpec:
        cached = self._specs.get(ticker)
        if cached and time.monotonic() - cached[0] < self._spec_ttl:
            return cached[1]
        return await self.market(ticker)

    # -- placing ---------------------------------------------------------------------------

    async def place_market_order(
        self, market: str, side: Side, size: Decimal, *, worst_price: Decimal, client_id: int,
        reduce_only: bool = False,
    ) -> OrderRef:
        """Short-term IOC order bounded by `worst_price`, alive `short_term_blocks` blocks.

        Sending an id the chain has seen fill returns that order's ref instead (see `placing`).
        """
        spec = await self._spec(market)
        encoding.check_client_id(client_id)
        ref = await self.placer.short_term(spec, client_id, Side(side), size, worst_price, reduce_only)
        return self._known(ref)

    async def place_limit_order(
        self, market: str, side: Side, size: Decimal, price: Decimal, *, client_id: int,
        good_til_seconds: int,
    ) -> OrderRef:
        """Long-term (stateful) limit order expiring after `good_til_seconds`.

        The ref carries the tx hash and `commit_by`, the height by which it is committed or never.
        """
        spec = await self._spec(market)
        encoding.check_client_id(client_id)
        await self._configure_limiter()
        gtbt = encoding.good_til_block_time(self._clock(), good_til_seconds)
        order = encoding.limit_order(spec, self.owner_address, self.subaccount, client_id, side, size,
                                     price, gtbt)
        ref = self.placer.ref(spec, client_id, OrderType.LIMIT, OrderFlags.LONG_TERM,
                              good_til_block_time=gtbt)
        return self._known(await self.placer.stateful(ref, order, Described(Side(side), size)))

    async def _place_conditional(
        self, market: str, side: Side, size: Decimal, trigger_price: Decimal, worst_price: Decimal,
        client_id: int, good_til_seconds: int, take_profit: bool,
    ) -> OrderRef:
        spec = await self._spec(market)
        encoding.check_client_id(client_id)
        check_worst_price(Side(side), trigger_price, worst_price, take_profit)
        await self._configure_limiter()
        gtbt = encoding.good_til_block_time(self._clock(), good_til_seconds)
        order = encoding.conditional_order(spec, self.owner_address, self.subaccount, client_id, side, size,
                                           trigger_price, worst_price, take_profit, gtbt)
        kind = OrderType.TAKE_PROFIT_MARKET if take_profit else OrderType.STOP_MARKET
        ref = self.placer.ref(spec, client_id, kind, OrderFlags.CONDITIONAL, good_til_block_time=gtbt)
        return self._known(await self.placer.stateful(ref, order, Described(Side(side), size, trigger_price,
                                                                            True)))

    def _known(self, ref: OrderRef) -> OrderRef:
        _remember(self._client_ids, ref.venue_order_id, ref.client_id)  # fills name orders by uuid
        return ref

    async def place_stop_loss(
        self, market: str, side: Side, size: Decimal, trigger_price: Decimal, *, worst_price: Decimal,
        client_id: int, good_til_seconds: int,
    ) -> OrderRef:
        """Conditional reduce-only IOC market order (STOP_MARKET, CONDITION_TYPE_STOP_LOSS)."""
        return await self._place_conditional(market, side, size, trigger_price, worst_price, client_id,
                                             good_til_seconds, take_profit=False)

    async def place_take_profit(
        self, market: str, side: Side, size: Decimal, trigger_price: Decimal, *, worst_price: Decimal,
        client_id: int, good_til_seconds: int,
    ) -> OrderRef:
        """Conditional reduce-only IOC market order (TAKE_PROFIT_MARKET)."""
        return await self._place_conditional(market, side, size, trigger_price, worst_price, client_id,
                                             good_til_seconds, take_profit=True)

    # -- the stateful-order budget ---------------------------------------------------------

    async def _configure_limiter(self) -> None:
        # the signer's limiter waits by the chain's own limits (read at most hourly, `limits`)
        self.signer.limiter.configure((await self.limits.get()).stateful)

    async def order_budget(self) -> OrderBudget:
        """The account's stateful-order budget now (base.py's contract).

        The limits are the chain's (clob BlockRateLimitConfiguration / EquityTierLimitConfiguration,
        `limits`), or mainnet genesis values when the node cannot say (`source`). `room` and
        `window_room` count this signer's placements (the limiter's tally, which counts every
        attempt the chain counts) at the latest height, where the next placement is counted;
        placements made by another client of the same owner are not seen. `max_open_stateful` is
        the equity tier of the subaccount's net collateral.

        Raises:
            VenueError: the node's height or the indexer's account cannot be read.
        """
        limits = await self.limits.get()
        limiter = self.signer.limiter
        limiter.configure(limits.stateful)
        height, account = await asyncio.gather(self.client.latest_height(), self.account())
        return OrderBudget(limits.stateful, limiter.room(height), limiter.window_room(height),
                           limits.max_open_stateful(account.equity), limits.source)

    # -- cancelling ------------------------------------------------------------------------

    async def cancel(self, ref: OrderRef) -> None:
        """Cancel an order; an order already filled, cancelled or expired is not an error.

        Short-term: good-til-block >= the order's. Stateful: the order's own
        good-til-block-time (stored in the ref), which the chain requires.
        """
        ref = await self._complete(ref)
        _remember(self._cancels, ref.client_id, None)  # before sending: the echo may come first
        order_id = message.order_id(self.owner_address, ref.subaccount, ref.client_id, ref.clob_pair_id,
                                    ref.order_flags)
        stateful = encoding.is_stateful(ref.order_flags)
        if stateful:
            # the chain needs GTBT >= the order's; with none stored, the latest any order can have
            gtbt = ref.good_til_block_time or int(self._clock()) + encoding.MAX_STATEFUL_SECONDS - 120
            if gtbt <= self._clock():
                return  # expired on its own
            msg = encoding.cancel_message(order_id, good_til_block_time=gtbt)
        else:
            height = await self.client.latest_height()
            if ref.good_til_block is not None and ref.good_til_block <= height:
                return  # a short-term order cannot outlive its good-til-block
            # >= the order's (the memclob removes it only then), within the smallest window the
            # chain may have (a larger GTB is refused with clob 11)
            gtb = min(max(ref.good_til_block or 0, height + self._short_term_blocks),
                      height + 1 + chain.SMALLEST_SHORT_BLOCK_WINDOW)
            msg = encoding.cancel_message(order_id, good_til_block=gtb)
        try:
            await self.signer.submit(self.client, msg, stateful=stateful)
        except OrderRejected as e:
            if (e.codespace, e.code) not in codes.CANCEL_GONE:
                raise

    # -- reading ---------------------------------------------------------------------------

    async def _complete(self, ref: OrderRef) -> OrderRef:
        # a ref rebuilt by hand may lack the indexer id; its market names the clob pair
        if ref.venue_order_id:
            return ref
        clob = (await self._spec(ref.market)).clob_pair_id
        uuid = encoding.order_uuid(self.owner_address, ref.subaccount, ref.client_id, clob, ref.order_flags)
        return replace(ref, clob_pair_id=clob, venue_order_id=uuid)

    async def order_status(self, ref: OrderRef) -> OrderReport:
        """What the chain guarantees about one order (`status.OrderReader`; base.py's contract).

        Raises:
            OrderNotFound: a stateful order not committed by its `commit_by` height.
            VenueTemporaryError: the node or indexer cannot be asked now.
        """
        ref = await self._complete(ref)
        _remember(self._client_ids, ref.venue_order_id, ref.client_id)  # the uuid is derived from it
        return await self.reader.report(ref)

    async def _raw_fills(self, market: str | None, since: datetime | None) -> list[dict[str, Any]]:
        params: dict[str, Any] = {"address": self.owner_address, "subaccountNumber": self.subaccount,
                                  "limit": FILLS_PAGE}
        if market:
            # the 1.1.5 wrapper sends ticker=, which /v4/fills ignores
            params.update(market=market, marketType="PERPETUAL")
        found: dict[str, dict[str, Any]] = {}
        for _ in range(MAX_FILL_PAGES):
            try:
                batch = (await self.client.get("/v4/fills", params)).get("fills") or []
            except httpx.HTTPStatusError:
                return []
            fresh = [f for f in batch if since is None or parse.moment(f["createdAt"]) > since]
            found.update((f["id"], f) for f in fresh)
            if since is None or len(batch) < FILLS_PAGE or len(fresh) < len(batch):
                break
            params["createdBeforeOrAtHeight"] = min(int(f["createdAtHeight"]) for f in batch)
        return sorted(found.values(),
                      key=lambda f: (int(f.get("createdAtHeight", 0)), f["createdAt"], f["id"]))

    async def _client_id(self, uuid: str | None) -> int:
        if not uuid:
            return 0  # a liquidation or deleveraging fill: the protocol's, no order of ours
        if uuid not in self._client_ids:
            try:
                data = await self.client.get(f"/v4/orders/{uuid}")
                _remember(self._client_ids, uuid, int(data["clientId"]))
            except httpx.HTTPStatusError:
                return 0  # not our order (liquidation, deleveraging) or not indexed yet
        return self._client_ids[uuid]

    async def _resolve(self, raw: list[dict[str, Any]]) -> list[Fill]:
        ids = await asyncio.gather(*(self._client_id(f.get("orderId")) for f in raw))
        return [parse.fill(f, cid) for f, cid in zip(raw, ids, strict=True)]

    async def fills(self, market: str | None = None, since: datetime | None = None) -> list[Fill]:
        """Fills of this subaccount, newest last, optionally one market and after `since`."""
        return await self._resolve(await self._raw_fills(market, since))

    async def _subaccount(self) -> dict[str, Any] | None:
        try:
            path = f"/v4/addresses/{self.owner_address}/subaccountNumber/{self.subaccount}"
            data = await self.client.get(path)
        except httpx.HTTPStatusError:
            return None  # no deposit yet: the indexer does not know the subaccount
        subaccount: dict[str, Any] | None = data.get("subaccount")
        return subaccount

    async def account(self) -> AccountSnapshot:
        """Equity, free collateral and open positions (one indexer call)."""
        return parse.account_snapshot(await self._subaccount())

    async def _open_orders(self) -> list[dict[str, Any]]:
        params = {"address": self.owner_address, "subaccountNumber": self.subaccount,
                  "status": ",".join(parse.OPEN_STATUSES), "limit": 500}
        try:
            orders: list[dict[str, Any]] = await self.client.get("/v4/orders", params)
            return orders
        except httpx.HTTPStatusError:
            return []

    async def account_state(self, since: datetime | None = None) -> AccountState:
        """Open orders, fills after `since` and positions: three indexer calls in parallel."""
        orders, raw_fills, sub = await asyncio.gather(self._open_orders(), self._raw_fills(None, since),
                                                      self._subaccount())
        reports = []
        for data in orders:
            ref = parse.ref_from_order(data)
            _remember(self._client_ids, ref.venue_order_id, ref.client_id)
            reports.append(parse.order_report(data, ref))
        return AccountState(parse.account_snapshot(sub), reports, await self._resolve(raw_fills))

    # -- the indexer's websocket (venues.dydx.stream) ------------------------------------------

    @property
    def stream_id(self) -> str:
        """This subaccount's `v4_subaccounts` subscription id."""
        return stream.subscription_id(self.owner_address, self.subaccount)

    @property
    def stream_url(self) -> str:
        """The websocket of this venue's indexer."""
        return stream.ws_url(self.client.endpoints.indexer_url)

    def absorb(self, contents: dict[str, Any]) -> None:
        """Learn from one `v4_subaccounts` update: each order's uuid -> client id, so the fills read
        next resolve their orders without asking `/v4/orders/{uuid}`. Nothing is decided from it."""
        for order in contents.get("orders") or ():
            if isinstance(order, dict) and order.get("id") and str(order.get("clientId", "")).isdigit():
                _remember(self._client_ids, str(order["id"]), int(order["clientId"]))

    def asked_to_cancel(self, client_id: int) -> bool:
        """Did this venue send a cancel for `client_id` (of the last MEMORY)? See `stream.our_cancels`."""
        return client_id in self._cancels

    async def close(self) -> None:
        """Close the node channel."""
        await self.client.close()


def _remember(memory: dict[Any, Any], key: Any, value: Any) -> None:
    memory.pop(key, None)
    memory[key] = value  # newest last
    while len(memory) > MEMORY:
        memory.pop(next(iter(memory)))

