"""The market hook: the paper list by default (a real indexer protocol, served by the fake indexer),
cached and shared; failures and slowness answer "cannot tell", never an exception."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Iterator

import pytest

from tests.conftest import reset_app_caches
from tests.fakes.indexer import FakeIndexer, default_markets
from trading_app.services.intake import market_check
from trading_app.services.intake.market_check import (
    CHECK_TIMEOUT,
    LIST_TTL,
    MISS_TTL,
    RETRY_AFTER_FAILURE,
    PaperMarketList,
    market_exists,
    set_market_checker,
)
from trading_app.venues.paper.prices import price_source_from_settings


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def indexer(monkeypatch: pytest.MonkeyPatch) -> Iterator[FakeIndexer]:
    with FakeIndexer() as fake:
        monkeypatch.setenv("PAPER_PRICE_SOURCE", fake.url)
        reset_app_caches()
        price_source_from_settings(fake.url).cache_seconds = 0  # every fetch reaches the fake
        yield fake
    reset_app_caches()


@pytest.fixture
def paper_list() -> Iterator[tuple[PaperMarketList, Clock]]:
    clock = Clock()
    markets = PaperMarketList(clock)
    set_market_checker(markets.contains)
    yield markets, clock
    set_market_checker(None)


async def test_the_default_checker_reads_the_configured_synthetic_list() -> None:
    assert await market_exists("0xabc", "BTC-USD") is True
    assert await market_exists("0xabc", "NOSUCHCOIN-USD") is False


async def test_concurrent_misses_share_one_fetch_and_answers_are_cached(
    indexer: FakeIndexer, paper_list: tuple[PaperMarketList, Clock]
) -> None:
    _, clock = paper_list
    answers = await asyncio.gather(*(market_exists("0xabc", t) for t in ["BTC-USD", "DOGE-USD"] * 10))
    assert answers == [True, False] * 10
    assert indexer.request_count("/v4/perpetualMarkets") == 1
    indexer.add_market("DOGE-USD", {**default_markets()["SOL-USD"], "ticker": "DOGE-USD", "clobPairId": "9"})
    assert await market_exists("0xabc", "DOGE-USD") is False  # a miss is trusted for a while
    clock.now += MISS_TTL + 1
    assert await market_exists("0xabc", "DOGE-USD") is True  # ...then a miss fetches again
    assert await market_exists("0xabc", "BTC-USD") is True
    assert indexer.request_count("/v4/perpetualMarkets") == 2
    clock.now += LIST_TTL - 1
    assert await market_exists("0xabc", "ETH-USD") is True
    assert indexer.request_count("/v4/perpetualMarkets") == 2


async def test_an_unavailable_list_never_denies_and_is_not_hammered(
    indexer: FakeIndexer, paper_list: tuple[PaperMarketList, Clock]
) -> None:
    _, clock = paper_list
    indexer.down(503)
    assert await market_exists("0xabc", "BTC-USD") is None
    assert await market_exists("0xabc", "NOSUCHCOIN-USD") is None
    assert indexer.request_count("/v4/perpetualMarkets") == 1  # failures wait before the next try
    indexer.up()
    clock.now += RETRY_AFTER_FAILURE + 1
    assert await market_exists("0xabc", "BTC-USD") is True
    # when a refresh fails, the old list can still confirm a market but never deny one
    indexer.down("refused")
    clock.now += LIST_TTL + 1
    assert await market_exists("0xabc", "BTC-USD") is True
    assert await market_exists("0xabc", "NOSUCHCOIN-USD") is None
    assert indexer.request_count("/v4/perpetualMarkets") == 2


async def test_a_slow_list_answers_none_within_the_timeout(
    indexer: FakeIndexer, paper_list: tuple[PaperMarketList, Clock]
) -> None:
    indexer.slow(CHECK_TIMEOUT + 3)
    start = time.monotonic()
    assert await market_exists("0xabc", "BTC-USD") is None
    assert time.monotonic() - start < CHECK_TIMEOUT + 1


async def test_a_custom_checker_decides_and_its_failures_mean_cannot_tell() -> None:
    seen = []

    async def venue_says(address: str, ticker: str) -> bool | None:
        seen.append((address, ticker))
        if ticker == "ERR-USD":
            raise RuntimeError("venue factory broke")
        return ticker != "GONE-USD"

    set_market_checker(venue_says)
    try:
        assert await market_exists("0xabc", "GONE-USD") is False
        assert await market_exists("0xdef", "ETH-USD") is True
        assert await market_exists("0xabc", "ERR-USD") is None
    finally:
        set_market_checker(None)
    assert seen[:2] == [("0xabc", "GONE-USD"), ("0xdef", "ETH-USD")]
    assert market_check._checker is None
