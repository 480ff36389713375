"""Signer: local sequence, resync on mismatch, same-bytes resend, block rate limit, API keys.

Everything runs against the fake node, which decodes and verifies the real signed txs, models
committed (Account query) versus CheckTx sequence like the chain, keeps stateful txs in a mempool
until the next block and remembers every checked tx in its cache (valid or not).
"""

from __future__ import annotations

import asyncio
from decimal import Decimal as D

import pytest
from dydx_v4_client import OrderFlags
from dydx_v4_client.indexer.rest.constants import OrderExecution, OrderType
from dydx_v4_client.network import NodeConfig
from dydx_v4_client.node.client import NodeClient
from dydx_v4_client.node.market import Market, since_now
from dydx_v4_client.wallet import Wallet
from v4_proto.dydxprotocol.clob.order_pb2 import Order

from tests.fakes.dydx_world import API_KEY, MNEMONIC, OWNER, DydxWorld
from trading_app.domain.enums import OrderStatus, Side
from trading_app.venues.dydx import Signer
from trading_app.venues.dydx.credentials import InvalidCredential, key_address
from trading_app.venues.dydx.ratelimit import BlockRateLimiter
from trading_app.venues.errors import OrderRejected, SequenceMismatch, VenueTemporaryError

SIZE = D("0.01")


async def _stop(venue, client_id, trigger=D("2850.0")):
    return await venue.place_stop_loss("ETH-USD", Side.SELL, SIZE, trigger, worst_price=D("2700.0"),
                                       client_id=client_id, good_til_seconds=3600)


def _placements(world: DydxWorld, client_id: int) -> list[dict]:
    return [b for b in world.node.broadcasts if b.get("type_url", "").endswith("MsgPlaceOrder")
            and b["msg"].order.order_id.client_id == client_id]


def _live_orders(world: DydxWorld, client_id: int) -> int:
    """Live orders of `client_id` once the next block has delivered the mempool."""
    world.node.advance()
    return sum(1 for key, o in world.exchange.orders.items() if key[2] == client_id and o.live)


async def test_two_stateful_orders_in_one_block_use_the_local_counter(dydx_world):
    venue = dydx_world.venue()
    height = dydx_world.exchange.height
    await _stop(venue, 1)
    await _stop(venue, 2, D("2800.0"))
    first, second = _placements(dydx_world, 1)[0], _placements(dydx_world, 2)[0]
    assert (first["code"], first["sequence"]) == (0, 5)
    assert (second["code"], second["sequence"]) == (0, 6)
    assert dydx_world.exchange.height == height  # same block
    # what the Account query says: the committed value, still 5 within the block
    assert dydx_world.node.accounts[OWNER].committed == 5
    assert venue.signer.sequence == 7


async def test_the_library_sequence_manager_fails_where_we_succeed(dydx_world):
    # control: proves the fake models committed vs CheckTx state, so the test above can fail
    channel = dydx_world.venue().client._raw_channel
    node = await NodeClient.connect(NodeConfig("dydx-testnet-4", "adv4tnt", "ibc/x", channel))
    node.builder.chain_id = dydx_world.node.chain_id
    wallet = await Wallet.from_mnemonic(node, MNEMONIC, OWNER)
    market = Market(dydx_world.indexer.markets["ETH-USD"])
    codes = []
    for cid in (11, 12):
        order = market.order(market.order_id(OWNER, 0, cid, OrderFlags.CONDITIONAL), OrderType.STOP_MARKET,
                             Order.Side.SIDE_SELL, 0.01, 2700, Order.TIME_IN_FORCE_IOC, True,
                             execution=OrderExecution.IOC, good_til_block_time=since_now(hours=1),
                             condition_type=Order.ConditionType.CONDITION_TYPE_STOP_LOSS,
                             conditional_order_trigger_subticks=market.calculate_subticks(2850))
        codes.append((await node.place_order(wallet, order)).tx_response.code)
    assert codes == [0, 32]


async def test_mismatch_resyncs_and_retries_once_with_the_same_client_id(dydx_world):
    venue = dydx_world.venue()
    await _stop(venue, 1)  # seeds the local counter
    dydx_world.node.fail_next("sequence")  # another client used the owner's next sequence
    await _stop(venue, 2, D("2800.0"))
    tries = _placements(dydx_world, 2)
    assert [(b["code"], b["sequence"]) for b in tries] == [(32, 6), (0, 7)]
    assert _live_orders(dydx_world, 2) == 1


async def test_second_mismatch_raises_places_nothing_and_next_call_recovers(dydx_world):
    venue = dydx_world.venue()
    await _stop(venue, 1)
    dydx_world.node.fail_next("sequence", count=3)  # three mismatches in a row: two retries, then give up
    with pytest.raises(SequenceMismatch):
        await _stop(venue, 2, D("2800.0"))
    assert len(_placements(dydx_world, 2)) == 3 and _live_orders(dydx_world, 2) == 0
    await _stop(venue, 3, D("2750.0"))
    assert _placements(dydx_world, 3)[-1]["code"] == 0 and _live_orders(dydx_world, 3) == 1


async def test_a_lost_answer_is_followed_by_a_new_copy_the_chain_refuses_as_the_same_order(dydx_world):
    # the first copy was processed, its answer came too late. Resending the same bytes would only
    # meet the cache (which holds refused txs too); a new copy meets the used sequence, is signed
    # with the next one, and the chain refuses the order id itself: one order
    dydx_world.node.timeout_sleep = 0.8
    venue = dydx_world.venue(rpc_timeout=0.4)
    dydx_world.node.fail_next("timeout")
    ref = await _stop(venue, 22)
    sent = _placements(dydx_world, 22)
    assert [(b["code"], b["sequence"]) for b in sent] == [(0, 5), (32, 5), (3005, 6)]
    assert len({b["tx_hash"] for b in sent}) == 3 and ref.commit_by is not None
    assert (await venue.order_status(ref)).status is OrderStatus.PENDING  # not committed yet
    assert _live_orders(dydx_world, 22) == 1
    assert (await venue.order_status(ref)).status is OrderStatus.UNTRIGGERED
    await _stop(venue, 23, D("2800.0"))  # the counter moved by exactly one
    assert [b["code"] for b in _placements(dydx_world, 23)] == [0]


async def test_a_refused_copy_whose_answer_was_lost_is_refused_again(dydx_world):
    # the first copy was refused (equity tier) and its answer lost: the old signer's resend of the
    # same bytes met the cache and counted the stop as placed; a new copy gets the real answer
    dydx_world.node.timeout_sleep = 0.6
    dydx_world.exchange.equity_tier_limit = 0
    venue = dydx_world.venue(rpc_timeout=0.3)
    dydx_world.node.fail_next("timeout")
    with pytest.raises(OrderRejected) as info:
        await _stop(venue, 24)
    assert info.value.code == 10001
    assert [b["code"] for b in _placements(dydx_world, 24)] == [10001, 10001]
    assert _live_orders(dydx_world, 24) == 0


async def test_identical_bytes_meet_the_cache_and_a_stateful_tx_is_probed_with_new_ones(dydx_world):
    venue = dydx_world.venue()
    ref = await _stop(venue, 25)
    venue.signer._sequence = 5  # as if the same call were made again with the same sequence
    again = await _stop(venue, 25)
    codes = [b["code"] for b in _placements(dydx_world, 25)]
    # the same bytes (the same second) meet the cache and are probed; or they differ at once
    assert codes in ([0, 19, 32, 3005], [0, 32, 3005])
    assert again.venue_order_id == ref.venue_order_id and _live_orders(dydx_world, 25) == 1


async def test_sequence_used_by_the_front_end_while_ours_was_lost_is_placed_not_assumed(dydx_world):
    # our first copy never reached the node; meanwhile the trader's dYdX front end used sequence 6.
    # The resend meets "expected 7": the old signer read that as "our first copy landed" and counted
    # a stop that never existed. Now it signs again with 7, and the stop is really placed.
    dydx_world.node.timeout_sleep = 0.5
    venue = dydx_world.venue(rpc_timeout=2.0)
    await _stop(venue, 1)
    dydx_world.node.advance()
    dydx_world.node.fail_next("timeout_unprocessed")
    asyncio.get_running_loop().call_later(0.1, dydx_world.node.foreign_tx, OWNER)
    ref = await _stop(venue, 2, D("2800.0"))
    codes = [(b["code"], b["sequence"]) for b in _placements(dydx_world, 2)]
    assert codes == [(32, 6), (0, 7)]  # the lost copy never shows: nothing was processed
    assert _live_orders(dydx_world, 2) == 1
    assert (await venue.order_status(ref)).status is OrderStatus.UNTRIGGERED


@pytest.mark.parametrize("fault", ["timeout", "timeout_evicted"])
async def test_timeout_resends_the_order_and_never_a_second_one(dydx_world, fault):
    dydx_world.node.timeout_sleep = 0.8
    venue = dydx_world.venue(rpc_timeout=0.4)
    dydx_world.node.fail_next(fault)
    ref = await venue.place_market_order("ETH-USD", Side.BUY, SIZE, worst_price=D("3100.0"), client_id=21)
    sent = _placements(dydx_world, 21)
    # the new copy carries the same order (same good-til-block): the live copy refuses it (20)
    assert [b["code"] for b in sent] == [0, 20] and sent[0]["tx_hash"] != sent[1]["tx_hash"]
    assert sent[0]["msg"].order == sent[1]["msg"].order
    assert ref.good_til_block >= sent[0]["msg"].order.good_til_block  # a bound on the live copy's
    dydx_world.node.advance()
    assert dydx_world.exchange.position(OWNER, 0, "ETH-USD") == SIZE  # one entry, not two
    dydx_world.node.fail_next(fault)  # protect it, through the same fault on a stateful order
    stop = await _stop(venue, 22)
    assert [b["code"] for b in _placements(dydx_world, 22)] == [0, 32, 3005]
    assert _live_orders(dydx_world, 22) == 1
    assert (await venue.order_status(stop)).status is OrderStatus.UNTRIGGERED
    await _stop(venue, 23, D("2800.0"))
    assert [b["code"] for b in _placements(dydx_world, 23)][-1] == 0


async def test_dropped_broadcast_is_resent_once_landed(dydx_world):
    venue = dydx_world.venue()
    dydx_world.node.fail_next("drop")
    await _stop(venue, 31)
    assert dydx_world.node.calls.count("BroadcastTx") == 2
    assert [b["code"] for b in _placements(dydx_world, 31)] == [0]


async def test_unreachable_after_resends_raises_temporary_and_resyncs_later(dydx_world):
    venue = dydx_world.venue()
    await _stop(venue, 1)
    dydx_world.node.fail_next("drop", count=3)
    with pytest.raises(VenueTemporaryError):
        await _stop(venue, 41, D("2800.0"))
    assert venue.signer.sequence is None and _live_orders(dydx_world, 41) == 0
    await _stop(venue, 41, D("2800.0"))  # same client id, resynced sequence
    assert _live_orders(dydx_world, 41) == 1


async def test_invalid_order_codes_are_not_retried(dydx_world):
    venue = dydx_world.venue()
    dydx_world.node.fail_next("code", codespace="clob", code=12, log="MsgPlaceOrder is invalid")
    with pytest.raises(OrderRejected) as info:
        await _stop(venue, 51)
    assert info.value.code == 12 and dydx_world.node.calls.count("BroadcastTx") == 1


async def test_equity_tier_refusal_is_clear_and_final(dydx_world):
    venue = dydx_world.venue()
    dydx_world.exchange.equity_tier_limit = 0
    with pytest.raises(OrderRejected) as info:
        await _stop(venue, 52)
    assert info.value.code == 10001 and "equity tier" in str(info.value)
    assert venue.signer.sequence == 5  # nothing consumed


async def test_block_rate_limiter_waits_for_the_next_block_instead_of_5001(dydx_world):
    venue = dydx_world.venue()
    start = dydx_world.exchange.height

    async def produce_block_later():
        await asyncio.sleep(0.3)
        dydx_world.node.advance()

    producer = asyncio.create_task(produce_block_later())
    for cid, trigger in ((61, "2850.0"), (62, "2800.0"), (63, "2750.0")):
        await _stop(venue, cid, D(trigger))
    await producer
    results = [b for b in dydx_world.node.broadcasts if b.get("type_url", "").endswith("MsgPlaceOrder")]
    assert [b["code"] for b in results] == [0, 0, 0]
    assert [b["height"] for b in results] == [start, start, start + 1]


async def test_node_5001_waits_one_block_and_retries_once(dydx_world):
    signer = dydx_world.signer(limiter=BlockRateLimiter(per_block=10, poll_seconds=0.02, max_wait_seconds=3))
    venue = dydx_world.venue(signer=signer)
    await _stop(venue, 71)
    await _stop(venue, 72, D("2800.0"))
    asyncio.get_running_loop().call_later(0.2, dydx_world.node.advance)
    await _stop(venue, 73, D("2750.0"))
    sent = _placements(dydx_world, 73)
    assert [(b["code"], b["codespace"]) for b in sent] == [(5001, "clob"), (0, "")]
    # the node keeps refused txs in its cache: the retry is signed again (its own memo), not resent
    assert sent[0]["tx_hash"] != sent[1]["tx_hash"] and sent[1]["memo"] == "retry 1"
    assert _live_orders(dydx_world, 73) == 1


async def test_permissioned_key_tx_carries_the_authenticator(dydx_world):
    signer = dydx_world.signer(api_key=True)
    venue = dydx_world.venue(signer=signer)
    await signer.check_authenticator(venue.client)
    await _stop(venue, 81)
    await venue.place_market_order("ETH-USD", Side.BUY, SIZE, worst_price=D("3100.0"), client_id=82)
    for cid in (81, 82):
        sent = _placements(dydx_world, cid)[0]
        assert sent["code"] == 0 and sent["authenticators"] == [signer.authenticator_id]
        assert sent["pubkey"] == signer.public_key != Signer.from_mnemonic(MNEMONIC).public_key
        assert sent["msg"].order.order_id.subaccount_id.owner == OWNER
    assert _placements(dydx_world, 81)[0]["sequence"] == 5  # the owner's sequence


async def test_wrong_authenticator_or_key_is_refused(dydx_world):
    dydx_world.node.add_authenticator(OWNER, Signer.from_api_key(API_KEY, OWNER, 0).public_key)
    other_key = Signer.from_api_key("2" * 64, OWNER, 0)
    for signer in (Signer.from_api_key(API_KEY, OWNER, 99), other_key):
        venue = dydx_world.venue(signer=signer)
        with pytest.raises(OrderRejected) as info:
            await _stop(venue, 91)
        assert "API key" in str(info.value)
        with pytest.raises(InvalidCredential):
            await signer.check_authenticator(venue.client)
    assert _live_orders(dydx_world, 91) == 0


async def test_authenticator_limited_to_another_subaccount_is_refused(dydx_world):
    auth_id = dydx_world.node.add_authenticator(OWNER, Signer.from_api_key(API_KEY, OWNER, 0).public_key,
                                                subaccounts=(1,))
    venue = dydx_world.venue(signer=Signer.from_api_key(API_KEY, OWNER, auth_id))
    with pytest.raises(OrderRejected):
        await _stop(venue, 92)


async def test_an_authenticator_that_allows_everything_is_refused(dydx_world):
    auth_id = dydx_world.node.add_authenticator(OWNER, Signer.from_api_key(API_KEY, OWNER, 0).public_key,
                                                messages=("/dydxprotocol.clob.MsgPlaceOrder",
                                                          "/dydxprotocol.sending.MsgWithdrawFromSubaccount"))
    signer = Signer.from_api_key(API_KEY, OWNER, auth_id)
    with pytest.raises(InvalidCredential):
        await signer.check_authenticator(dydx_world.venue(signer=signer).client)


async def test_signer_for_another_owner_is_refused_at_construction(dydx_world):
    with pytest.raises(InvalidCredential):
        dydx_world.venue(signer=Signer.from_api_key(API_KEY, key_address("2" * 64), 1))
    assert "1111" not in repr(Signer.from_api_key(API_KEY, OWNER, 1))  # no key material in repr


async def test_the_local_rate_limiter_counts_every_attempt_the_chain_counts(dydx_world):
    # the chain counts each stateful placement that passes the sequence and signature checks, refused
    # or not; a lost answer may have been counted too. The local limiter keeps the same tally
    dydx_world.node.timeout_sleep = 0.6
    venue = dydx_world.venue(rpc_timeout=0.3)
    height = dydx_world.exchange.height
    dydx_world.node.fail_next("timeout")
    await _stop(venue, 95)
    assert [b["code"] for b in _placements(dydx_world, 95)] == [0, 32, 3005]
    assert [h for _, h in dydx_world.node.placements] == [height + 1, height + 1]  # the 32 is not counted
    assert not venue.signer.limiter.has_room(height)  # two counted in this block: the next one waits
