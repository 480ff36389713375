"""Venue errors: retryable (temporary) versus permanent, like freqtrade's split."""

from __future__ import annotations


class VenueError(Exception):
    """Base class of every venue failure."""


class VenueTemporaryError(VenueError):
    """A transport failure or timeout: the same request may be resent unchanged."""


class VenueUnavailable(VenueTemporaryError):
    """The venue or its price source cannot be reached; orders are refused with this reason."""


class RateLimited(VenueTemporaryError):
    """The venue asked us to slow down (dYdX clob 5001, HTTP 429)."""


class SequenceMismatch(VenueTemporaryError):
    """The signer's sequence was stale (sdk 32); resync and resend."""

    def __init__(self, message: str, expected: int | None = None) -> None:
        super().__init__(message)
        self.expected = expected


class OrderRejected(VenueError):
    """The venue refused the order for good (invalid, undercollateralised, ...)."""

    def __init__(self, message: str, code: int = 0, codespace: str = "") -> None:
        super().__init__(message)
        self.code = code
        self.codespace = codespace


class UnknownMarket(OrderRejected):
    """The venue lists no such market."""


class OrderNotFound(VenueError):
    """The venue does not know the order."""
