"""The clob rules the fake node applies to MsgPlaceOrder / MsgCancelOrder / MsgBatchCancel.

CheckTx (`check_message`) and DeliverTx (`deliver_message`) are separate, as on the chain
(dydxprotocol/v4-chain, commit 84d4664):
- stateless checks: protocol/x/clob/types/message_place_order.go ValidateBasic;
- short-term orders are placed in the memclob at CheckTx (x/clob/ante/clob.go ->
  keeper/orders.go PlaceShortTermOrder -> memclob/memclob.go validateNewOrder): a cancel with a
  higher-or-equal GTB (9), replacements must raise the GTB (20), a fully filled id (24), reduce-only
  against the position (2001), an IOC id that already filled (2004); a collateral failure is *not*
  an error here (the order is removed while matching, CheckTx still answers 0);
- stateful placements are validated at CheckTx against committed and uncommitted state
  (orders.go PerformStatefulOrderValidation: 3005, GTBT window 3003/3004, equity tier 10001) and
  run again in DeliverTx (msg_server_place_order.go HandleMsgPlaceOrder), where an id cancelled
  (3008) or removed (3009) earlier in the same block fails, and changed state can fail a check
  that passed at CheckTx;
- stateful cancels: orders.go PerformOrderCancellationStatefulValidation (3006, 29, 32).
Every refusal is a `ClobRejection(code, log, codespace)`.
"""

from __future__ import annotations

from decimal import Decimal
from typing import TYPE_CHECKING, Any

from google.protobuf.any_pb2 import Any as PbAny
from v4_proto.dydxprotocol.clob.order_pb2 import Order
from v4_proto.dydxprotocol.clob.tx_pb2 import MsgBatchCancel, MsgCancelOrder, MsgPlaceOrder

from tests.fakes.dydx_exchange import CONDITIONAL, LONG_TERM, SimOrder
from tests.fakes.dydx_indexer import order_uuid

if TYPE_CHECKING:
    from tests.fakes.dydx_blocks import BlockContext
    from tests.fakes.dydx_exchange import DydxExchange
    from tests.fakes.dydx_mempool import Mempool

STATEFUL_WINDOW_SECONDS = 95 * 24 * 3600  # types/constants.go StatefulOrderTimeWindow
_MESSAGES = {
    "/dydxprotocol.clob.MsgPlaceOrder": MsgPlaceOrder,
    "/dydxprotocol.clob.MsgCancelOrder": MsgCancelOrder,
    "/dydxprotocol.clob.MsgBatchCancel": MsgBatchCancel,
}
_TIF = {Order.TIME_IN_FORCE_UNSPECIFIED: "GTT", Order.TIME_IN_FORCE_IOC: "IOC",
        Order.TIME_IN_FORCE_POST_ONLY: "POST_ONLY", Order.TIME_IN_FORCE_FILL_OR_KILL: "FOK"}
_CONDITIONS = {Order.CONDITION_TYPE_STOP_LOSS: "STOP_LOSS", Order.CONDITION_TYPE_TAKE_PROFIT: "TAKE_PROFIT"}


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


def order_key(order_id: Any) -> tuple[str, int, int, int, int]:
    sub = order_id.subaccount_id
    return (sub.owner, sub.number, order_id.client_id, order_id.order_flags, order_id.clob_pair_id)


def owner_of(msg: Any) -> str:
    if isinstance(msg, MsgPlaceOrder):
        return msg.order.order_id.subaccount_id.owner
    if isinstance(msg, MsgCancelOrder):
        return msg.order_id.subaccount_id.owner
    return msg.subaccount_id.owner


def is_stateful(msg: Any) -> bool:
    """Long-term/conditional placements and cancels: in the mempool, with a sequence (app/ante.go)."""
    if isinstance(msg, MsgPlaceOrder):
        return msg.order.order_id.order_flags != 0
    if isinstance(msg, MsgCancelOrder):
        return msg.order_id.order_flags != 0
    return False


def is_stateful_placement(msg: Any) -> bool:
    return isinstance(msg, MsgPlaceOrder) and msg.order.order_id.order_flags != 0


def check_message(exchange: DydxExchange, mempool: Mempool, msg: Any, tx_hash: str) -> None:
    """CheckTx: validate `msg`; a short-term placement or cancel takes effect in the memclob now."""
    if isinstance(msg, MsgPlaceOrder):
        order = _draft(exchange, msg.order, tx_hash)
        if order.flags:
            _check_stateful(exchange, mempool, order)
        else:
            _place_short_term(exchange, order)
    elif isinstance(msg, MsgCancelOrder):
        _check_cancel(exchange, mempool, msg)
    else:
        _batch_cancel(exchange, msg)


def deliver_message(exchange: DydxExchange, block: BlockContext, msg: Any, tx_hash: str) -> None:
    """DeliverTx of a stateful placement or cancel, in the block `exchange.height`."""
    if isinstance(msg, MsgPlaceOrder):
        order = _draft(exchange, msg.order, tx_hash)
        if order.key in block.cancelled:
            raise ClobRejection(3008, "Stateful order was previously cancelled and therefore cannot be "
                                      "placed")
        if order.key in block.removed:
            raise ClobRejection(3009, "Stateful order was previously removed and therefore cannot be "
                                      "placed")
        _check_stateful(exchange, None, order)
        exchange.register(order)
        order.status = "UNTRIGGERED" if order.condition else "OPEN"
        # ender dydx_stateful_order_handler.sql: conditional -> UNTRIGGERED, long-term -> OPEN
        exchange.index_order(order, order.status)
        return
    key = order_key(msg.order_id)
    order = exchange.orders.get(key)
    if order is None or not order.live:
        raise ClobRejection(3006, "Stateful order does not exist")
    block.cancelled.add(key)
    order.status = "REMOVED"
    exchange.index_order(order, "CANCELED")  # dydx_stateful_order_handler.sql: removal -> CANCELED


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
    if flags in (CONDITIONAL, LONG_TERM) and order.good_til_block_time == 0:
        raise ClobRejection(3001, "stateful order goodTilBlockTime cannot be 0")
    if flags not in (0, CONDITIONAL, LONG_TERM):
        raise ClobRejection(3000, f"invalid order flag {flags}: Invalid order flags")
    if flags == LONG_TERM and order.time_in_force == Order.TIME_IN_FORCE_IOC:
        raise ClobRejection(3002, "Stateful orders cannot require immediate execution")
    if order.reduce_only and order.time_in_force != Order.TIME_IN_FORCE_IOC:
        raise ClobRejection(9003, "reduce only orders must be short term IOC orders")
    if order.subticks == 0:
        raise ClobRejection(6, "order subticks cannot be 0: Invalid order subticks")
    unspecified = order.condition_type == Order.CONDITION_TYPE_UNSPECIFIED
    if flags == CONDITIONAL and unspecified:
        raise ClobRejection(6000, "condition type cannot be unspecified: Conditional type is invalid")
    if flags == CONDITIONAL and order.conditional_order_trigger_subticks == 0:
        raise ClobRejection(6001, "conditional order trigger subticks cannot be 0")
    if flags != CONDITIONAL and not unspecified:
        raise ClobRejection(6000, "condition type specified for non-conditional order")
    if flags != CONDITIONAL and order.conditional_order_trigger_subticks != 0:
        raise ClobRejection(6001, "conditional order trigger subticks greater than 0 for "
                                  "non-conditional order")


def _market(exchange: DydxExchange, clob_pair_id: int) -> dict[str, Any]:
    market = exchange.market(clob_pair_id)
    if market is None:
        raise ClobRejection(8, f"ClobPair ID {clob_pair_id} does not reference a valid CLOB")
    if market.get("status", "ACTIVE") != "ACTIVE":
        raise ClobRejection(34, f"Order conflicts with ClobPair status {market['status']}")
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


def check_good_til_block(exchange: DydxExchange, gtb: int) -> None:
    """orders.go validateGoodTilBlock against the next block: next <= GTB <= next + ShortBlockWindow."""
    next_height = exchange.height + 1
    if gtb < next_height:
        raise ClobRejection(10, f"GoodTilBlock {gtb} is less than the current blockHeight {next_height}")
    if gtb > next_height + exchange.short_block_window:
        raise ClobRejection(11, f"The GoodTilBlock {gtb} exceeds the current blockHeight {next_height} plus "
                                f"ShortBlockWindow {exchange.short_block_window}")


def _check_good_til_time(exchange: DydxExchange, gtbt: int) -> None:
    if gtbt <= exchange.block_time:
        raise ClobRejection(3003, "The block time is greater than the GoodTilBlockTime of the message")
    if gtbt > exchange.block_time + STATEFUL_WINDOW_SECONDS:
        raise ClobRejection(3004, "GoodTilBlockTime is further than StatefulOrderTimeWindow into the future")


def _draft(exchange: DydxExchange, order: Order, tx_hash: str) -> SimOrder:
    _validate_basic(order)
    market = _market(exchange, order.order_id.clob_pair_id)
    _check_grid(order, market)
    if order.order_id.order_flags:
        _check_good_til_time(exchange, order.good_til_block_time)
    else:
        check_good_til_block(exchange, order.good_til_block)
    key = order_key(order.order_id)
    trigger = order.conditional_order_trigger_subticks
    return SimOrder(
        key=key, uuid=order_uuid(key), ticker=market["ticker"],
        side="BUY" if order.side == Order.SIDE_BUY else "SELL",
        size=exchange.size_of(order.quantums, market), price=exchange.price_of(order.subticks, market),
        tif=_TIF[order.time_in_force], reduce_only=order.reduce_only, gtb=order.good_til_block or None,
        gtbt=order.good_til_block_time or None,
        trigger=exchange.price_of(trigger, market) if trigger else None,
        condition=_CONDITIONS.get(order.condition_type), tx_hash=tx_hash,
        client_metadata=order.client_metadata,
    )


def _uncommitted(mempool: Mempool | None, key: tuple, kind: type) -> bool:
    if mempool is None:
        return False
    for tx in mempool.pending:
        if isinstance(tx.msg, kind):
            found = tx.msg.order.order_id if kind is MsgPlaceOrder else tx.msg.order_id
            if order_key(found) == key:
                return True
    return False


def _check_stateful(exchange: DydxExchange, mempool: Mempool | None, order: SimOrder) -> None:
    """PlaceStatefulOrder's checks: CheckTx (with the mempool as uncommitted state) or DeliverTx."""
    existing = exchange.orders.get(order.key)
    if existing is not None and existing.live or _uncommitted(mempool, order.key, MsgPlaceOrder):
        raise ClobRejection(3005, "Existing stateful order has higher-or-equal priority than the new one")
    if _uncommitted(mempool, order.key, MsgCancelOrder):
        raise ClobRejection(3008, "Stateful order was previously cancelled and therefore cannot be placed")
    pending = 0 if mempool is None else sum(
        1 for tx in mempool.pending_of(order.owner) if isinstance(tx.msg, MsgPlaceOrder)
        and tx.msg.order.order_id.subaccount_id.number == order.subaccount)
    if exchange.open_stateful(order.owner, order.subaccount) + pending >= exchange.stateful_limit(
            order.owner, order.subaccount):
        raise ClobRejection(10001, "Subaccount cannot open more orders due to equity tier limit.")


def _place_short_term(exchange: DydxExchange, order: SimOrder) -> None:
    """memclob.go validateNewOrder, then the order waits for the next block's matching."""
    previous = exchange.orders.get(order.key)
    cancel = exchange.short_term_cancels.get(order.key)
    if cancel is not None and cancel >= (order.gtb or 0):
        raise ClobRejection(9, "A cancel already exists in the memclob for this order with a greater than or "
                               "equal GoodTilBlock")
    if previous is not None and previous.live and (previous.gtb or 0) >= (order.gtb or 0):
        raise ClobRejection(20, "New order cannot reduce the GoodTilBlock or GoodTilBlockTime of existing "
                                "order")
    filled = exchange.filled_amount(order.key)
    if filled >= order.size:
        raise ClobRejection(24, "Order remaining amount is less than `MinOrderBaseQuantums`.")
    if order.reduce_only:
        position = exchange.position(order.owner, order.subaccount, order.ticker)
        if position == 0 or (position > 0) == (order.side == "BUY"):
            raise ClobRejection(2001, "Reduce-only orders cannot increase the position size")
    if order.tif == "IOC" and filled > Decimal(0):
        raise ClobRejection(2004, "IOC order is already filled, remaining size is cancelled.")
    exchange.register(order)
    order.status = "QUEUED"


def _check_cancel(exchange: DydxExchange, mempool: Mempool, msg: MsgCancelOrder) -> None:
    key = order_key(msg.order_id)
    if key[3] == 0:
        check_good_til_block(exchange, msg.good_til_block)
        _cancel_short_term(exchange, key, msg.good_til_block)
        return
    _check_good_til_time(exchange, msg.good_til_block_time)
    order = exchange.orders.get(key)
    committed = order is not None and order.live
    placing = next((tx.msg.order for tx in mempool.pending if isinstance(tx.msg, MsgPlaceOrder)
                    and order_key(tx.msg.order.order_id) == key), None)
    if not committed and placing is None:
        raise ClobRejection(3006, "Order Id to cancel does not exist.")
    if _uncommitted(mempool, key, MsgCancelOrder):
        raise ClobRejection(32, "An uncommitted stateful order cancellation with this OrderId already exists")
    gtbt = order.gtbt if committed and order is not None else placing.good_til_block_time
    if msg.good_til_block_time < (gtbt or 0):
        raise ClobRejection(29, "cancellation goodTilBlockTime less than stateful order goodTilBlockTime.")


def _batch_cancel(exchange: DydxExchange, msg: MsgBatchCancel) -> None:
    check_good_til_block(exchange, msg.good_til_block)
    sub = msg.subaccount_id
    for batch in msg.short_term_cancels:
        for client_id in batch.client_ids:
            key = (sub.owner, sub.number, client_id, 0, batch.clob_pair_id)
            _cancel_short_term(exchange, key, msg.good_til_block)


def _cancel_short_term(exchange: DydxExchange, key: tuple, good_til_block: int) -> None:
    # memclob: the cancel is remembered until its GTB and removes a resting order with a lower or
    # equal GTB; an IOC has already matched when its CheckTx ran, a cancel cannot reach it
    exchange.short_term_cancels[key] = max(good_til_block, exchange.short_term_cancels.get(key, 0))
    order = exchange.orders.get(key)
    if order is not None and order.status == "OPEN" and good_til_block >= (order.gtb or 0):
        exchange.remove_resting(order)
