"""Price sources (trading_app/venues/paper/prices.py): the indexer over real HTTP, and the synthetic walk."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from decimal import Decimal as D

import pytest

from tests.fakes.indexer import FakeIndexer, FakeRequest, default_markets
from trading_app.venues.errors import UnknownMarket, VenueUnavailable
from trading_app.venues.paper import IndexerPriceSource, SyntheticPriceSource, price_source_from_settings
from trading_app.venues.paper.prices import PriceSource


@pytest.fixture
async def fake() -> AsyncIterator[FakeIndexer]:
    with FakeIndexer() as server:
        yield server


@pytest.fixture
async def source(fake: FakeIndexer) -> AsyncIterator[IndexerPriceSource]:
    src = IndexerPriceSource(fake.url, timeout=0.5, cache_seconds=0)
    yield src
    await src.close()


# -- indexer: parsing ------------------------------------------------------------------
async def test_markets_are_parsed_exactly_and_agree_with_the_raw_fields(source: IndexerPriceSource) -> None:
    specs = await source.markets()
    assert set(specs) == {"BTC-USD", "ETH-USD", "SOL-USD"}
    btc = specs["BTC-USD"]
    assert (btc.step_size, btc.tick_size, btc.oracle_price, btc.status) == (
        D("0.0001"),
        D("1"),
        D("65000"),
        "ACTIVE",
    )
    assert (btc.clob_pair_id, btc.atomic_resolution, btc.step_base_quantums) == (0, -10, 1_000_000)
    assert (btc.subticks_per_tick, btc.quantum_conversion_exponent, btc.initial_margin_fraction) == (
        100_000,
        -9,
        D("0.02"),
    )
    for spec in specs.values():  # dydx-v4.md section 8
        assert spec.step_size == spec.step_base_quantums * D(10) ** spec.atomic_resolution
        exponent = spec.quantum_conversion_exponent - 6 - spec.atomic_resolution
        assert spec.tick_size == spec.subticks_per_tick * D(10) ** exponent
    assert isinstance(source, PriceSource)


async def test_prices_keep_every_digit(fake: FakeIndexer, source: IndexerPriceSource) -> None:
    fake.set_price("ETH-USD", D("3012.123456789012345"))
    assert (await source.market("ETH-USD")).oracle_price == D("3012.123456789012345")


async def test_bare_json_numbers_are_read_as_exact_decimals(
    fake: FakeIndexer, source: IndexerPriceSource
) -> None:
    entry = '"status": "ACTIVE", "oraclePrice": 3000.1, "stepSize": 0.001, "tickSize": 0.1'
    body = '{"markets": {"ETH-USD": {' + entry + "}}}"
    fake.register("GET", r"/v4/perpetualMarkets", lambda req: (200, body))
    spec = await source.market("ETH-USD")
    assert (spec.oracle_price, spec.step_size, spec.tick_size) == (D("3000.1"), D("0.001"), D("0.1"))


async def test_one_malformed_market_is_skipped_not_fatal(
    fake: FakeIndexer, source: IndexerPriceSource
) -> None:
    broken = {**default_markets()["SOL-USD"], "oraclePrice": "n/a"}
    markets = {"ETH-USD": default_markets()["ETH-USD"], "SOL-USD": broken}
    fake.register("GET", r"/v4/perpetualMarkets", lambda req: (200, {"markets": markets}))
    assert set(await source.markets()) == {"ETH-USD"}


async def test_unknown_market(source: IndexerPriceSource) -> None:
    with pytest.raises(UnknownMarket):
        await source.market("NOPE-USD")
    with pytest.raises(UnknownMarket):
        await source.order_book("NOPE-USD")


async def test_order_book_is_parsed_best_first(fake: FakeIndexer, source: IndexerPriceSource) -> None:
    fake.set_book(
        "ETH-USD",
        bids=[(D("2999"), D("1")), (D("2999.5"), D("2"))],
        asks=[(D("3001"), D("1")), (D("3000.5"), D("0.25")), (D("3002"), D("0"))],
    )
    book = await source.order_book("ETH-USD")
    assert book.bids == ((D("2999.5"), D("2")), (D("2999"), D("1")))
    assert book.asks == ((D("3000.5"), D("0.25")), (D("3001"), D("1")))  # empty levels dropped
    assert (book.best_bid, book.best_ask) == (D("2999.5"), D("3000.5"))
    no_book = IndexerPriceSource(fake.url, use_order_book=False)
    assert await no_book.order_book("ETH-USD") is None
    await no_book.close()


# -- indexer: cache --------------------------------------------------------------------
async def test_one_request_serves_many_concurrent_readers(fake: FakeIndexer) -> None:
    cached = IndexerPriceSource(fake.url, cache_seconds=60)
    results = await asyncio.gather(*(cached.market("ETH-USD") for _ in range(50)))
    assert {r.oracle_price for r in results} == {D("3000")}
    assert fake.request_count("/v4/perpetualMarkets") == 1
    fake.set_price("ETH-USD", D("3100"))
    assert (await cached.market("ETH-USD")).oracle_price == D("3000")  # still cached
    cached.invalidate()
    assert (await cached.market("ETH-USD")).oracle_price == D("3100")
    assert fake.request_count("/v4/perpetualMarkets") == 2
    await cached.close()


async def test_readers_sharing_a_request_resume_together(fake: FakeIndexer) -> None:
    # the monitor's paper reads coalesce per turn of the event loop: readers that waited for the same
    # price request must all resume in one turn, not one turn each (as the waiters of a lock do)
    source = IndexerPriceSource(fake.url, cache_seconds=60)
    turn = 0

    async def turns() -> None:
        nonlocal turn
        while True:
            await asyncio.sleep(0)
            turn += 1

    async def read(kind: str) -> int:
        await (source.markets() if kind == "markets" else source.order_book("ETH-USD"))
        return turn

    counter = asyncio.get_running_loop().create_task(turns())
    for kind in ("markets", "book"):
        resumed = await asyncio.gather(*(read(kind) for _ in range(20)))
        assert len(set(resumed)) == 1, resumed
    assert fake.request_count("/v4/perpetualMarkets") == 1
    assert fake.request_count("/v4/orderbooks/perpetualMarket/ETH-USD") == 1
    counter.cancel()
    await source.close()


async def test_a_failed_shared_request_fails_every_reader_once(fake: FakeIndexer) -> None:
    source = IndexerPriceSource(fake.url, cache_seconds=60)
    fake.down(503)
    found = await asyncio.gather(*(source.markets() for _ in range(10)), return_exceptions=True)
    assert all(isinstance(e, VenueUnavailable) for e in found)
    assert fake.request_count("/v4/perpetualMarkets") == 1  # not one attempt per waiting reader
    fake.up()
    assert (await source.market("ETH-USD")).oracle_price == D("3000")  # the failure is not cached
    await source.close()


async def test_the_cache_expires(fake: FakeIndexer) -> None:
    short = IndexerPriceSource(fake.url, cache_seconds=0.2)
    await short.markets()
    fake.set_price("ETH-USD", D("3100"))
    await asyncio.sleep(0.25)
    assert (await short.market("ETH-USD")).oracle_price == D("3100")
    await short.close()


# -- indexer: failures -----------------------------------------------------------------
@pytest.mark.parametrize(
    ("fault", "reason"),
    [("refused", "unreachable"), ("reset", "unreachable"), (503, "HTTP 503"), (429, "HTTP 429")],
)
async def test_faults_raise_venue_unavailable_with_the_reason(
    fake: FakeIndexer, source: IndexerPriceSource, fault: str | int, reason: str
) -> None:
    await source.markets()
    assert source.describe().live
    fake.down(fault)
    with pytest.raises(VenueUnavailable, match=reason):
        await source.markets()
    status = source.describe()
    assert not status.live and reason in status.last_error and status.kind == "indexer"
    assert status.source == fake.url
    fake.up()
    await source.markets()
    assert source.describe().live and source.describe().last_error is None


async def test_a_slow_indexer_times_out(fake: FakeIndexer) -> None:
    impatient = IndexerPriceSource(fake.url, timeout=0.2, cache_seconds=0)
    fake.slow(1.0)
    with pytest.raises(VenueUnavailable, match="did not answer within 0.2s"):
        await impatient.markets()
    with pytest.raises(VenueUnavailable):
        await impatient.order_book("ETH-USD")
    fake.slow(0)
    await impatient.close()


async def test_nothing_answering_at_all() -> None:
    with FakeIndexer() as gone:
        url = gone.url
    nowhere = IndexerPriceSource(url, timeout=0.5)
    with pytest.raises(VenueUnavailable, match="unreachable"):
        await nowhere.market("ETH-USD")
    assert nowhere.describe().last_update is None and not nowhere.describe().live


@pytest.mark.parametrize("body", ["<html>oops</html>", '{"unexpected": true}', '{"markets": []}'])
async def test_nonsense_is_unavailable_not_a_crash(
    fake: FakeIndexer, source: IndexerPriceSource, body: str
) -> None:
    fake.register("GET", r"/v4/perpetualMarkets", lambda req: (200, body))
    with pytest.raises(VenueUnavailable):
        await source.markets()


async def test_lagging_indexer_serves_stale_prices(fake: FakeIndexer, source: IndexerPriceSource) -> None:
    fake.lag(30)
    fake.set_price("ETH-USD", D("3100"))
    assert (await source.market("ETH-USD")).oracle_price == D("3000")
    fake.lag(0)
    assert (await source.market("ETH-USD")).oracle_price == D("3100")


async def test_registered_routes_see_the_request(fake: FakeIndexer, source: IndexerPriceSource) -> None:
    seen: list[FakeRequest] = []

    def height(req: FakeRequest) -> tuple[int, object]:
        seen.append(req)
        return 200, {"height": req.match.group("h"), "time": "2024-01-01T00:00:00.000Z"}

    fake.register("GET", r"/v4/height/(?P<h>\d+)", height)
    client = source._client()
    response = await client.get(fake.url + "/v4/height/7?x=1")
    assert response.json()["height"] == "7" and seen[0].query == {"x": "1"}
    assert (await client.get(fake.url + "/v4/nothing")).status_code == 404


# -- synthetic -------------------------------------------------------------------------
async def prices_after(source: SyntheticPriceSource, steps: int) -> dict[str, D]:
    source.advance(steps)
    return {t: s.oracle_price for t, s in (await source.markets()).items()}


async def test_synthetic_is_deterministic_per_seed_and_step() -> None:
    a, b = SyntheticPriceSource(3, step_seconds=None), SyntheticPriceSource(3, step_seconds=None)
    walk_a = [await prices_after(a, 1) for _ in range(20)]
    assert await prices_after(b, 20) == walk_a[-1]  # however often it is read
    assert await prices_after(SyntheticPriceSource(4, step_seconds=None), 20) != walk_a[-1]
    assert len({p["BTC-USD"] for p in walk_a}) > 10  # it moves
    assert all(D("0.9") < p["ETH-USD"] / D("3000") < D("1.1") for p in walk_a)


async def test_synthetic_steps_follow_the_clock() -> None:
    now = [100.0]
    timed = SyntheticPriceSource(5, step_seconds=2.0, clock=lambda: now[0])
    manual = SyntheticPriceSource(5, step_seconds=None)
    first = (await timed.market("SOL-USD")).oracle_price
    now[0] += 9.0  # four whole steps
    manual.advance(4)
    assert (await timed.market("SOL-USD")).oracle_price == (await manual.market("SOL-USD")).oracle_price
    assert (await timed.market("SOL-USD")).oracle_price != first
    assert first == D("150")


async def test_synthetic_grid_and_manual_moves() -> None:
    source = SyntheticPriceSource(0, step_seconds=None)
    eth = await source.market("ETH-USD")
    assert (eth.step_size, eth.tick_size, eth.clob_pair_id, eth.status) == (D("0.001"), D("0.1"), 1, "ACTIVE")
    source.set_price("ETH-USD", D("2500"))
    assert (await source.market("ETH-USD")).oracle_price == D("2500")
    source.advance()
    assert (await source.market("ETH-USD")).oracle_price != D("2500")  # the walk continues from it
    assert await source.order_book("ETH-USD") is None
    with pytest.raises(UnknownMarket):
        source.set_price("NOPE-USD", D(1))


async def test_synthetic_outage_is_explicit() -> None:
    source = SyntheticPriceSource(0, step_seconds=None)
    source.fail("switched off for maintenance")
    with pytest.raises(VenueUnavailable, match="maintenance"):
        await source.markets()
    assert not source.describe().live and source.describe().kind == "synthetic"
    source.recover()
    await source.markets()
    status = source.describe()
    assert status.live and status.source == "synthetic(seed=0)" and status.last_update is not None


# -- configuration ---------------------------------------------------------------------
async def test_source_from_settings(fake: FakeIndexer) -> None:
    configured = price_source_from_settings()  # the tests configure "synthetic"
    assert isinstance(configured, SyntheticPriceSource) and configured is price_source_from_settings()
    assert price_source_from_settings("synthetic:42").seed == 42
    indexer = price_source_from_settings(fake.url)
    assert isinstance(indexer, IndexerPriceSource) and indexer.base_url == fake.url
    for bad in ("", "ftp://x", "synthetic:x", "indexer.dydx.trade"):
        with pytest.raises(ValueError):
            price_source_from_settings(bad)


async def test_an_unreachable_indexer_is_never_replaced_by_another_source(fake: FakeIndexer) -> None:
    url = fake.url + "/unreachable-variant"
    fake.down()
    source = price_source_from_settings(url)
    with pytest.raises(VenueUnavailable):
        await source.markets()
    assert price_source_from_settings(url) is source and source.describe().kind == "indexer"
    fake.up()
    await source.close()
