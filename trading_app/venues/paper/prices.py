"""Where the paper venue's prices come from: the `PriceSource` protocol and the configured source.

Two implementations: `IndexerPriceSource` (a dYdX indexer, the default: real mainnet prices) and
`SyntheticPriceSource` (a seeded random walk for offline use). The configured one is chosen once
from `settings.paper_price_source` and never swapped behind the trader's back: when it fails,
orders are refused with its reason, and `describe()` tells the UI which source is live.
"""

from __future__ import annotations

from typing import Protocol, runtime_checkable

from trading_app.domain.numbers import ascii_int
from trading_app.settings import get_settings
from trading_app.venues.base import MarketSpec
from trading_app.venues.paper.book import Level, OrderBook, SourceStatus
from trading_app.venues.paper.indexer_prices import IndexerPriceSource, parse_book, parse_market
from trading_app.venues.paper.synthetic import SYNTHETIC_MARKETS, SyntheticPriceSource

__all__ = [
    "SYNTHETIC_MARKETS",
    "IndexerPriceSource",
    "Level",
    "OrderBook",
    "PriceSource",
    "SourceStatus",
    "SyntheticPriceSource",
    "parse_book",
    "parse_market",
    "price_source_from_settings",
]


@runtime_checkable
class PriceSource(Protocol):
    """Market rules, oracle prices and (optionally) an order book.

    Every method raises `VenueUnavailable` when the source cannot be read and `UnknownMarket`
    for a ticker it does not list.
    """

    kind: str

    async def markets(self) -> dict[str, MarketSpec]:
        """Every market by ticker."""
        ...

    async def market(self, ticker: str) -> MarketSpec:
        """One market."""
        ...

    async def order_book(self, ticker: str) -> OrderBook | None:
        """The book to fill market orders against, or None to fill at the oracle price."""
        ...

    def describe(self) -> SourceStatus:
        """Which source this is, whether it is live, and when it last answered."""
        ...

    async def close(self) -> None:
        """Release connections."""
        ...


_sources: dict[str, PriceSource] = {}


def price_source_from_settings(value: str | None = None) -> PriceSource:
    """The process-wide price source for `settings.paper_price_source` (or `value`).

    Accepted values: "synthetic", "synthetic:<seed>", or an indexer URL (http:// or https://).
    One instance per value, shared by every paper user of the process.

    Raises:
        ValueError: the value is neither.
    """
    value = (value if value is not None else get_settings().paper_price_source).strip()
    source = _sources.get(value)
    if source is None:
        if value == "synthetic" or value.startswith("synthetic:"):
            seed = ascii_int(value.partition(":")[2] or "0", 0, None)
            if seed is None:
                raise ValueError(f"PAPER_PRICE_SOURCE: seed must be a number in {value!r}")
            source = SyntheticPriceSource(seed)
        elif value.startswith(("http://", "https://")):
            source = IndexerPriceSource(value, cache_seconds=get_settings().price_cache_seconds)
        else:
            raise ValueError(f"PAPER_PRICE_SOURCE must be 'synthetic' or an indexer URL, not {value!r}")
        _sources[value] = source
    return source
