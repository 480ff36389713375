"""The paper venue: a simulated dYdX account with real prices (or a seeded walk), books in the database."""

from trading_app.venues.paper.prices import (
    IndexerPriceSource,
    OrderBook,
    PriceSource,
    SourceStatus,
    SyntheticPriceSource,
    price_source_from_settings,
)
from trading_app.venues.paper.venue import PaperVenue

__all__ = [
    "IndexerPriceSource",
    "OrderBook",
    "PaperVenue",
    "PriceSource",
    "SourceStatus",
    "SyntheticPriceSource",
    "price_source_from_settings",
]
