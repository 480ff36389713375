"""The fake dYdX chain's state (orders, positions, USDC) and what its indexer has processed.

`DydxExchange` is shared by `FakeDydxNode` (CheckTx, blocks) and the fake indexer routes. Blocks
are produced by `tests.fakes.dydx_blocks.produce_block` (called by `FakeDydxNode.advance`): the
chain changes only there, and the indexer shows a block's changes only once it has processed that
block (`lag_blocks`, `lag_seconds`), as ender does (indexer/services/ender: one block at a time).

Order life on the chain, each rule following dydxprotocol/v4-chain (commit 84d4664):
- short-term orders live in the memclob only (QUEUED, or OPEN when resting) and match in the next
  block, never once the block height passes their good-til-block (keeper/orders.go
  validateGoodTilBlock); their fill amounts stay in state until GTB + ShortBlockWindow
  (keeper/process_single_match.go setOrderFillAmountsAndPruning) and are pruned in EndBlocker
  (abci.go PruneStateFillAmountsForShortTermOrders);
- stateful orders exist once their tx is delivered in a block (keeper/msg_server_place_order.go);
  conditional ones wait UNTRIGGERED, are TRIGGERED in EndBlocker and matched in the next block
  (abci.go MaybeTriggerConditionalOrders, PrepareCheckState);
- stateful orders expire in EndBlocker once GTBT <= block time (keeper/stateful_order_state.go
  RemoveExpiredStatefulOrders).
Amounts arrive as integers (quantums, subticks) and are converted with the market's raw fields,
independently of the product code.
"""

from __future__ import annotations

import threading
import time
import uuid
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

from tests.fakes.dydx_indexer import fill_json, now_iso, order_json, subaccount_json
from tests.fakes.dydx_protection import StoplessMoment
from tests.fakes.indexer import FakeIndexer, Level

CONDITIONAL, LONG_TERM = 32, 64
# clob EquityTierLimitConfiguration.stateful_order_equity_tiers of mainnet genesis
# (protocol/testing/mainnet/genesis.json): (minimum net collateral in USD, max open stateful orders)
EQUITY_TIERS = ((Decimal(0), 0), (Decimal(20), 1), (Decimal(100), 5), (Decimal(1000), 10),
                (Decimal(10000), 100), (Decimal(100000), 200))
NO_CAP = 10_000_000  # types/equity_tier_limit_config.go MaxStatefulOrdersForEquityTier
LIVE = ("QUEUED", "OPEN", "UNTRIGGERED", "TRIGGERED")


@dataclass
class SimOrder:
    key: tuple[str, int, int, int, int]  # owner, subaccount, client id, flags, clob pair
    uuid: str
    ticker: str
    side: str
    size: Decimal
    price: Decimal
    tif: str
    reduce_only: bool
    gtb: int | None
    gtbt: int | None
    trigger: Decimal | None = None
    condition: str | None = None  # STOP_LOSS / TAKE_PROFIT
    # chain-side: QUEUED (short-term, matches next block), OPEN (resting), UNTRIGGERED, TRIGGERED,
    # FILLED or REMOVED; what the indexer shows is derived separately (`DydxExchange.index_order`)
    status: str = "QUEUED"
    filled: Decimal = Decimal(0)
    created_height: int = 0
    tx_hash: str = ""
    client_metadata: int = 0
    placement: int = 0  # serial of the placement that created this object

    @property
    def owner(self) -> str:
        return self.key[0]

    @property
    def subaccount(self) -> int:
        return self.key[1]

    @property
    def flags(self) -> int:
        return self.key[3]

    @property
    def live(self) -> bool:
        return self.status in LIVE


@dataclass
class SimPosition:
    size: Decimal = Decimal(0)  # signed: negative is short
    entry: Decimal = Decimal(0)
    realized: Decimal = Decimal(0)
    created_height: int = 0
    created_at: str = ""


@dataclass
class Versions:
    """Values the indexer shows once it has processed the block that produced them."""

    items: list[tuple[int, Any]] = field(default_factory=list)

    def push(self, height: int, value: Any) -> None:
        self.items.append((height, value))

    def at(self, height: int) -> Any:
        shown = [v for h, v in self.items if h <= height]
        return shown[-1] if shown else None


class DydxExchange:
    """Chain + indexer state shared by `FakeDydxNode` and the fake indexer routes."""

    def __init__(self, indexer: FakeIndexer, *, height: int = 1000, short_block_window: int = 40,
                 taker_fee: Decimal = Decimal("0.0005"), maker_fee: Decimal = Decimal(0)) -> None:
        self.indexer = indexer
        self.lock = threading.RLock()
        self.height = height
        self.block_time = time.time()
        self.short_block_window = short_block_window
        self.taker_fee, self.maker_fee = taker_fee, maker_fee
        self.orders: dict[tuple, SimOrder] = {}
        self.by_uuid: dict[str, SimOrder] = {}
        # process_single_match.go: short-term id -> (filled, prune height = GTB + ShortBlockWindow)
        self.fill_amounts: dict[tuple, tuple[Decimal, int]] = {}
        self.short_term_cancels: dict[tuple, int] = {}  # memclob cancels: id -> their good-til-block
        self.usdc: dict[tuple[str, int], Decimal] = {}
        self.positions: dict[tuple[str, int, str], SimPosition] = {}
        self.books: dict[str, tuple[list[Level], list[Level]]] = {}  # explicit books, consumed by fills
        self.trade_prices: dict[str, tuple[Decimal, Decimal]] = {}  # this block's min/max per market
        self.min_price_change_ppm: dict[str, int] = {}  # prices module MarketParam; default 1000
        self.equity_tier_limit: int | None = None  # override the tier table
        # served by the clob Query service and enforced (10001); empty: no cap
        self.equity_tiers: list[tuple[Decimal, int]] = list(EQUITY_TIERS)
        self.lag_blocks = 0
        self.lag_seconds = 0.0
        self.committed_at: dict[int, float] = {height: time.time()}
        self.genesis = height  # state set up before the first block is the chain's genesis state
        self.rows: dict[str, Versions] = {}  # the indexer's PostgreSQL orders table
        self.redis: dict[str, Versions] = {}  # short-term orders resting in the memclob (Redis)
        self.indexed_owner: dict[str, tuple[str, int]] = {}  # order uuid -> (owner, subaccount)
        self.liquidations: list[tuple[str, int, str, Decimal, Decimal]] = []  # for the next block
        self.produce: Any = None  # set by the node: produces one block (see `liquidate`)
        self.fill_log: list[tuple[int, str, dict[str, Any]]] = []
        self.subaccount_view: dict[tuple[str, int], Versions] = {}
        self._placements = 0
        self._filled_placements: dict[tuple, set[int]] = {}
        self.stopless: dict[tuple[str, int, str], list[StoplessMoment]] = {}

    # -- market data --------------------------------------------------------------------------
    def market(self, clob_pair_id: int) -> dict[str, Any] | None:
        for entry in self.indexer.markets.values():
            if int(entry["clobPairId"]) == clob_pair_id:
                return entry
        return None

    def price(self, ticker: str) -> Decimal:
        return self.indexer.price(ticker)

    def set_price(self, ticker: str, price: Decimal) -> None:
        """Move the oracle price (on the shared indexer); the chain acts on it in its next block."""
        self.indexer.set_price(ticker, Decimal(price))

    def set_book(self, ticker: str, bids: list[Level] | None = None, asks: list[Level] | None = None) -> None:
        """Exactly this liquidity (best first), consumed by fills; `set_book(t)` restores the default
        book (ample depth one tick around the oracle, re-quoted every block). Mirrored to the indexer."""
        with self.lock:
            if bids is None and asks is None:
                self.books.pop(ticker, None)
                self.indexer.set_book(ticker, None)
            else:
                self.books[ticker] = (list(bids or []), list(asks or []))
                self.indexer.set_book(ticker, bids or [], asks or [])

    def levels(self, ticker: str, taker_side: str) -> list[Level]:
        """The levels a taker meets, best first: asks for a BUY, bids for a SELL."""
        bids, asks = self.books.get(ticker) or self.indexer.default_book(ticker, self.price(ticker))
        return asks if taker_side == "BUY" else bids

    def consume(self, ticker: str, taker_side: str, price: Decimal, size: Decimal) -> None:
        if ticker not in self.books:
            return  # the default book is re-quoted around the oracle: makers replace what was taken
        bids, asks = self.books[ticker]
        levels = asks if taker_side == "BUY" else bids
        levels[:] = [(p, s - size if p == price else s) for p, s in levels]
        self.books[ticker] = ([lv for lv in bids if lv[1] > 0], [lv for lv in asks if lv[1] > 0])
        self.indexer.set_book(ticker, *self.books[ticker])

    @staticmethod
    def size_of(quantums: int, market: dict[str, Any]) -> Decimal:
        return Decimal(quantums).scaleb(int(market["atomicResolution"]))

    @staticmethod
    def price_of(subticks: int, market: dict[str, Any]) -> Decimal:
        exponent = int(market["quantumConversionExponent"]) - int(market["atomicResolution"]) - 6
        return Decimal(subticks).scaleb(exponent)

    # -- accounts -----------------------------------------------------------------------------
    def fund(self, owner: str, subaccount: int, usdc: Decimal) -> None:
        with self.lock:
            key = (owner, subaccount)
            self.usdc[key] = self.usdc.get(key, Decimal(0)) + Decimal(usdc)
            self._publish_subaccount(owner, subaccount)

    def equity(self, owner: str, subaccount: int) -> Decimal:
        with self.lock:
            value = self.usdc.get((owner, subaccount), Decimal(0))
            for (o, s, ticker), pos in self.positions.items():
                if (o, s) == (owner, subaccount):
                    value += pos.size * self.price(ticker)
            return value

    def initial_margin(self, owner: str, subaccount: int,
                       override: tuple[str, Decimal] | None = None) -> Decimal:
        """Sum of |size| x oracle x initialMarginFraction, optionally with one market's size replaced."""
        with self.lock:
            sizes = {t: p.size for (o, s, t), p in self.positions.items() if (o, s) == (owner, subaccount)}
            if override is not None:
                sizes[override[0]] = override[1]
            return sum((abs(size) * self.price(t) * Decimal(self.indexer.markets[t]["initialMarginFraction"])
                        for t, size in sizes.items()), Decimal(0))

    def position(self, owner: str, subaccount: int, ticker: str) -> Decimal:
        with self.lock:
            pos = self.positions.get((owner, subaccount, ticker))
            return pos.size if pos else Decimal(0)

    def stateful_limit(self, owner: str, subaccount: int) -> int:
        """keeper/equity_tier_limit.go getEquityTierLimitForSubaccount: the last tier the subaccount's
        net collateral reaches (tiers ascending); 0 below the first."""
        if self.equity_tier_limit is not None:
            return self.equity_tier_limit
        if not self.equity_tiers:
            return NO_CAP
        equity, cap = self.equity(owner, subaccount), 0
        for floor, limit in sorted(self.equity_tiers):
            if equity < floor:
                break
            cap = limit
        return cap

    def open_stateful(self, owner: str, subaccount: int) -> int:
        return sum(1 for o in self.orders.values()
                   if o.owner == owner and o.subaccount == subaccount and o.flags and o.live)

    def filled_amount(self, key: tuple) -> Decimal:
        """What state remembers as filled for an order id (0 once pruned)."""
        return self.fill_amounts.get(key, (Decimal(0), 0))[0]

    # -- orders -------------------------------------------------------------------------------
    def register(self, order: SimOrder) -> SimOrder:
        """A new order object for `order.key` (a placement the chain accepted)."""
        with self.lock:
            previous = self.orders.get(order.key)
            if previous is not None:
                self.by_uuid.pop(previous.uuid, None)
            self._placements += 1
            order.placement = self._placements
            order.created_height = self.height
            order.filled = self.filled_amount(order.key)  # fills of this id still in state
            self.orders[order.key] = order
            self.by_uuid[order.uuid] = order
            return order

    def remove_resting(self, order: SimOrder) -> None:
        """A resting short-term order leaves the memclob (cancelled or expired): gone from Redis; a
        row that fills created gets BEST_EFFORT_CANCELED (vulcan order-remove-handler.ts)."""
        order.status = "REMOVED"
        self.index_resting(order, False)
        if order.filled > 0:
            self.index_order(order, "BEST_EFFORT_CANCELED")

    def fill(self, order: SimOrder, size: Decimal, price: Decimal, liquidity: str = "TAKER",
             fill_type: str = "LIMIT", fee: Decimal | None = None) -> None:
        """Apply one fill in the block being produced: position, USDC, fill amount, indexer fill row."""
        if fee is None:
            fee = size * price * (self.taker_fee if liquidity == "TAKER" else self.maker_fee)
        signed = size if order.side == "BUY" else -size
        key = (order.owner, order.subaccount, order.ticker)
        pos = self.positions.setdefault(key, SimPosition(created_height=self.height, created_at=now_iso()))
        if pos.size == 0 or (pos.size > 0) == (signed > 0):
            pos.entry = (pos.entry * abs(pos.size) + price * size) / (abs(pos.size) + size)
        else:
            closed = min(abs(pos.size), size)
            pos.realized += (price - pos.entry) * closed * (1 if pos.size > 0 else -1)
            if size > abs(pos.size):
                pos.entry = price  # flipped: the remainder opens at this price
        pos.size += signed
        if pos.size == 0:
            del self.positions[key]
        money = (order.owner, order.subaccount)
        self.usdc[money] = self.usdc.get(money, Decimal(0)) - signed * price - fee
        order.filled += size
        if fill_type == "LIMIT" and order.gtb is not None:
            # a short-term id's fill amount outlives the order until GTB + ShortBlockWindow; a
            # stateful order's leaves state with the order (tracked on the order itself here)
            self.fill_amounts[order.key] = (order.filled, order.gtb + self.short_block_window)
        if fill_type == "LIMIT":
            self._filled_placements.setdefault(order.key, set()).add(order.placement)
            low, high = self.trade_prices.get(order.ticker, (price, price))
            self.trade_prices[order.ticker] = (min(low, price), max(high, price))
        row = fill_json(order, size, price, fee, liquidity, self.height, now_iso(), fill_type)
        self.fill_log.append((self.height, order.owner, row))
        self._publish_subaccount(order.owner, order.subaccount)

    def liquidate(self, owner: str, subaccount: int, ticker: str, price: Decimal,
                  fee: Decimal = Decimal(0)) -> None:
        """The protocol liquidates the whole position at `price` in a block produced now: a LIQUIDATED
        fill, no order of the owner's. Resting reduce-only conditional orders stay, as on the chain."""
        with self.lock:
            self.liquidations.append((owner, subaccount, ticker, Decimal(price), Decimal(fee)))
            self.produce()

    def run_liquidations(self) -> None:
        """Called by the block producer: the liquidations queued for this block."""
        for owner, subaccount, ticker, price, fee in self.liquidations:
            pos = self.positions[(owner, subaccount, ticker)]
            side = "SELL" if pos.size > 0 else "BUY"
            order = SimOrder(key=(owner, subaccount, 0, 0, -1), uuid=str(uuid.uuid4()), ticker=ticker,
                             side=side, size=abs(pos.size), price=price, tif="IOC", reduce_only=True,
                             gtb=None, gtbt=None)
            self.fill(order, abs(pos.size), price, fill_type="LIQUIDATED", fee=fee)
        self.liquidations.clear()

    def stopless_moments(self, owner: str, subaccount: int, ticker: str) -> list[StoplessMoment]:
        """Every block at which this position was not covered by a stop-loss (dydx_protection)."""
        with self.lock:
            return list(self.stopless.get((owner, subaccount, ticker), []))

    def double_entries(self) -> list[tuple]:
        """Order ids that were filled under two separate placements (a duplicated intent)."""
        with self.lock:
            return [key for key, placements in self._filled_placements.items() if len(placements) > 1]

    # -- what the indexer processes ------------------------------------------------------------
    def index_order(self, order: SimOrder, status: str) -> None:
        """A new PostgreSQL row version for `order`, produced by the block being built."""
        self.indexed_owner[order.uuid] = (order.owner, order.subaccount)
        self.rows.setdefault(order.uuid, Versions()).push(self.height, order_json(order, status, self.height))

    def index_resting(self, order: SimOrder, resting: bool) -> None:
        """Redis: a short-term order on the book (BEST_EFFORT_OPENED in REST) or gone from it."""
        self.indexed_owner[order.uuid] = (order.owner, order.subaccount)
        value = order_json(order, "BEST_EFFORT_OPENED", self.height) if resting else None
        self.redis.setdefault(order.uuid, Versions()).push(self.height, value)

    def _publish_subaccount(self, owner: str, subaccount: int) -> None:
        positions = {t: SimPosition(p.size, p.entry, p.realized, p.created_height, p.created_at)
                     for (o, s, t), p in self.positions.items() if (o, s) == (owner, subaccount)}
        state = (self.usdc.get((owner, subaccount), Decimal(0)), positions)
        height = 0 if self.height == self.genesis else self.height  # genesis: indexed from the start
        self.subaccount_view.setdefault((owner, subaccount), Versions()).push(height, state)

    def indexer_height(self) -> int:
        """The last block the indexer has processed (`/v4/height`)."""
        with self.lock:
            height = self.height - self.lag_blocks
            if self.lag_seconds:
                cutoff = time.time() - self.lag_seconds
                done = [h for h, at in self.committed_at.items() if at <= cutoff]
                height = min(height, max(done, default=min(self.committed_at)))
            return height

    def visible_order(self, order_uuid: str) -> dict[str, Any] | None:
        # comlink orders-controller.ts getOrder: PostgreSQL row, else the Redis order, else 404
        with self.lock:
            height = self.indexer_height()
            row = self.rows.get(order_uuid)
            found = row.at(height) if row else None
            if found is None and order_uuid in self.redis:
                found = self.redis[order_uuid].at(height)
            return found

    def visible_orders(self, owner: str, subaccount: int) -> list[dict[str, Any]]:
        with self.lock:
            ids = [u for u, who in self.indexed_owner.items() if who == (owner, subaccount)]
            return [o for o in (self.visible_order(u) for u in ids) if o is not None]

    def visible_fills(self, owner: str, subaccount: int) -> list[dict[str, Any]]:
        with self.lock:
            height = self.indexer_height()
            return [f for h, o, f in self.fill_log if h <= height and o == owner
                    and f["subaccountNumber"] == subaccount]

    def visible_subaccount(self, owner: str, subaccount: int) -> dict[str, Any] | None:
        with self.lock:
            height = self.indexer_height()
            view = self.subaccount_view.get((owner, subaccount))
            state = view.at(height) if view else None
            if state is None:
                return None
            usdc, positions = state
            prices = {t: self.price(t) for t in positions}
            return subaccount_json(owner, subaccount, usdc, positions, prices, self.indexer.markets, height)
