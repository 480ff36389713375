"""DydxVenue.order_budget: the chain's stateful-order limits (clob queries, genesis fallback), the
limiter that follows them, and `room` reaching 0 before the chain would answer 5001."""

from __future__ import annotations

from decimal import Decimal as D

import pytest
from dydx_v4_client.utility import to_serializable_vec

from tests.fakes.dydx_world import DydxWorld
from trading_app.domain.enums import Side
from trading_app.venues.dydx.limits import GENESIS, decode_serializable_int
from trading_app.venues.dydx.ratelimit import BlockRateLimiter
from trading_app.venues.errors import OrderRejected, RateLimited

SIZE = D("0.01")


async def _stop(venue, client_id, trigger=D("2850.0")):  # noqa: ANN001
    return await venue.place_stop_loss("ETH-USD", Side.SELL, SIZE, trigger, worst_price=D("2700.0"),
                                       client_id=client_id, good_til_seconds=3600)


def _codes(world: DydxWorld) -> list[int]:
    return [b["code"] for b in world.node.broadcasts if b.get("type_url", "").endswith("MsgPlaceOrder")]


@pytest.fixture
def quick_venue(dydx_world: DydxWorld):  # noqa: ANN201
    """A venue whose limiter gives up after 0.3 s (blocks come only by hand here)."""
    dydx_world.check_protection = False
    limiter = BlockRateLimiter(poll_seconds=0.02, max_wait_seconds=0.3)
    return dydx_world.venue(signer=dydx_world.signer(limiter=limiter))


def test_serializable_int_decodes_what_the_client_library_encodes():
    for value in (0, 1, 20_000_000, 100_000_000_000, 2**70, -5):
        assert decode_serializable_int(to_serializable_vec(value)) == value
    assert decode_serializable_int(b"") == 0
    with pytest.raises(ValueError):
        decode_serializable_int(bytes([4, 1]))


def test_equity_tiers_cap_by_the_last_tier_reached():
    assert [GENESIS.max_open_stateful(D(v)) for v in ("0", "19.99", "20", "999", "10000", "1e6")] == [
        0, 0, 1, 5, 100, 200]


async def test_budget_reports_the_chains_genesis_limits(dydx_world: DydxWorld, quick_venue) -> None:  # noqa: ANN001
    budget = await quick_venue.order_budget()
    assert budget.limits == ((1, 2), (100, 20)) and budget.source == "chain"
    assert (budget.room, budget.window_room, budget.max_open_stateful) == (2, 20, 100)  # 10,000 USD


async def test_the_venue_follows_other_chain_values(dydx_world: DydxWorld, quick_venue) -> None:  # noqa: ANN001
    dydx_world.node.stateful_limits = [(10, 4), (1, 3)]
    dydx_world.exchange.equity_tiers = [(D(0), 0), (D(5000), 7)]
    budget = await quick_venue.order_budget()
    assert (budget.limits, budget.room, budget.window_room, budget.max_open_stateful) == (
        ((1, 3), (10, 4)), 3, 4, 7)
    for cid in (1, 2, 3):  # three in one block: the chain's 3 per block, not genesis' 2
        await _stop(quick_venue, cid, D(2850) - cid)
    budget = await quick_venue.order_budget()
    assert (budget.room, budget.window_room) == (0, 1)
    dydx_world.node.advance()
    assert (await quick_venue.order_budget()).room == 1  # the 10-block window still holds three
    await _stop(quick_venue, 4, D("2840.0"))
    assert (await quick_venue.order_budget()).room == 0
    dydx_world.node.advance()
    with pytest.raises(RateLimited):
        await _stop(quick_venue, 5, D("2830.0"))  # the window is full: the limiter waits, then gives up
    assert 5001 not in _codes(dydx_world) and len(_codes(dydx_world)) == 4
    dydx_world.node.advance(9)  # the first block leaves the 10-block window
    assert (await quick_venue.order_budget()).room == 3
    await _stop(quick_venue, 5, D("2830.0"))
    assert _codes(dydx_world) == [0] * 5


async def test_room_reaches_zero_before_the_chain_would_answer_5001(
    dydx_world: DydxWorld, quick_venue  # noqa: ANN001
) -> None:
    rooms = [(await quick_venue.order_budget()).room]
    for cid in (11, 12):
        await _stop(quick_venue, cid, D(2850) - cid)
        rooms.append((await quick_venue.order_budget()).room)
    assert rooms == [2, 1, 0]
    # a monitor would defer here; a placement that does not ask waits for room, and without a new
    # block gives up before sending anything: the chain never answers 5001
    with pytest.raises(RateLimited):
        await _stop(quick_venue, 13, D("2830.0"))
    assert _codes(dydx_world) == [0, 0]
    # what the chain would have said: the same placement sent past the budget is refused
    by_hand = BlockRateLimiter(per_block=10, max_wait_seconds=0.3)  # disagrees with the chain
    over = dydx_world.venue(signer=dydx_world.signer(limiter=by_hand))
    with pytest.raises(RateLimited):
        await _stop(over, 14, D("2820.0"))  # 5001, one retry after a block that never comes
    assert 5001 in _codes(dydx_world)
    dydx_world.node.advance()
    assert (await quick_venue.order_budget()).room == 2


async def test_stateful_cancels_do_not_use_the_budget(dydx_world: DydxWorld, quick_venue) -> None:  # noqa: ANN001
    ref = await _stop(quick_venue, 21)
    dydx_world.node.advance()
    before = await quick_venue.order_budget()
    await quick_venue.cancel(ref)
    after = await quick_venue.order_budget()
    assert (after.room, after.window_room) == (before.room, before.window_room) == (2, 19)


async def test_the_equity_tier_from_the_chain_is_enforced(dydx_world: DydxWorld, quick_venue) -> None:  # noqa: ANN001
    dydx_world.exchange.equity_tiers = [(D(0), 0), (D(20), 1)]
    assert (await quick_venue.order_budget()).max_open_stateful == 1
    await _stop(quick_venue, 31)
    dydx_world.node.advance()
    with pytest.raises(OrderRejected) as info:
        await _stop(quick_venue, 32, D("2840.0"))
    assert info.value.code == 10001


async def test_genesis_values_when_the_node_cannot_say(dydx_world: DydxWorld, quick_venue) -> None:  # noqa: ANN001
    dydx_world.node.stateful_limits = [(1, 5), (100, 50)]
    dydx_world.node.fail_next("drop", rpc="BlockRateLimitConfiguration", count=2)  # the query retries once
    budget = await quick_venue.order_budget()
    assert (budget.limits, budget.source) == (((1, 2), (100, 20)), "genesis")
    assert quick_venue.signer.limiter.limits == ((1, 2), (100, 20))
    quick_venue.limits.forget()  # an hour later (or after the retry delay): asked again
    assert (await quick_venue.order_budget()).limits == ((1, 5), (100, 50))
    assert quick_venue.signer.limiter.limits == ((1, 5), (100, 50))
