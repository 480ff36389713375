"""One owner per account per tick across workers: shares, leases, and a dead worker's takeover."""

from __future__ import annotations

import asyncio
from datetime import timedelta

from tests.fakes.indexer import FakeIndexer
from tests.services.engine_support import make_user
from tests.services.monitor_support import (
    LONG,
    move,
    notifications,
    open_position,
    position,
)
from trading_app.domain.clock import utcnow
from trading_app.services.monitor import leases
from trading_app.services.monitor.tick import monitor_tick

TTL = timedelta(seconds=1)


def accounts(report) -> set[tuple[str, str]]:  # type: ignore[no-untyped-def]
    return {(r.user, r.network) for r in report.results}


async def test_two_workers_at_once_handle_every_account_exactly_once(
    db_url: str, paper_market: FakeIndexer
) -> None:
    users = [await make_user(100 + i) for i in range(6)]
    opened = [await open_position(u, LONG) for u in users]
    move(paper_market, "BTC-USD", "70500")

    a, b = await asyncio.gather(monitor_tick("worker-a"), monitor_tick("worker-b"))

    assert accounts(a).isdisjoint(accounts(b))
    assert accounts(a) | accounts(b) == {(u, "paper") for u in users}
    for p in opened:
        assert (await position(p.id)).close_reason == "TAKE_PROFIT"
    for u in users:
        assert len(await notifications(u, "closed")) == 1
    assert a.outcomes["take_profit"] + b.outcomes["take_profit"] == 6


async def test_workers_settle_on_disjoint_shares(db_url: str, paper_market: FakeIndexer) -> None:
    users = [await make_user(200 + i) for i in range(8)]
    for u in users:
        await open_position(u, LONG)
    for _ in range(2):  # the first ticks may see only one worker alive; the leases keep it exclusive
        a = await monitor_tick("worker-a", sweep=False)
        b = await monitor_tick("worker-b", sweep=False)
        assert accounts(a).isdisjoint(accounts(b))
    a = await monitor_tick("worker-a", sweep=False)
    b = await monitor_tick("worker-b", sweep=False)
    everyone = {(u, "paper") for u in users}
    assert accounts(a) | accounts(b) == everyone and accounts(a).isdisjoint(accounts(b))
    assert accounts(a) == set(leases.share(everyone, ["worker-a", "worker-b"], "worker-a"))
    assert accounts(a) and accounts(b)  # both do work (these ids split 8 accounts both ways)


async def test_a_dead_workers_accounts_are_taken_over_when_its_leases_run_out(
    pg_url: str, paper_market: FakeIndexer
) -> None:
    users = [await make_user(300 + i) for i in range(4)]
    for u in users:
        await open_position(u, LONG)
    # long enough that the dead worker's tick and the next one end inside it on a loaded machine
    # (with 1 s, a slow first tick let the leases lapse before the second worker looked)
    ttl = timedelta(seconds=5)
    dead = await monitor_tick("worker-dead", ttl=ttl, sweep=False)  # then it stops ticking
    assert dead.owned == 4

    alive = await monitor_tick("worker-alive", ttl=ttl, sweep=False)
    assert alive.owned == 0  # every lease is still the dead worker's

    held = [await leases.lease_of(u, "paper") for u in users]
    last = max(lease.expires_at for lease in held if lease is not None)
    await asyncio.sleep(max(0.0, (last - utcnow()).total_seconds()) + 0.2)  # until they have run out
    alive = await monitor_tick("worker-alive", ttl=ttl, sweep=False)
    assert alive.owned == 4 and len(alive.results) == 4
    for u in users:
        lease = await leases.lease_of(u, "paper")
        assert lease is not None and lease.owner == "worker-alive" and lease.expires_at > utcnow()


async def test_a_clean_shutdown_hands_over_at_once(db_url: str, paper_market: FakeIndexer) -> None:
    user = await make_user(400)
    await open_position(user, LONG)
    assert (await monitor_tick("worker-a", sweep=False)).owned == 1
    await leases.retire("worker-a", utcnow())
    assert (await monitor_tick("worker-b", sweep=False)).owned == 1


def test_share_is_stable_and_complete() -> None:
    accounts_ = [(f"0x{i:040x}", "paper") for i in range(300)]
    workers = ["w1", "w2", "w3"]
    shares = [set(leases.share(accounts_, workers, w)) for w in workers]
    assert set().union(*shares) == set(accounts_) and sum(map(len, shares)) == len(accounts_)
    assert all(60 < len(s) < 140 for s in shares)  # roughly a third each
    # a worker leaving only moves its own accounts
    after = [set(leases.share(accounts_, ["w1", "w3"], w)) for w in ("w1", "w3")]
    assert shares[0] <= after[0] and shares[2] <= after[1]
