"""Pure conversions between our Decimal orders and dYdX v4 order protos.

Nothing here rounds or converts units. Sizes and prices arrive already on the
market's grid (`trading_app.domain.quantize` snaps them, once), and quantize's
`to_quantums`/`to_subticks` are the one home of dYdX units: they refuse anything
off the grid or beyond the chain's uint64. Here a refusal becomes a venue error
(`OffGridValue`), so a bug upstream is a clear error instead of a silently
different order.

The protos are built with `dydx_v4_client.node.message` helpers, never with
`Market.order`: that helper computes in binary floats and drops a step or a tick
for values such as 0.0003 BTC or a 32.3 price (see dydx-v4.md §3.2). Every field is
what the official v4-client-js writes for the same order; the golden vectors in
tests/fixtures/dydx/ hold both sides to that, byte for byte.
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from decimal import Decimal
from typing import Any

from dydx_v4_client import MAX_CLIENT_ID, OrderFlags
from dydx_v4_client.node import message
from dydx_v4_client.node.builder import as_any
from google.protobuf.any_pb2 import Any as AnyProto
from v4_proto.cosmos.tx.v1beta1.tx_pb2 import TxBody
from v4_proto.dydxprotocol.accountplus.tx_pb2 import TxExtension
from v4_proto.dydxprotocol.clob.order_pb2 import Order, OrderId

from trading_app.domain import quantize
from trading_app.domain.enums import Side
from trading_app.domain.errors import RejectReason, RiskRejected
from trading_app.venues.base import MarketSpec
from trading_app.venues.errors import OrderRejected

# The chain accepts a short-term good-til-block in [next height, next height + 40].
SHORT_BLOCK_WINDOW = 40
# Blocks of life for a short-term IOC order; 1.1.5's default of 3 is too short (PR #444).
SHORT_TERM_BLOCKS = 15
# Stateful orders may live at most 95 days past the block time.
MAX_STATEFUL_SECONDS = 95 * 24 * 3600
# indexer/packages/postgres/src/helpers/uuid.ts
INDEXER_NAMESPACE = uuid.UUID("0f9da948-a6fb-4c45-9edc-4685c3f3317d")

_SIDES = {Side.BUY: Order.Side.SIDE_BUY, Side.SELL: Order.Side.SIDE_SELL}
# client_metadata as v4-client-js's calculateClientMetadata sets it
# (v4-client-js/src/clients/helpers/chain-helpers.ts): 1 for MARKET, STOP_MARKET and
# TAKE_PROFIT_MARKET, 0 for LIMIT. The chain ignores it; the indexer stores it and the
# dYdX front end shows "Market" from it (dydx-v4.md §3.2).
CLIENT_METADATA_MARKET = 1
CLIENT_METADATA_LIMIT = 0
# v4-client-js puts this extension in every tx body (clients/modules/signer.ts)
TX_EXTENSION_TYPE_URL = "/dydxprotocol.accountplus.TxExtension"


class OffGridValue(OrderRejected):
    """A size or price is not an exact multiple of the market's step or tick."""


def _venue_error(spec: MarketSpec, refusal: RiskRejected) -> OrderRejected:
    # a spec without the dYdX fields is not an off-grid value, it is the wrong market data
    if refusal.reason is RejectReason.UNKNOWN_MARKET:
        return OrderRejected(f"{spec.ticker}: market spec lacks dYdX quantum fields")
    return OffGridValue(f"{spec.ticker}: {refusal}")


def size_to_quantums(size: Decimal, spec: MarketSpec) -> int:
    """Convert a base-asset size already on the step grid to base quantums (`quantize.to_quantums`).

    Args:
        size: Size in base units, a multiple of `spec.step_size`.
        spec: The market, with its dYdX raw fields.

    Returns:
        `size * 10**-atomic_resolution`, a multiple of `step_base_quantums`.

    Raises:
        OffGridValue: the size is not positive, not a multiple of the step, or beyond uint64.
        OrderRejected: the spec lacks the dYdX raw fields.
    """
    try:
        return quantize.to_quantums(size, spec)
    except RiskRejected as e:
        raise _venue_error(spec, e) from None


def price_to_subticks(price: Decimal, spec: MarketSpec) -> int:
    """Convert a USD price already on the tick grid to subticks (`quantize.to_subticks`).

    Args:
        price: Price in USD, a multiple of `spec.tick_size`.
        spec: The market, with its dYdX raw fields.

    Returns:
        `price * 10**(atomic_resolution - quantum_conversion_exponent + 6)`, a multiple
        of `subticks_per_tick`.

    Raises:
        OffGridValue: the price is not positive, not a multiple of the tick, or beyond uint64.
        OrderRejected: the spec lacks the dYdX raw fields.
    """
    try:
        return quantize.to_subticks(price, spec)
    except RiskRejected as e:
        raise _venue_error(spec, e) from None


def check_client_id(client_id: int) -> int:
    """Return `client_id` if it is a uint32, the chain's client id type.

    Raises:
        OrderRejected: the id is not an int in [0, 2**32 - 1].
    """
    if isinstance(client_id, bool) or not isinstance(client_id, int) or not 0 <= client_id <= MAX_CLIENT_ID:
        raise OrderRejected(f"client id must be a uint32, got {client_id!r}")
    return client_id


def subaccount_uuid(address: str, subaccount: int) -> str:
    """The indexer's id of a subaccount."""
    return str(uuid.uuid5(INDEXER_NAMESPACE, f"{address}-{subaccount}"))


def order_uuid(address: str, subaccount: int, client_id: int, clob_pair_id: int, order_flags: int) -> str:
    """The indexer's order id (`GET /v4/orders/{uuid}`), derived like the indexer does.

    Args:
        address: Owner address (dydx1...).
        subaccount: Subaccount number.
        client_id: The order's uint32 client id.
        clob_pair_id: The market's clob pair id.
        order_flags: 0 short-term, 32 conditional, 64 long-term.

    Returns:
        The UUID as a lower-case string.
    """
    return order_uuid_in(subaccount_uuid(address, subaccount), client_id, clob_pair_id, order_flags)


def order_uuid_in(subaccount_id: str, client_id: int, clob_pair_id: int, order_flags: int) -> str:
    """The indexer's order id given the subaccount's indexer id."""
    return str(uuid.uuid5(INDEXER_NAMESPACE, f"{subaccount_id}-{client_id}-{clob_pair_id}-{order_flags}"))


def short_term_good_til_block(height: int, blocks: int = SHORT_TERM_BLOCKS) -> int:
    """Good-til-block for a short-term order sent when the latest block is `height`."""
    if not 1 <= blocks <= SHORT_BLOCK_WINDOW:
        raise ValueError(f"short-term life must be 1..{SHORT_BLOCK_WINDOW} blocks, got {blocks}")
    return height + blocks


def good_til_block_time(now_seconds: float, seconds: int) -> int:
    """Good-til-block-time (unix seconds) for a stateful order living `seconds`.

    Raises:
        OrderRejected: the lifetime is not in (0, 95 days].
    """
    if isinstance(seconds, bool) or not isinstance(seconds, int) or not 0 < seconds <= MAX_STATEFUL_SECONDS:
        raise OrderRejected(f"order lifetime must be 1..{MAX_STATEFUL_SECONDS} seconds, got {seconds!r}")
    return int(now_seconds) + seconds


def make_order_id(owner: str, subaccount: int, client_id: int, spec: MarketSpec, flags: int) -> OrderId:
    """The chain's order identity: (owner, subaccount, client id, flags, clob pair)."""
    return message.order_id(owner, subaccount, check_client_id(client_id), spec.clob_pair_id, flags)


def _order(
    order_id: OrderId, side: Side, size: Decimal, price: Decimal, spec: MarketSpec,
    time_in_force: Order.TimeInForce.ValueType, reduce_only: bool, client_metadata: int, **fields: Any,
) -> Order:
    order = message.order(order_id, _SIDES[Side(side)], size_to_quantums(size, spec),
                          price_to_subticks(price, spec), time_in_force, reduce_only, **fields)
    # 1.1.5's message.order drops its client_metadata argument and always writes 2
    order.client_metadata = client_metadata
    return order


def market_order(
    spec: MarketSpec,
    owner: str,
    subaccount: int,
    client_id: int,
    side: Side,
    size: Decimal,
    worst_price: Decimal,
    good_til_block: int,
    reduce_only: bool = False,
) -> Order:
    """A short-term IOC order bounded by `worst_price`, alive until `good_til_block`.

    v4-client-js `placeOrder(type=MARKET)`: IOC, client_metadata 1, no condition.
    """
    return _order(
        make_order_id(owner, subaccount, client_id, spec, OrderFlags.SHORT_TERM), side, size, worst_price,
        spec, Order.TimeInForce.TIME_IN_FORCE_IOC, reduce_only, CLIENT_METADATA_MARKET,
        good_til_block=good_til_block,
    )


def limit_order(
    spec: MarketSpec,
    owner: str,
    subaccount: int,
    client_id: int,
    side: Side,
    size: Decimal,
    price: Decimal,
    good_til_block_time: int,
) -> Order:
    """A long-term (stateful) good-til-time limit order.

    v4-client-js `placeOrder(type=LIMIT, timeInForce=GTT, postOnly=false)`: time in
    force UNSPECIFIED, client_metadata 0.
    """
    return _order(
        make_order_id(owner, subaccount, client_id, spec, OrderFlags.LONG_TERM), side, size, price, spec,
        Order.TimeInForce.TIME_IN_FORCE_UNSPECIFIED, False, CLIENT_METADATA_LIMIT,
        good_til_block_time=good_til_block_time,
    )


def conditional_order(
    spec: MarketSpec,
    owner: str,
    subaccount: int,
    client_id: int,
    side: Side,
    size: Decimal,
    trigger_price: Decimal,
    worst_price: Decimal,
    take_profit: bool,
    good_til_block_time: int,
) -> Order:
    """A reduce-only conditional market order (STOP_MARKET or TAKE_PROFIT_MARKET).

    The condition type is always explicit: the library leaves it UNSPECIFIED for
    stops and the chain rejects that (issue #311). `worst_price` is the limit the
    triggered IOC order may fill at; `trigger_price` is what arms it. As v4-client-js
    `placeOrder(type=STOP_MARKET | TAKE_PROFIT_MARKET, execution=IOC)`: IOC,
    client_metadata 1.
    """
    condition = (
        Order.ConditionType.CONDITION_TYPE_TAKE_PROFIT
        if take_profit
        else Order.ConditionType.CONDITION_TYPE_STOP_LOSS
    )
    return _order(
        make_order_id(owner, subaccount, client_id, spec, OrderFlags.CONDITIONAL), side, size, worst_price,
        spec, Order.TimeInForce.TIME_IN_FORCE_IOC, True, CLIENT_METADATA_MARKET,
        good_til_block_time=good_til_block_time,
        condition_type=condition,
        conditional_order_trigger_subticks=price_to_subticks(trigger_price, spec),
    )


def cancel_message(
    order_id: OrderId, good_til_block: int | None = None, good_til_block_time: int | None = None
) -> Any:
    """MsgCancelOrder for a short-term (`good_til_block`) or stateful (`good_til_block_time`) order."""
    if (good_til_block is None) == (good_til_block_time is None):
        raise ValueError("give exactly one of good_til_block and good_til_block_time")
    return message.cancel_order(order_id, good_til_block, good_til_block_time)


def is_stateful(order_flags: int) -> bool:
    """Long-term and conditional orders live in chain state and consume a sequence."""
    return order_flags in (OrderFlags.LONG_TERM, OrderFlags.CONDITIONAL)


def tx_extension(authenticators: Sequence[int]) -> AnyProto:
    """The TxExtension option v4-client-js puts in every tx body, byte for byte.

    Its `TxExtension.encode` always writes the packed `selected_authenticators` field,
    so an owner's own key (no authenticator) sends the two bytes `0a 00`, which the
    Python protobuf runtime never writes for an empty list. The chain takes the
    authenticator flow only when at least one is selected
    (v4-chain protocol/x/accountplus/lib/lib.go), so the empty one changes nothing there.
    """
    encoded = TxExtension(selected_authenticators=list(authenticators)).SerializeToString()
    return AnyProto(type_url=TX_EXTENSION_TYPE_URL, value=encoded or b"\x0a\x00")


def tx_body(msg: Any, memo: str, authenticators: Sequence[int] = ()) -> TxBody:
    """The body v4-client-js signs for one message (`TransactionSigner.signTransaction`).

    One message, the memo, no extension options, the TxExtension naming the selected
    authenticators (none for the owner's own key) and no timeout height.
    """
    extension = tx_extension(authenticators)
    return TxBody(messages=[as_any(msg)], memo=memo, non_critical_extension_options=[extension])
