"""The clob rules the fake node applies to MsgPlaceOrder / MsgCancelOrder / MsgBatchCancel.

Stateless checks follow `x/clob/types/message_place_order.go` (as described in dydx-v4.md
§3.2-3.5); stateful ones need the `DydxExchange` (existing ids, positions, equity tiers).
Every refusal is a `ClobRejection(codespace, code, log)`, which the node returns as the
BroadcastTx result like CheckTx does.
"""

from __future__ import annotations

from decimal import Decimal
from typing import TYPE_CHECKING, Any

from google.protobuf.any_pb2 import Any as PbAny
from v4_proto.dydxprotocol.clob.order_pb2 import Order
from v4_proto.dydxprotocol.clob.tx_pb2 import MsgBatchCancel, MsgCancelOrder, MsgPlaceOrder

from tests.fakes.dydx_indexer import order_uuid

if TYPE_CHECKING:
    from tests.fakes.dydx_exchange import DydxExchange

SHORT_BLOCK_WINDOW = 40
STATEFUL_WINDOW_SECONDS = 95 * 24 * 3600
_MESSAGES = {
    "/dydxprotocol.clob.MsgPlaceOrder": MsgPlaceOrder,
    "/dydxprotocol.clob.MsgCancelOrder": MsgCancelOrder,
    "/dydxprotocol.clob.MsgBatchCancel": MsgBatchCancel,
}
_TIF = {Order.TIME_IN_FORCE_UNSPECIFIED: "GTT", Order.TIME_IN_FORCE_IOC: "IOC",
        Order.TIME_IN_FORCE_POST_ONLY: "POST_ONLY", Order.TIME_IN_FORCE_FILL_OR_KILL: "FOK"}


class ClobRejection(Exception):
    def __init__(self, code: int, log: str, codespace: str = "clob") -> None:
        super().__init__(log)
        self.codespace, self.code, self.log = codespace, code, log


def decode_message(packed: PbAny) -> Any:
    kind = _MESSAGES.get(packed.type_url)
    if kind is None:
        raise ClobRejection(6, f"unable to resolve type URL {packed.type_url}", "sdk")
    msg = kind()
    packed.Unpack(msg)
    return msg


def is_stateful(msg: Any) -> bool:
    if isinstance(msg, MsgPlaceOrder):
        return msg.order.order_id.order_flags != 0
    if isinstance(msg, MsgCancelOrder):
        return msg.order_id.order_flags != 0
    return False


def is_stateful_placement(msg: Any) -> bool:
    return isinstance(msg, MsgPlaceOrder) and msg.order.order_id.order_flags != 0


def apply_message(exchange: DydxExchange, msg: Any, tx_hash: str) -> None:
    """Validate `msg` like CheckTx and apply it to the exchange, or raise ClobRejection."""
    if isinstance(msg, MsgPlaceOrder):
        _place(exchange, msg.order, tx_hash)
    elif isinstance(msg, MsgCancelOrder):
        _cancel(exchange, msg)
    else:
        _batch_cancel(exchange, msg)


def _validate_basic(order: Order) -> None:
    flags = order.order_id.order_flags
    if order.side == Order.SIDE_UNSPECIFIED:
        raise ClobRejection(3, "UNSPECIFIED is not a valid order side: Invalid order side")
    if order.quantums == 0:
        raise ClobRejection(4, "order size quantums cannot be 0: Invalid order quantums")
    if order.time_in_force == Order.TIME_IN_FORCE_FILL_OR_KILL:
        raise ClobRejection(12, "Fill-or-kill has been deprecated: MsgPlaceOrder is invalid")
    if flags == 0 and order.good_til_block == 0:
        raise ClobRejection(5, "order goodTilBlock cannot be 0: Invalid order goodTilBlock")
    if flags in (32, 64) and order.good_til_block_time == 0:
        raise ClobRejection(3001, "stateful order goodTilBlockTime cannot be 0")
    if flags not in (0, 32, 64):
        raise ClobRejection(3000, f"invalid order flag {flags}: Invalid order flags")
    if flags == 64 and order.time_in_force == Order.TIME_IN_FORCE_IOC:
        raise ClobRejection(3002, "Stateful orders cannot require immediate execution")
    if order.reduce_only and order.time_in_force != Order.TIME_IN_FORCE_IOC:
        raise ClobRejection(9003, "reduce only orders must be short term IOC orders")
    if order.subticks == 0:
        raise ClobRejection(6, "order subticks cannot be 0: Invalid order subticks")
    unspecified = order.condition_type == Order.CONDITION_TYPE_UNSPECIFIED
    if flags == 32 and unspecified:
        raise ClobRejection(6000, "condition type cannot be unspecified: Conditional type is invalid")
    if flags == 32 and order.conditional_order_trigger_subticks == 0:
        raise ClobRejection(6001, "conditional order trigger subticks cannot be 0")
    if flags != 32 and not unspecified:
        raise ClobRejection(6000, "condition type specified for non-conditional order")
    if flags != 32 and order.conditional_order_trigger_subticks != 0:
        raise ClobRejection(6001, "conditional order trigger subticks greater than 0 for "
                                  "non-conditional order")


def _market(exchange: DydxExchange, clob_pair_id: int) -> dict[str, Any]:
    market = exchange.market(clob_pair_id)
    if market is None:
        raise ClobRejection(8, f"ClobPair ID {clob_pair_id} does not reference a valid CLOB")
    return market


def _check_grid(order: Order, market: dict[str, Any]) -> None:
    step, tick = int(market["stepBaseQuantums"]), int(market["subticksPerTick"])
    if order.quantums % step:
        raise ClobRejection(12, f"Order Quantums {order.quantums} must be a multiple of the ClobPair's "
                                f"StepBaseQuantums {step}: MsgPlaceOrder is invalid")
    for what, value in (("Subticks", order.subticks), ("ConditionalOrderTriggerSubticks",
                                                       order.conditional_order_trigger_subticks)):
        if value % tick:
            raise ClobRejection(12, f"Order {what} {value} must be a multiple of the ClobPair's "
                                    f"SubticksPerTick {tick}: MsgPlaceOrder is invalid")


def _check_good_til(exchange: DydxExchange, flags: int, gtb: int, gtbt: int) -> None:
    if flags == 0:
        next_height = exchange.height + 1
        if gtb < next_height:
            raise ClobRejection(10, f"GoodTilBlock {gtb} is less than next block height {next_height}")
        if gtb > next_height + SHORT_BLOCK_WINDOW:
            raise ClobRejection(11, f"GoodTilBlock {gtb} exceeds ShortBlockWindow from {next_height}")
        return
    if gtbt <= exchange.block_time:
        raise ClobRejection(3003, "The block time is greater than the GoodTilBlockTime of the message")
    if gtbt > exchange.block_time + STATEFUL_WINDOW_SECONDS:
        raise ClobRejection(3004, "GoodTilBlockTime is further than StatefulOrderTimeWindow into the future")


def _key(order_id: Any) -> tuple[str, int, int, int, int]:
    sub = order_id.subaccount_id
    return (sub.owner, sub.number, order_id.client_id, order_id.order_flags, order_id.clob_pair_id)


def _place(exchange: DydxExchange, order: Order, tx_hash: str) -> None:
    from tests.fakes.dydx_exchange import SimOrder

    _validate_basic(order)
    flags = order.order_id.order_flags
    market = _market(exchange, order.order_id.clob_pair_id)
    if market.get("status", "ACTIVE") != "ACTIVE":
        raise ClobRejection(34, f"Order conflicts with ClobPair status {market['status']}")
    _check_grid(order, market)
    _check_good_til(exchange, flags, order.good_til_block, order.good_til_block_time)
    key = _key(order.order_id)
    owner, subaccount = key[0], key[1]
    side = "BUY" if order.side == Order.SIDE_BUY else "SELL"
    size = exchange.size_of(order.quantums, market)
    existing = exchange.orders.get(key)
    if flags:
        if key in exchange.cancelled:
            raise ClobRejection(3008, "Stateful order was previously cancelled and therefore cannot be "
                                      "placed")
        if existing is not None and existing.live:
            raise ClobRejection(3005, "Existing stateful order has higher-or-equal priority than the new one")
        if existing is not None:
            raise ClobRejection(3009, "Stateful order was previously removed and therefore cannot be placed")
        if exchange.open_stateful(owner, subaccount) >= exchange.stateful_limit(owner, subaccount):
            raise ClobRejection(10001, "Subaccount cannot open more orders due to equity tier limit.")
    elif existing is not None and existing.gtb is not None and existing.gtb >= exchange.height + 1:
        if existing.tx_hash and order.good_til_block == existing.gtb:
            raise ClobRejection(30, "An order with the same `OrderId` and `OrderHash` has already been "
                                    "processed")
        if existing.filled >= existing.size:
            raise ClobRejection(24, "Order is fully filled")
        if order.good_til_block <= existing.gtb:
            raise ClobRejection(20, "An order with the same `OrderId` already exists with a "
                                    "greater-than-or-equal `GoodTilBlock`")
    if order.reduce_only and flags == 0:
        position = exchange.position(owner, subaccount, market["ticker"])
        if position == 0 or (position > 0) == (side == "BUY"):
            raise ClobRejection(2001, "Reduce-only orders cannot increase the position size")
    condition = {Order.CONDITION_TYPE_STOP_LOSS: "STOP_LOSS", Order.CONDITION_TYPE_TAKE_PROFIT: "TAKE_PROFIT"}
    trigger = order.conditional_order_trigger_subticks
    exchange.add(SimOrder(
        key=key, uuid=order_uuid(key), ticker=market["ticker"], side=side, size=size,
        price=exchange.price_of(order.subticks, market), tif=_TIF[order.time_in_force],
        reduce_only=order.reduce_only, gtb=order.good_til_block or None,
        gtbt=order.good_til_block_time or None,
        trigger=exchange.price_of(trigger, market) if trigger else None,
        condition=condition.get(order.condition_type), tx_hash=tx_hash, filled=Decimal(0),
    ))


def _cancel(exchange: DydxExchange, msg: MsgCancelOrder) -> None:
    key = _key(msg.order_id)
    order = exchange.orders.get(key)
    if key[3] == 0:
        _check_good_til(exchange, 0, msg.good_til_block, 0)
        if order is not None and order.live and msg.good_til_block >= (order.gtb or 0):
            exchange.cancel(order)
        return
    _check_good_til(exchange, key[3], 0, msg.good_til_block_time)
    if order is None or not order.live:
        raise ClobRejection(3006, "Stateful order does not exist")
    if msg.good_til_block_time < (order.gtbt or 0):
        raise ClobRejection(29, "cancellation goodTilBlockTime less than stateful order goodTilBlockTime: "
                                "Invalid stateful order cancellation")
    exchange.cancel(order)


def _batch_cancel(exchange: DydxExchange, msg: MsgBatchCancel) -> None:
    _check_good_til(exchange, 0, msg.good_til_block, 0)
    sub = msg.subaccount_id
    for batch in msg.short_term_cancels:
        for client_id in batch.client_ids:
            order = exchange.orders.get((sub.owner, sub.number, client_id, 0, batch.clob_pair_id))
            if order is not None and order.live and msg.good_til_block >= (order.gtb or 0):
                exchange.cancel(order)
