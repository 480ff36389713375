"""The fake node refuses what the chain refuses and delivers what the chain delivers.

Orders are built with the library's own message helpers and signed by its Builder, then sent as raw
BroadcastTx bytes, bypassing our encoding and signer on purpose; GetTx is asked through the
library's generated stub. Each test would fail against a fake kinder than the chain (one that
executes at CheckTx, never drops a mempool tx, or trusts an authenticator's first filter).
"""

from __future__ import annotations

import time
from decimal import Decimal as D

import grpc
import pytest
from dydx_v4_client.key_pair import KeyPair
from dydx_v4_client.node import message
from dydx_v4_client.node.authenticators import Authenticator, AuthenticatorType
from dydx_v4_client.node.builder import Builder, TxOptions
from dydx_v4_client.wallet import Wallet
from v4_proto.cosmos.tx.v1beta1 import service_pb2_grpc
from v4_proto.cosmos.tx.v1beta1.service_pb2 import GetTxRequest
from v4_proto.dydxprotocol.clob.order_pb2 import Order

from tests.fakes.dydx_auth import TRADING_MESSAGES
from tests.fakes.dydx_world import API_KEY, MNEMONIC, OWNER, DydxWorld

IOC, GTT = Order.TIME_IN_FORCE_IOC, Order.TIME_IN_FORCE_UNSPECIFIED
SL = Order.CONDITION_TYPE_STOP_LOSS


async def _send(world: DydxWorld, order, sequence: int = 5, chain_id: str = "dydx-testnet-4",
                account: int = 42, key: KeyPair | None = None, options: TxOptions | None = None):
    client = world.venue().client
    wallet = Wallet(key or KeyPair.from_mnemonic(MNEMONIC), account, sequence)
    builder = Builder(chain_id, "ibc/x")
    tx = builder.build(wallet, message.place_order(order), tx_options=options) if options else builder.build(
        wallet, message.place_order(order))
    response = await client.broadcast(tx)
    return response.codespace, response.code


def _order(world: DydxWorld, client_id=1, flags=0, quantums=10_000_000, subticks=3_000_000_000, tif=IOC,
           reduce_only=False, gtb=None, gtbt=None, condition=0, trigger=0, clob=1):
    if flags == 0 and gtb is None:
        gtb = world.exchange.height + 10
    if flags and gtbt is None:
        gtbt = int(time.time()) + 3600
    order_id = message.order_id(OWNER, 0, client_id, clob, flags)
    return message.order(order_id, Order.SIDE_BUY, quantums, subticks, tif, reduce_only, good_til_block=gtb,
                         good_til_block_time=gtbt, condition_type=condition,
                         conditional_order_trigger_subticks=trigger)


def _get_tx(world: DydxWorld, tx_hash: str):
    stub = service_pb2_grpc.ServiceStub(grpc.insecure_channel(world.node.url.removeprefix("http://")))
    try:
        return stub.GetTx(GetTxRequest(hash=tx_hash)).tx_response
    except grpc.RpcError as e:
        assert e.code() == grpc.StatusCode.NOT_FOUND and "tx not found" in e.details()
        return None


@pytest.mark.parametrize(
    ("fields", "expected"),
    [
        (dict(quantums=10_500_000), ("clob", 12)),  # off the step grid
        (dict(subticks=3_000_050_000), ("clob", 12)),  # off the tick grid
        (dict(quantums=0), ("clob", 4)),
        (dict(gtb=1000), ("clob", 10)),  # already passed
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
    assert dydx_world.exchange.orders == {} and dydx_world.node.mempool.pending == []


@pytest.mark.parametrize("dydx_world", [20, 40], indirect=True)
async def test_the_short_block_window_bounds_the_good_til_block(dydx_world):
    next_height = dydx_world.exchange.height + 1
    beyond = _order(dydx_world, client_id=1, gtb=next_height + dydx_world.short_block_window + 1)
    assert await _send(dydx_world, beyond) == ("clob", 11)
    edge = _order(dydx_world, client_id=2, gtb=next_height + dydx_world.short_block_window)
    assert await _send(dydx_world, edge) == ("", 0)
    dydx_world.check_protection = False


async def test_signature_sequence_and_duplicates(dydx_world):
    resting = _order(dydx_world, flags=64, tif=GTT, subticks=2_000_000_000)
    assert await _send(dydx_world, resting, chain_id="dydx-mainnet-1") == ("sdk", 4)
    assert await _send(dydx_world, resting, account=7) == ("sdk", 4)
    assert await _send(dydx_world, resting, sequence=4) == ("sdk", 32)
    assert await _send(dydx_world, resting) == ("", 0)
    assert await _send(dydx_world, resting) == ("sdk", 19)  # the same bytes: the cache
    # another placement of the id while the first is uncommitted (in the mempool)
    assert await _send(dydx_world, _order(dydx_world, client_id=1, flags=64, tif=GTT, subticks=2_000_100_000),
                       sequence=6) == ("clob", 3005)
    below = _order(dydx_world, client_id=9, subticks=2_000_000_000)  # a BUY under the market: no fill
    assert await _send(dydx_world, below, sequence=0) == ("", 0)  # short-term orders skip the sequence check
    nothing_to_reduce = _order(dydx_world, client_id=10, reduce_only=True)
    assert await _send(dydx_world, nothing_to_reduce, sequence=0) == ("clob", 2001)
    assert await _send(dydx_world, nothing_to_reduce, sequence=0) == ("sdk", 19)  # refused txs are cached too
    assert dydx_world.exchange.positions == {}


async def test_check_tx_accepts_deliver_tx_decides_and_get_tx_reports_it(dydx_world):
    placed = _order(dydx_world, client_id=1, flags=64, tif=GTT, subticks=2_000_000_000)
    refused = _order(dydx_world, client_id=2, flags=64, tif=GTT, subticks=2_000_000_000)
    assert await _send(dydx_world, placed) == ("", 0)
    dydx_world.node.fail_next("deliver", codespace="clob", code=3009, log="previously removed")
    assert await _send(dydx_world, refused, sequence=6) == ("", 0)  # CheckTx is all SYNC answers
    first, second = (b["tx_hash"] for b in dydx_world.node.broadcasts)
    assert _get_tx(dydx_world, first) is None and dydx_world.exchange.orders == {}  # not in a block yet
    assert dydx_world.node.accounts[OWNER].committed == 5
    height = dydx_world.node.advance()
    ok, failed = _get_tx(dydx_world, first), _get_tx(dydx_world, second)
    assert (ok.code, ok.height) == (0, height) and (failed.codespace, failed.code) == ("clob", 3009)
    assert dydx_world.node.accounts[OWNER].committed == 7  # the failed message still used its sequence
    assert [o.key[2] for o in dydx_world.exchange.orders.values()] == [1]


async def test_the_mempool_drops_a_tx_never_included_after_its_ttl(dydx_world):
    dydx_world.node.fail_next("hold")
    held = _order(dydx_world, client_id=1, flags=64, tif=GTT, subticks=2_000_000_000)
    assert await _send(dydx_world, held) == ("", 0)
    tx_hash = dydx_world.node.broadcasts[-1]["tx_hash"]
    start = dydx_world.exchange.height
    dydx_world.node.advance(40)
    assert [tx.tx_hash for tx in dydx_world.node.mempool.pending] == [tx_hash]  # still waiting
    dydx_world.node.advance()  # more than TTLNumBlocks = 40 after it entered: purged
    assert dydx_world.exchange.height == start + 41 and dydx_world.node.mempool.pending == []
    assert _get_tx(dydx_world, tx_hash) is None and dydx_world.exchange.orders == {}
    # its sequence is free again: the CheckTx state went back to the committed one
    again = _order(dydx_world, client_id=1, flags=64, tif=GTT, subticks=2_000_100_000)
    assert await _send(dydx_world, again) == ("", 0)


async def test_a_tx_whose_sequence_is_not_next_fails_in_deliver_tx(dydx_world):
    first = _order(dydx_world, client_id=1, flags=64, tif=GTT, subticks=2_000_000_000)
    dydx_world.node.fail_next("hold")  # accepted with sequence 5, then never proposed
    assert await _send(dydx_world, first) == ("", 0)
    later = _order(dydx_world, client_id=2, flags=64, tif=GTT, subticks=2_000_000_000)
    assert await _send(dydx_world, later, sequence=6) == ("", 0)  # CheckTx state expects 6
    dydx_world.node.advance()  # 6 is delivered while 5 is not: its ante handler fails
    result = _get_tx(dydx_world, dydx_world.node.broadcasts[-1]["tx_hash"])
    assert (result.codespace, result.code) == ("sdk", 32) and dydx_world.exchange.orders == {}


async def test_authenticators_are_evaluated_as_trees(dydx_world):
    api = KeyPair.from_hex(API_KEY)
    node = dydx_world.node
    any_of = node.add_authenticator(OWNER, api.public_key_bytes, any_of_messages=True)  # dydx.trade's shape
    only_btc = node.add_authenticator(OWNER, api.public_key_bytes, clob_pairs=(0,))
    no_place = node.add_authenticator_tree(OWNER, Authenticator.compose(AuthenticatorType.AllOf, [
        Authenticator.signature_verification(api.public_key_bytes),
        Authenticator.compose(AuthenticatorType.AnyOf, [Authenticator.message_filter(m)
                                                        for m in TRADING_MESSAGES[1:]])]))
    order = _order(dydx_world, client_id=1, subticks=2_000_000_000)
    sent = [await _send(dydx_world, order, key=api, options=TxOptions([auth], 5, 42))
            for auth in (only_btc, no_place, any_of)]
    # AllOf fails on the clob pair filter (104); the AnyOf of filters has no match (105, wrapped by AllOf)
    assert sent == [("accountplus", 104), ("accountplus", 104), ("", 0)]
    failures = [b["raw_log"] for b in node.broadcasts[:2]]
    assert "order id 1 not in whitelist" in failures[0] and "all sub-authenticators failed" in failures[1]
    assert all(f.startswith("authentication failed for message 0, authenticator id") for f in failures)
    stranger = KeyPair.from_hex("2" * 64)
    other = _order(dydx_world, client_id=2, subticks=2_000_000_000)
    assert await _send(dydx_world, other, key=stranger, options=TxOptions([any_of], 5, 42)) == (
        "accountplus", 104)  # the signature sub-authenticator names another key
    dydx_world.check_protection = False


@pytest.mark.parametrize("dydx_world", [20, 40], indirect=True)
async def test_a_short_term_id_can_fill_again_once_its_fill_amount_is_pruned(dydx_world):
    # why the venue never sends again an id the indexer shows filled: the chain would fill it again
    first = _order(dydx_world, client_id=6, subticks=3_100_000_000)
    assert await _send(dydx_world, first, sequence=0) == ("", 0)
    dydx_world.node.advance()
    refused = _order(dydx_world, client_id=6, subticks=3_100_000_000)  # a later GTB: new bytes
    assert await _send(dydx_world, refused, sequence=0) == ("clob", 24)  # fully filled, still in state
    kept_until = first.good_til_block + dydx_world.short_block_window
    dydx_world.node.advance(kept_until - dydx_world.exchange.height - 1)
    again = _order(dydx_world, client_id=6, subticks=3_100_000_000)
    assert await _send(dydx_world, again, sequence=0) == ("clob", 24)
    dydx_world.node.advance()  # EndBlocker of GTB + ShortBlockWindow prunes the fill amount
    again = _order(dydx_world, client_id=6, subticks=3_100_000_000)
    assert await _send(dydx_world, again, sequence=0) == ("", 0)  # a new order under the old id
    dydx_world.node.advance()
    assert dydx_world.exchange.position(OWNER, 0, "ETH-USD") == 2 * D("0.01")
    assert dydx_world.exchange.double_entries() != []  # what the world's teardown check catches
    dydx_world.exchange._filled_placements.clear()
    dydx_world.check_protection = False
