"""The fake node refuses what the chain refuses (so the venue tests above can fail).

Orders are built with the library's own message helpers and signed by its Builder, then
sent as raw BroadcastTx bytes, bypassing our encoding and signer on purpose.
"""

from __future__ import annotations

import time
from decimal import Decimal as D

import pytest
from dydx_v4_client.key_pair import KeyPair
from dydx_v4_client.node import message
from dydx_v4_client.node.builder import Builder
from dydx_v4_client.wallet import Wallet
from v4_proto.dydxprotocol.clob.order_pb2 import Order

from tests.fakes.dydx_world import MNEMONIC, OWNER, DydxWorld, dydx_world  # noqa: F401 - fixture

IOC, GTT = Order.TIME_IN_FORCE_IOC, Order.TIME_IN_FORCE_UNSPECIFIED
SL = Order.CONDITION_TYPE_STOP_LOSS


async def _send(world: DydxWorld, order, sequence: int = 5, chain_id: str = "dydx-testnet-4",
                account: int = 42):
    client = world.venue().client
    wallet = Wallet(KeyPair.from_mnemonic(MNEMONIC), account, sequence)
    tx = Builder(chain_id, "ibc/x").build(wallet, message.place_order(order))
    response = await client.broadcast(tx)
    return response.codespace, response.code


def _order(world: DydxWorld, client_id=1, flags=0, quantums=10_000_000, subticks=3_000_000_000, tif=IOC,
           reduce_only=False, gtb=None, gtbt=None, condition=0, trigger=0):
    if flags == 0 and gtb is None:
        gtb = world.exchange.height + 10
    if flags and gtbt is None:
        gtbt = int(time.time()) + 3600
    order_id = message.order_id(OWNER, 0, client_id, 1, flags)
    return message.order(order_id, Order.SIDE_BUY, quantums, subticks, tif, reduce_only, good_til_block=gtb,
                         good_til_block_time=gtbt, condition_type=condition,
                         conditional_order_trigger_subticks=trigger)


@pytest.mark.parametrize(
    ("fields", "expected"),
    [
        (dict(quantums=10_500_000), ("clob", 12)),  # off the step grid
        (dict(subticks=3_000_050_000), ("clob", 12)),  # off the tick grid
        (dict(quantums=0), ("clob", 4)),
        (dict(gtb=1000), ("clob", 10)),  # already passed
        (dict(gtb=1042), ("clob", 11)),  # beyond the short block window
        (dict(flags=64, tif=IOC), ("clob", 3002)),
        (dict(flags=64, tif=GTT, reduce_only=True), ("clob", 9003)),
        (dict(flags=32, tif=IOC, reduce_only=True, trigger=2_850_000_000), ("clob", 6000)),
        (dict(flags=32, tif=IOC, condition=SL), ("clob", 6001)),
        (dict(flags=64, tif=GTT, gtbt=int(time.time()) + 96 * 86400), ("clob", 3004)),
        (dict(tif=Order.TIME_IN_FORCE_FILL_OR_KILL), ("clob", 12)),
    ],
)
async def test_invalid_orders_are_refused_like_the_chain(dydx_world, fields, expected):
    assert await _send(dydx_world, _order(dydx_world, **fields)) == expected
    assert dydx_world.exchange.orders == {}


async def test_signature_sequence_and_duplicates(dydx_world):
    resting = _order(dydx_world, flags=64, tif=GTT, subticks=2_000_000_000)
    assert await _send(dydx_world, resting, chain_id="dydx-mainnet-1") == ("sdk", 4)
    assert await _send(dydx_world, resting, account=7) == ("sdk", 4)
    assert await _send(dydx_world, resting, sequence=4) == ("sdk", 32)
    assert await _send(dydx_world, resting) == ("", 0)
    assert await _send(dydx_world, _order(dydx_world, client_id=1, flags=64, tif=GTT, subticks=2_000_100_000),
                       sequence=6) == ("clob", 3005)
    below = _order(dydx_world, client_id=9, subticks=2_000_000_000)  # a BUY under the market: no fill
    assert await _send(dydx_world, below, sequence=0) == ("", 0)  # short-term orders skip the sequence check
    nothing_to_reduce = _order(dydx_world, client_id=10, reduce_only=True)
    assert await _send(dydx_world, nothing_to_reduce, sequence=0) == ("clob", 2001)
    assert dydx_world.exchange.positions == {}


# keys of the docs' sample order (v4-documentation, trigger orders): the fake serves the same shape
SAMPLE_ORDER_KEYS = {
    "id", "subaccountId", "clientId", "clobPairId", "side", "size", "totalFilled", "price", "type", "status",
    "timeInForce", "reduceOnly", "orderFlags", "goodTilBlockTime", "createdAtHeight", "clientMetadata",
    "triggerPrice", "updatedAt", "updatedAtHeight", "postOnly", "ticker", "subaccountNumber",
}


async def test_indexer_shapes_and_the_wrapper_bugs_it_reproduces(dydx_world):
    from dydx_v4_client.indexer.rest.indexer_client import IndexerClient
    from httpx import HTTPStatusError

    from trading_app.domain.enums import Side

    venue = dydx_world.venue()
    await venue.place_market_order("ETH-USD", Side.BUY, D("0.01"), worst_price=D("3100.0"), client_id=1)
    take = await venue.place_take_profit("ETH-USD", Side.SELL, D("0.01"), D("3300.0"), worst_price=D("3135.0"),
                                         client_id=2, good_til_seconds=3600)
    await venue.place_stop_loss("ETH-USD", Side.SELL, D("0.01"), D("2850.0"), worst_price=D("2700.0"),
                                client_id=3, good_til_seconds=3600)
    dydx_world.node.advance()  # two stateful placements per block
    await venue.place_market_order("BTC-USD", Side.SELL, D("0.0003"), worst_price=D("60000"), client_id=4)
    await venue.place_stop_loss("BTC-USD", Side.BUY, D("0.0003"), D("67000"), worst_price=D("70000"),
                                client_id=5, good_til_seconds=3600)
    indexer = IndexerClient(dydx_world.indexer.url, api_timeout=3)
    order = await indexer.account.get_order(take.venue_order_id)
    assert set(order) == SAMPLE_ORDER_KEYS
    assert (order["type"], order["status"], order["timeInForce"]) == ("TAKE_PROFIT", "UNTRIGGERED", "IOC")
    # 1.1.5 sends ticker=, which /v4/fills ignores: both markets come back
    fills = (await indexer.account.get_subaccount_fills(OWNER, 0, ticker="ETH-USD"))["fills"]
    assert {f["market"] for f in fills} == {"ETH-USD", "BTC-USD"}
    # 1.1.5 renders booleans as True, which the indexer's validator refuses
    with pytest.raises(HTTPStatusError):
        await indexer.account.get_subaccount_orders(OWNER, 0, return_latest_orders=True)
