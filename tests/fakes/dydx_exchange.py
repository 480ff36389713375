"""A small, deterministic dYdX exchange behind the fake node and the fake indexer.

State the chain would hold (orders, positions, USDC) plus what the indexer would show
(JSON snapshots that become visible only after a configurable lag). Prices come from
the shared `FakeIndexer` (its oracle prices), so `fake_indexer.set_price(...)` moves
this market too; triggers and resting orders are evaluated on every block and on
every indexer read that finds the price changed.

Execution model (enough to exercise a venue adapter, not a matching engine):
- short-term IOC orders fill at the oracle price if it is within their limit
  (`liquidity[ticker]` caps the size filled per order; default unlimited);
- long-term limit orders rest and fill at their limit once the oracle crosses it;
- conditional orders wait UNTRIGGERED until the oracle reaches the trigger, then run
  as reduce-only IOC orders at the oracle price;
- reduce-only orders are clipped to the open position (removed if there is none).
Amounts in the order protos are integers (quantums, subticks), converted here with
the market's raw fields, independently of the product code.
"""

from __future__ import annotations

import threading
import time
import uuid
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

from tests.fakes.dydx_indexer import fill_json, now_iso, order_json, subaccount_json
from tests.fakes.indexer import FakeIndexer

CONDITIONAL, LONG_TERM = 32, 64
# docs' equity tiers: (minimum net collateral, max open stateful orders)
EQUITY_TIERS = ((Decimal(0), 0), (Decimal(20), 10), (Decimal(100), 20), (Decimal(1000), 40),
                (Decimal(10000), 100), (Decimal(100000), 200))


@dataclass
class Lagged:
    """Values the indexer shows once `visible_at` (wall time) and `visible_height` are reached."""

    versions: list[tuple[float, int, Any]] = field(default_factory=list)

    def push(self, value: Any, visible_at: float, visible_height: int) -> None:
        self.versions.append((visible_at, visible_height, value))

    def visible(self, now: float, height: int) -> Any:
        shown = [v for at, h, v in self.versions if at <= now and h <= height]
        return shown[-1] if shown else None


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
    status: str = "OPEN"
    filled: Decimal = Decimal(0)
    removal_reason: str | None = None
    created_height: int = 0
    tx_hash: str = ""
    view: Lagged = field(default_factory=Lagged)

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
        return self.status in ("OPEN", "UNTRIGGERED", "BEST_EFFORT_OPENED")


@dataclass
class SimPosition:
    size: Decimal = Decimal(0)  # signed: negative is short
    entry: Decimal = Decimal(0)
    realized: Decimal = Decimal(0)
    created_height: int = 0
    created_at: str = ""


class DydxExchange:
    """Chain + indexer state shared by `FakeDydxNode` and the fake indexer routes."""

    def __init__(self, indexer: FakeIndexer, *, height: int = 1000,
                 taker_fee: Decimal = Decimal("0.0005")) -> None:
        self.indexer = indexer
        self.lock = threading.RLock()
        self.height = height
        self.block_time = time.time()
        self.taker_fee = taker_fee
        self.orders: dict[tuple, SimOrder] = {}
        self.by_uuid: dict[str, SimOrder] = {}
        self.cancelled: set[tuple] = set()  # stateful ids that may not be placed again (3008)
        self.fills: list[tuple[float, int, str, dict[str, Any]]] = []  # (visible at, height, owner, json)
        self.usdc: dict[tuple[str, int], Decimal] = {}
        self.positions: dict[tuple[str, int, str], SimPosition] = {}
        self.subaccount_view: dict[tuple[str, int], Lagged] = {}
        self.liquidity: dict[str, Decimal] = {}
        self.lag_seconds = 0.0
        self.lag_blocks = 0
        self.equity_tier_limit: int | None = None  # override the tier table
        self._prices: dict[str, Decimal] = {}
        self._filled_placements: dict[tuple, set[int]] = {}

    # -- market data --------------------------------------------------------------------------
    def market(self, clob_pair_id: int) -> dict[str, Any] | None:
        for entry in self.indexer.markets.values():
            if int(entry["clobPairId"]) == clob_pair_id:
                return entry
        return None

    def price(self, ticker: str) -> Decimal:
        return self.indexer.price(ticker)

    def set_price(self, ticker: str, price: Decimal) -> None:
        """Move the oracle (on the shared indexer) and run triggers and resting orders."""
        self.indexer.set_price(ticker, Decimal(price))
        self.sync()

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

    def position(self, owner: str, subaccount: int, ticker: str) -> Decimal:
        with self.lock:
            pos = self.positions.get((owner, subaccount, ticker))
            return pos.size if pos else Decimal(0)

    def stateful_limit(self, owner: str, subaccount: int) -> int:
        if self.equity_tier_limit is not None:
            return self.equity_tier_limit
        equity = self.equity(owner, subaccount)
        return max(limit for floor, limit in EQUITY_TIERS if equity >= floor)

    def open_stateful(self, owner: str, subaccount: int) -> int:
        return sum(1 for o in self.orders.values()
                   if o.owner == owner and o.subaccount == subaccount and o.flags and o.live)

    # -- blocks -------------------------------------------------------------------------------
    def advance(self, blocks: int = 1) -> int:
        """Produce blocks: expire orders, evaluate triggers and resting orders."""
        with self.lock:
            for _ in range(blocks):
                self.height += 1
                self.block_time = time.time()
                for order in list(self.orders.values()):
                    expired = (order.gtb is not None and order.gtb < self.height) or (
                        order.gtbt is not None and order.gtbt <= self.block_time)
                    if order.live and expired:
                        self._finish(order, "CANCELED", "REMOVAL_REASON_EXPIRED")
                self.sync(force=True)
            return self.height

    def sync(self, force: bool = False) -> None:
        """Run triggers and resting orders if any oracle price moved (or `force`)."""
        with self.lock:
            current = {t: self.indexer.price(t) for t in self.indexer.markets}
            if current == self._prices and not force:
                return
            self._prices = current
            for order in list(self.orders.values()):
                if order.status == "UNTRIGGERED" and self._triggered(order):
                    self._execute_ioc(order)
                elif order.status == "OPEN" and order.flags == LONG_TERM:
                    self._match_resting(order)

    def _triggered(self, order: SimOrder) -> bool:
        price = self.price(order.ticker)
        fires_below = (order.condition == "STOP_LOSS") == (order.side == "SELL")
        return price <= order.trigger if fires_below else price >= order.trigger

    # -- orders -------------------------------------------------------------------------------
    def add(self, order: SimOrder) -> None:
        """Record an accepted placement and start executing it."""
        with self.lock:
            previous = self.orders.get(order.key)
            if previous is not None:
                self.by_uuid.pop(previous.uuid, None)
            order.created_height = self.height
            self.orders[order.key] = order
            self.by_uuid[order.uuid] = order
            if order.condition:
                order.status = "UNTRIGGERED"
                self._publish(order)
            elif order.flags == LONG_TERM:
                order.status = "OPEN"
                self._publish(order)
            else:
                order.status = "BEST_EFFORT_OPENED"
                self._execute_ioc(order)

    def cancel(self, order: SimOrder) -> None:
        with self.lock:
            if order.flags:
                self.cancelled.add(order.key)
            if order.live:
                status = "CANCELED" if order.flags else "BEST_EFFORT_CANCELED"
                self._finish(order, status, "REMOVAL_REASON_USER_CANCELED")

    def _clip_reduce_only(self, order: SimOrder, wanted: Decimal) -> Decimal:
        pos = self.position(order.owner, order.subaccount, order.ticker)
        closes = (pos > 0 and order.side == "SELL") or (pos < 0 and order.side == "BUY")
        return min(wanted, abs(pos)) if closes else Decimal(0)

    def _execute_ioc(self, order: SimOrder) -> None:
        price = self.price(order.ticker)
        crosses = price <= order.price if order.side == "BUY" else price >= order.price
        size = order.size - order.filled
        if order.reduce_only:
            size = self._clip_reduce_only(order, size)
            if size == 0:
                self._finish(order, "CANCELED", "REMOVAL_REASON_INVALID_REDUCE_ONLY")
                return
        if order.ticker in self.liquidity:
            size = min(size, self.liquidity[order.ticker])
        if crosses and size > 0:
            self._fill(order, size, price)
        if order.filled >= order.size:
            self._finish(order, "FILLED", None)
        else:
            self._finish(order, "CANCELED", "REMOVAL_REASON_IMMEDIATE_OR_CANCEL_WOULD_REST_ON_BOOK")

    def _match_resting(self, order: SimOrder) -> None:
        price = self.price(order.ticker)
        if (price <= order.price) if order.side == "BUY" else (price >= order.price):
            self._fill(order, order.size - order.filled, order.price, liquidity="MAKER")
            self._finish(order, "FILLED", None)

    def _finish(self, order: SimOrder, status: str, reason: str | None) -> None:
        order.status, order.removal_reason = status, reason
        self._publish(order)

    def liquidate(self, owner: str, subaccount: int, ticker: str, price: Decimal, fee: Decimal = Decimal(0)) -> None:
        """The protocol liquidates the whole position at `price`: a LIQUIDATED fill, no order of the owner's.

        Resting reduce-only conditional orders stay on the book, as they would on the chain: the
        owner (our monitor) has to cancel them.
        """
        with self.lock:
            pos = self.positions[(owner, subaccount, ticker)]
            side = "SELL" if pos.size > 0 else "BUY"
            order = SimOrder(key=(owner, subaccount, 0, 0, -1), uuid=str(uuid.uuid4()), ticker=ticker, side=side,
                             size=abs(pos.size), price=price, tif="IOC", reduce_only=True, gtb=None, gtbt=None)
            self._fill(order, abs(pos.size), price, fill_type="LIQUIDATED", fee=fee)

    def _fill(self, order: SimOrder, size: Decimal, price: Decimal, liquidity: str = "TAKER",
              fill_type: str = "LIMIT", fee: Decimal | None = None) -> None:
        if fee is None:
            fee = (size * price * self.taker_fee) if liquidity == "TAKER" else Decimal(0)
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
        self._filled_placements.setdefault(order.key, set()).add(id(order))
        fill = fill_json(order, size, price, fee, liquidity, self.height, now_iso(), fill_type)
        self.fills.append((*self._visibility(), order.owner, fill))
        self._publish_subaccount(order.owner, order.subaccount)

    def double_entries(self) -> list[tuple]:
        """Order ids that were filled under two separate placements (a duplicated intent)."""
        with self.lock:
            return [key for key, placements in self._filled_placements.items() if len(placements) > 1]

    # -- what the indexer shows --------------------------------------------------------------
    def _visibility(self) -> tuple[float, int]:
        return time.time() + self.lag_seconds, self.height + self.lag_blocks

    def _publish(self, order: SimOrder) -> None:
        order.view.push(order_json(order, self), *self._visibility())

    def _publish_subaccount(self, owner: str, subaccount: int) -> None:
        # the state is lagged; equity and PnL are computed at read time from the oracle
        positions = {t: SimPosition(p.size, p.entry, p.realized, p.created_height, p.created_at)
                     for (o, s, t), p in self.positions.items() if (o, s) == (owner, subaccount)}
        state = (self.usdc.get((owner, subaccount), Decimal(0)), positions, self.height)
        self.subaccount_view.setdefault((owner, subaccount), Lagged()).push(state, *self._visibility())

    def visible_orders(self, owner: str, subaccount: int) -> list[dict[str, Any]]:
        with self.lock:
            now = time.time()
            shown = [o.view.visible(now, self.height) for o in self.orders.values()
                     if (o.owner, o.subaccount) == (owner, subaccount)]
            return [o for o in shown if o is not None]

    def visible_order(self, order_uuid: str) -> dict[str, Any] | None:
        with self.lock:
            order = self.by_uuid.get(order_uuid)
            return order.view.visible(time.time(), self.height) if order else None

    def visible_fills(self, owner: str, subaccount: int) -> list[dict[str, Any]]:
        with self.lock:
            now = time.time()
            return [f for at, h, o, f in self.fills if at <= now and h <= self.height
                    and o == owner and f["subaccountNumber"] == subaccount]

    def visible_subaccount(self, owner: str, subaccount: int) -> dict[str, Any] | None:
        with self.lock:
            view = self.subaccount_view.get((owner, subaccount))
            state = view.visible(time.time(), self.height) if view else None
            if state is None:
                return None
            usdc, positions, height = state
            prices = {t: self.price(t) for t in positions}
            return subaccount_json(owner, subaccount, usdc, positions, prices, self.indexer.markets, height)

