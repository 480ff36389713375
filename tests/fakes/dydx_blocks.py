"""What happens in one block of the fake dYdX chain: matches, delivered txs, then EndBlocker.

The order follows dydxprotocol/v4-chain (commit 84d4664):
1. the proposer's operations come first (app/prepare/prepare_proposal.go puts ProposedOperations
   first; keeper/process_operations.go): short-term orders placed at CheckTx since the last block,
   conditional orders triggered in the last block and long-term orders delivered in an earlier block
   (abci.go PrepareCheckState places them) match against the book. A taker fills level by level at
   the makers' prices up to its limit; a taker whose fill would leave its subaccount below initial
   margin is removed instead (memclob/memclob.go, REMOVAL_REASON_UNDERCOLLATERALIZED); a reduce-only
   order is cut to the position and removed when nothing is left to reduce
   (keeper/orders.go MustValidateReduceOnlyOrder). What an order fills is indexed as ender does
   (indexer/services/ender/src/scripts/helpers/dydx_get_order_status.sql): FILLED when full, an IOC's
   partial fill CANCELED, a resting order's OPEN; an IOC that filled nothing never gets a row.
2. mempool txs are delivered (the node's `_deliver`, dydx_checks.deliver_message);
3. EndBlocker (abci.go): prune short-term fill amounts at GTB + ShortBlockWindow, expire stateful
   orders (GTBT <= block time), then trigger conditional orders with the oracle price and the
   block's trade prices clamped to oracle +- 5 x minPriceChangePpm
   (keeper/untriggered_conditional_orders.go MaybeTriggerConditionalOrders; types/order.go
   CanTrigger: TP BUY / SL SELL fire at price <= trigger, TP SELL / SL BUY at price >= trigger).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from decimal import Decimal

from tests.fakes.dydx_exchange import LONG_TERM, DydxExchange, SimOrder

DEFAULT_MIN_PRICE_CHANGE_PPM = 1000
TRIGGER_MULTIPLIER = 5  # types/constants.go ConditionalOrderTriggerMultiplier


@dataclass
class BlockContext:
    """Ids this block cancelled or removed (msg_server_place_order.go: 3008 / 3009 for a placement of
    the same id later in the block)."""

    cancelled: set[tuple] = field(default_factory=set)
    removed: set[tuple] = field(default_factory=set)


def run_operations(exchange: DydxExchange, block: BlockContext) -> None:
    """Step 1: the block's matches, in time priority."""
    for order in sorted(exchange.orders.values(), key=lambda o: o.placement):
        if order.status == "QUEUED" and (order.gtb or 0) < exchange.height:
            order.status = "REMOVED"  # past its good-til-block it can no longer fill (orders.go)
        elif order.status == "QUEUED":
            match_taker(exchange, order)
            _after_short_term_match(exchange, order)
        elif order.status == "TRIGGERED":
            match_taker(exchange, order)
            _after_triggered_match(exchange, order, block)
        elif order.status == "OPEN" and order.created_height < exchange.height:
            _match_resting(exchange, order)
    exchange.run_liquidations()


def end_block(exchange: DydxExchange) -> None:
    """Step 3: pruning, expiry, triggers."""
    height = exchange.height
    for key, (_, prune) in list(exchange.fill_amounts.items()):
        if prune <= height:  # order_state.go PruneStateFillAmountsForShortTermOrders
            del exchange.fill_amounts[key]
    for key, gtb in list(exchange.short_term_cancels.items()):
        if gtb <= height:
            del exchange.short_term_cancels[key]
    for order in list(exchange.orders.values()):
        if order.flags and order.live and order.gtbt is not None and order.gtbt <= exchange.block_time:
            order.status = "REMOVED"
            exchange.index_order(order, "CANCELED")  # dydx_stateful_order_handler.sql: removal
        elif not order.flags and order.status == "OPEN" and (order.gtb or 0) <= height:
            exchange.remove_resting(order)  # no longer valid in the next block: purged
    _trigger(exchange)
    exchange.trade_prices.clear()


def match_taker(exchange: DydxExchange, order: SimOrder) -> None:
    """Fill `order` against the book, best level first, within its limit price."""
    remaining = order.size - order.filled
    if order.reduce_only:
        remaining = min(remaining, _closable(exchange, order))
    for price, size in list(exchange.levels(order.ticker, order.side)):
        if remaining <= 0 or (price > order.price if order.side == "BUY" else price < order.price):
            break
        quantity = min(remaining, size)
        if not _collateralized(exchange, order, quantity, price):
            break  # removed: undercollateralized; what filled before stands
        exchange.fill(order, quantity, price)
        exchange.consume(order.ticker, order.side, price, quantity)
        remaining -= quantity


def _closable(exchange: DydxExchange, order: SimOrder) -> Decimal:
    position = exchange.position(order.owner, order.subaccount, order.ticker)
    closes = (position > 0 and order.side == "SELL") or (position < 0 and order.side == "BUY")
    return abs(position) if closes else Decimal(0)


def _collateralized(exchange: DydxExchange, order: SimOrder, quantity: Decimal, price: Decimal) -> bool:
    # x/subaccounts/keeper/subaccount.go: an update that increases risk needs net collateral >=
    # initial margin after it; one that only reduces the position is always allowed
    before = exchange.position(order.owner, order.subaccount, order.ticker)
    after = before + (quantity if order.side == "BUY" else -quantity)
    if abs(after) <= abs(before) and (after == 0 or (after > 0) == (before > 0)):
        return True
    cash = exchange.usdc.get((order.owner, order.subaccount), Decimal(0))
    cash -= (after - before) * price + quantity * price * exchange.taker_fee
    equity = cash + after * exchange.price(order.ticker) + sum(
        (p.size * exchange.price(t) for (o, s, t), p in exchange.positions.items()
         if (o, s) == (order.owner, order.subaccount) and t != order.ticker), Decimal(0))
    return equity >= exchange.initial_margin(order.owner, order.subaccount, (order.ticker, after))


def _after_short_term_match(exchange: DydxExchange, order: SimOrder) -> None:
    if order.filled >= order.size:
        order.status = "FILLED"
        exchange.index_order(order, "FILLED")
    elif order.tif == "IOC":
        order.status = "REMOVED"  # the rest of an IOC is cancelled at once
        if order.filled > 0:
            exchange.index_order(order, "CANCELED")
    else:
        order.status = "OPEN"  # a short-term limit rests in the memclob (Redis) until its GTB
        if order.filled > 0:
            exchange.index_order(order, "OPEN")
        exchange.index_resting(order, True)


def _after_triggered_match(exchange: DydxExchange, order: SimOrder, block: BlockContext) -> None:
    if order.filled >= order.size:
        order.status = "FILLED"
        exchange.index_order(order, "FILLED")
        return
    order.status = "REMOVED"  # conditional TP/SL are IOC: removed with what filled (process_operations.go)
    block.removed.add(order.key)
    exchange.index_order(order, "CANCELED")


def _match_resting(exchange: DydxExchange, order: SimOrder) -> None:
    oracle = exchange.price(order.ticker)
    if (oracle <= order.price) if order.side == "BUY" else (oracle >= order.price):
        exchange.fill(order, order.size - order.filled, order.price, liquidity="MAKER")
        order.status = "FILLED"
        exchange.index_order(order, "FILLED")
        if order.flags != LONG_TERM:
            exchange.index_resting(order, False)


def _can_trigger(order: SimOrder, price: Decimal) -> bool:
    fires_below = (order.condition == "TAKE_PROFIT") == (order.side == "BUY")
    return order.trigger >= price if fires_below else order.trigger <= price


def _trigger(exchange: DydxExchange) -> None:
    for order in sorted(exchange.orders.values(), key=lambda o: o.placement):
        if order.status != "UNTRIGGERED":
            continue
        oracle = exchange.price(order.ticker)
        prices = [oracle]
        if order.ticker in exchange.trade_prices:
            ppm = exchange.min_price_change_ppm.get(order.ticker, DEFAULT_MIN_PRICE_CHANGE_PPM)
            band = oracle * ppm * TRIGGER_MULTIPLIER / Decimal(1_000_000)
            prices += [min(max(p, oracle - band), oracle + band) for p in exchange.trade_prices[order.ticker]]
        if any(_can_trigger(order, p) for p in prices):
            order.status = "TRIGGERED"
            exchange.index_order(order, "OPEN")  # dydx_stateful_order_handler.sql: triggered -> OPEN
