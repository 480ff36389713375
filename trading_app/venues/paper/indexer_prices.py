"""Market rules, oracle prices and order books read from a dYdX v4 indexer over HTTP.

One instance serves every paper user of a process: the markets response is cached briefly
(`PRICE_CACHE_SECONDS`) and concurrent readers share one request. Numbers are parsed as `Decimal`
from the JSON text itself, so no float ever touches a price.

Sharing is by one in-flight task per request, not by a lock: every reader waiting for it resumes in
the same turn of the event loop. A lock wakes its waiters one turn apart, which split the monitor's
coalesced account reads (`venues.paper.reads`, formed per turn) into dozens of small batches.
"""

from __future__ import annotations

import asyncio
import json
import logging
import time
import weakref
from collections.abc import Awaitable, Callable
from datetime import datetime
from decimal import Decimal, InvalidOperation
from typing import Any, TypeVar

import httpx

from trading_app.domain.clock import utcnow
from trading_app.venues.base import MarketSpec
from trading_app.venues.errors import UnknownMarket, VenueUnavailable
from trading_app.venues.paper.book import OrderBook, SourceStatus

log = logging.getLogger(__name__)

T = TypeVar("T")


def parse_market(ticker: str, raw: dict[str, Any]) -> MarketSpec:
    """Build a MarketSpec from one `/v4/perpetualMarkets` entry.

    Raises:
        ValueError: a required field is missing or not a number.
    """
    try:
        imf = raw.get("initialMarginFraction")
        return MarketSpec(
            ticker=ticker,
            status=str(raw["status"]),
            step_size=Decimal(str(raw["stepSize"])),
            tick_size=Decimal(str(raw["tickSize"])),
            oracle_price=Decimal(str(raw["oraclePrice"])),
            clob_pair_id=int(raw.get("clobPairId", 0)),
            atomic_resolution=int(raw.get("atomicResolution", 0)),
            step_base_quantums=int(raw.get("stepBaseQuantums", 0)),
            subticks_per_tick=int(raw.get("subticksPerTick", 0)),
            quantum_conversion_exponent=int(raw.get("quantumConversionExponent", 0)),
            initial_margin_fraction=Decimal(str(imf)) if imf is not None else None,
        )
    except (KeyError, TypeError, ValueError, InvalidOperation) as e:
        raise ValueError(f"market {ticker}: {type(e).__name__} {e}") from None


def parse_book(ticker: str, raw: dict[str, Any]) -> OrderBook:
    """Build an OrderBook from `/v4/orderbooks/perpetualMarket/{ticker}`, best level first."""

    def levels(key: str) -> list[tuple[Decimal, Decimal]]:
        return [(Decimal(str(lv["price"])), Decimal(str(lv["size"]))) for lv in raw.get(key) or []]

    try:
        bids = sorted(levels("bids"), key=lambda lv: lv[0], reverse=True)
        asks = sorted(levels("asks"), key=lambda lv: lv[0])
    except (KeyError, TypeError, InvalidOperation) as e:
        raise ValueError(f"order book {ticker}: {type(e).__name__}") from None
    return OrderBook(ticker, tuple(lv for lv in bids if lv[1] > 0), tuple(lv for lv in asks if lv[1] > 0))


class IndexerPriceSource:
    """Prices from an indexer (`GET /v4/perpetualMarkets`, `GET /v4/orderbooks/perpetualMarket/{t}`).

    When the indexer cannot be reached every call raises `VenueUnavailable` with the reason; the
    paper venue then refuses orders with that reason. It never falls back to another source.

    Args:
        base_url: the indexer root, e.g. "https://indexer.dydx.trade".
        timeout: seconds for connect, read and write of every request.
        cache_seconds: how long one markets/book response is reused (0 disables the cache).
        use_order_book: fill market orders against the book (walking levels) instead of the oracle.
    """

    kind = "indexer"

    def __init__(
        self, base_url: str, *, timeout: float = 3.0, cache_seconds: float = 1.5, use_order_book: bool = True
    ) -> None:
        self.base_url = base_url.rstrip("/")
        self.timeout = timeout
        self.cache_seconds = cache_seconds
        self.use_order_book = use_order_book
        self._markets: tuple[float, dict[str, MarketSpec]] | None = None
        self._books: dict[str, tuple[float, OrderBook]] = {}
        # an httpx client and an asyncio lock belong to one event loop; keep one of each per loop
        self._clients: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, httpx.AsyncClient] = (
            weakref.WeakKeyDictionary()
        )
        # the request in flight per path, per loop: concurrent readers await the same task
        self._flights: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, dict[str, asyncio.Task[Any]]] = (
            weakref.WeakKeyDictionary()
        )
        self._last_update: datetime | None = None
        self._last_error: str | None = None

    def _client(self) -> httpx.AsyncClient:
        loop = asyncio.get_running_loop()
        client = self._clients.get(loop)
        if client is None or client.is_closed:
            client = httpx.AsyncClient(
                timeout=httpx.Timeout(self.timeout), headers={"Accept": "application/json"}
            )
            self._clients[loop] = client
        return client

    async def _shared(self, key: str, fetch: Callable[[], Awaitable[T]]) -> T:
        """`fetch()` once for every concurrent caller with the same `key`: all get its result (or
        its error) in the same turn of the loop. A caller that is cancelled does not cancel it."""
        loop = asyncio.get_running_loop()
        flights = self._flights.setdefault(loop, {})
        task = flights.get(key)
        if task is None:

            async def run() -> T:
                return await fetch()

            task = flights[key] = loop.create_task(run())

            def done(t: asyncio.Task[Any]) -> None:
                if flights.get(key) is t:
                    del flights[key]
                if not t.cancelled():
                    t.exception()  # retrieved: every caller may have gone meanwhile

            task.add_done_callback(done)
        return await asyncio.shield(task)

    def _fresh(self, stamp: float) -> bool:
        return self.cache_seconds > 0 and time.monotonic() - stamp < self.cache_seconds

    def _fail(self, reason: str) -> VenueUnavailable:
        self._last_error = reason
        log.warning("paper price source: %s", reason)
        return VenueUnavailable(reason)

    async def _get(self, path: str) -> tuple[int, Any]:
        url = self.base_url + path
        try:
            response = await self._client().get(url)
        except httpx.TimeoutException:
            raise self._fail(
                f"price source {self.base_url} did not answer within {self.timeout:g}s"
            ) from None
        except httpx.HTTPError as e:
            raise self._fail(f"price source {self.base_url} unreachable ({type(e).__name__})") from None
        if response.status_code == 404:
            return 404, None
        if response.status_code != 200:
            raise self._fail(f"price source {self.base_url} answered HTTP {response.status_code} for {path}")
        try:
            # parse_float=Decimal: even a bare JSON number keeps its exact digits
            return 200, json.loads(response.content, parse_float=Decimal)
        except ValueError:
            raise self._fail(f"price source {self.base_url} sent malformed JSON for {path}") from None

    async def markets(self) -> dict[str, MarketSpec]:
        """Every market by ticker, from cache when fresh.

        Raises:
            VenueUnavailable: the indexer is down, slow, erroring or answering nonsense.
        """
        cached = self._markets
        if cached and self._fresh(cached[0]):
            return cached[1]
        return await self._shared("markets", self._read_markets)  # one request; the others share it

    async def _read_markets(self) -> dict[str, MarketSpec]:
        status, body = await self._get("/v4/perpetualMarkets")
        if status != 200 or not isinstance(body, dict) or not isinstance(body.get("markets"), dict):
            raise self._fail(f"price source {self.base_url} sent no markets")
        specs: dict[str, MarketSpec] = {}
        for ticker, raw in body["markets"].items():
            try:
                specs[ticker] = parse_market(ticker, raw)
            except ValueError as e:  # one odd market must not hide the others
                log.warning("paper price source: skipping %s", e)
        self._markets = (time.monotonic(), specs)
        self._last_update, self._last_error = utcnow(), None
        return specs

    async def market(self, ticker: str) -> MarketSpec:
        """One market. Raises UnknownMarket or VenueUnavailable."""
        spec = (await self.markets()).get(ticker)
        if spec is None:
            raise UnknownMarket(f"unknown market {ticker}")
        return spec

    async def order_book(self, ticker: str) -> OrderBook | None:
        """The market's book, or None when this source fills at the oracle price.

        Raises:
            UnknownMarket: the indexer has no book for `ticker`.
            VenueUnavailable: the indexer cannot be read.
        """
        if not self.use_order_book:
            return None
        cached = self._books.get(ticker)
        if cached and self._fresh(cached[0]):
            return cached[1]
        # every account whose stop fires wants this book at once: one request for all of them
        return await self._shared(f"book:{ticker}", lambda: self._read_book(ticker))

    async def _read_book(self, ticker: str) -> OrderBook:
        status, body = await self._get(f"/v4/orderbooks/perpetualMarket/{ticker}")
        if status == 404:
            raise UnknownMarket(f"unknown market {ticker}")
        try:
            book = parse_book(ticker, body if isinstance(body, dict) else {})
        except ValueError as e:
            raise self._fail(f"price source {self.base_url} sent a malformed book: {e}") from None
        self._books[ticker] = (time.monotonic(), book)
        self._last_update, self._last_error = utcnow(), None
        return book

    def invalidate(self) -> None:
        """Forget cached responses: the next read goes to the indexer."""
        self._markets = None
        self._books.clear()

    def describe(self) -> SourceStatus:
        return SourceStatus(
            self.kind,
            self.base_url,
            self._last_error is None and self._last_update is not None,
            self._last_update,
            self._last_error,
        )

    async def close(self) -> None:
        """Close this event loop's HTTP client. Safe to call more than once."""
        loop = asyncio.get_running_loop()
        client = self._clients.pop(loop, None)
        if client is not None:
            await client.aclose()
