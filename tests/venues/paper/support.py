"""Fixtures and drivers shared by the paper venue's tests (imported by tests/venues/test_paper.py too)."""

from __future__ import annotations

import asyncio
import secrets
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from decimal import Decimal

import pytest

from tests.fakes.dydx_protection import StoplessMoment
from tests.fakes.indexer import FakeIndexer
from tests.venues.paper.protection import PaperStopWatch
from trading_app.db.engine import dispose_engines, session_scope
from trading_app.db.models import User
from trading_app.services.security.secrets import seal
from trading_app.venues.paper import IndexerPriceSource, PaperVenue, PriceSource, SyntheticPriceSource

TICKER, OTHER = "ETH-USD", "BTC-USD"


async def make_user() -> str:
    """Insert a user (a paper account belongs to one) and return its address."""
    address = "0x" + secrets.token_hex(20)
    async with session_scope() as session:
        session.add(
            User(
                address=address,
                webhook_uuid=str(uuid.uuid4()),
                webhook_secret_enc=seal(address, "webhook_secret_enc", secrets.token_urlsafe(24)),
            )
        )
    return address


class PaperWitness:
    """The contract's budget and stop witness on paper: no stateful-order limits; stop-less samples
    from the paper tables (tests/venues/paper/protection.py)."""

    stateful_limits: tuple[tuple[int, int], ...] | None = None
    exact_budget = False
    _watch: PaperStopWatch | None = None

    async def watch_stops(self, venue: PaperVenue, ticker: str) -> None:
        self._watch = PaperStopWatch()
        await self._watch.sample(venue.user, ticker)

    async def stopless_moments(self, venue: PaperVenue, ticker: str) -> list[StoplessMoment]:
        assert self._watch is not None, "watch_stops first"
        return await self._watch.sample(venue.user, ticker)


class IndexerDriver(PaperWitness):
    """Moves the market through a FakeIndexer; `down()` closes its socket (connection refused)."""

    ticker, other_ticker = TICKER, OTHER

    def __init__(self, fake: FakeIndexer) -> None:
        self.fake = fake

    async def price(self) -> Decimal:
        return self.fake.price(self.ticker)

    async def set_price(self, price: Decimal) -> None:
        self.fake.set_price(self.ticker, price)

    async def settle(self) -> None:
        """The paper venue acts inside every read: nothing to wait for."""

    async def down(self) -> None:
        await asyncio.to_thread(self.fake.down)

    async def up(self) -> None:
        await asyncio.to_thread(self.fake.up)


class SyntheticDriver(PaperWitness):
    """Moves the market of a frozen SyntheticPriceSource; `down()` simulates its outage."""

    ticker, other_ticker = TICKER, OTHER

    def __init__(self, source: SyntheticPriceSource) -> None:
        self.source = source

    async def price(self) -> Decimal:
        return (await self.source.market(self.ticker)).oracle_price

    async def set_price(self, price: Decimal) -> None:
        self.source.set_price(self.ticker, price)

    async def settle(self) -> None:
        """Nothing to wait for."""

    async def down(self) -> None:
        self.source.fail("synthetic outage for the test")

    async def up(self) -> None:
        self.source.recover()


@asynccontextmanager
async def open_paper_market(kind: str) -> AsyncIterator[tuple[PriceSource, IndexerDriver | SyntheticDriver]]:
    """(price source, market driver) of `kind`: "indexer" is a FakeIndexer behind an uncached
    IndexerPriceSource, "synthetic" a seeded walk frozen in time."""
    if kind == "synthetic":
        source = SyntheticPriceSource(seed=7, step_seconds=None)
        yield source, SyntheticDriver(source)
        return
    with FakeIndexer() as fake:
        source = IndexerPriceSource(fake.url, timeout=1.0, cache_seconds=0)
        try:
            yield source, IndexerDriver(fake)
        finally:
            await source.close()


@asynccontextmanager
async def paper_venues(source: PriceSource) -> AsyncIterator[Callable[[], Awaitable[PaperVenue]]]:
    """A factory of paper venues of one fresh user (on the database the settings point at)."""
    user = await make_user()
    made: list[PaperVenue] = []

    async def factory() -> PaperVenue:
        venue = PaperVenue(user, source)
        made.append(venue)
        return venue

    try:
        yield factory
    finally:
        for venue in made:
            await venue.close()
        await dispose_engines()  # close pooled connections on this test's loop, before it ends


@pytest.fixture
async def indexer_market(db_url: str) -> AsyncIterator[tuple[IndexerPriceSource, IndexerDriver]]:
    """An uncached IndexerPriceSource on a FakeIndexer, on both databases."""
    async with open_paper_market("indexer") as (source, driver):
        yield source, driver  # type: ignore[misc]
    await dispose_engines()
