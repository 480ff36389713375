"""Enumerations shared by every layer. Values are what the database stores."""

from __future__ import annotations

from enum import StrEnum


class Network(StrEnum):
    """Where a user's orders go."""

    PAPER = "paper"
    TESTNET = "testnet"
    MAINNET = "mainnet"


class CredentialKind(StrEnum):
    """How the service signs dYdX transactions for a user."""

    NONE = "none"
    API_KEY = "api_key"  # permissioned trading key (authenticator): can trade, never withdraw
    MNEMONIC = "mnemonic"


class Side(StrEnum):
    """Side of an order."""

    BUY = "BUY"
    SELL = "SELL"

    @property
    def opposite(self) -> Side:
        return Side.SELL if self is Side.BUY else Side.BUY


class PositionSide(StrEnum):
    """Direction of a position."""

    LONG = "LONG"
    SHORT = "SHORT"

    @property
    def entry_side(self) -> Side:
        """The order side that opens this position."""
        return Side.BUY if self is PositionSide.LONG else Side.SELL

    @property
    def exit_side(self) -> Side:
        """The order side that reduces or closes this position."""
        return self.entry_side.opposite

    @property
    def opposite(self) -> PositionSide:
        return PositionSide.SHORT if self is PositionSide.LONG else PositionSide.LONG


class SignalAction(StrEnum):
    """What an alert asks for, normalised (buy == long, sell == short, flat == close)."""

    LONG = "long"
    SHORT = "short"
    CLOSE = "close"
    REVERSE = "reverse"


class SignalStatus(StrEnum):
    """Lifecycle of an alert in the inbox."""

    ACCEPTED = "ACCEPTED"
    EXECUTING = "EXECUTING"
    EXECUTED = "EXECUTED"
    REJECTED = "REJECTED"
    FAILED = "FAILED"
    CANCELLED = "CANCELLED"  # its resting limit entry was cancelled (or expired) before it filled


class PositionStatus(StrEnum):
    """Lifecycle of a managed position."""

    OPENING = "OPENING"
    OPEN = "OPEN"
    CLOSING = "CLOSING"
    CLOSED = "CLOSED"
    FAILED = "FAILED"  # the entry never filled: the venue refused it, or a market entry found no liquidity
    CANCELLED = "CANCELLED"  # a resting limit entry cancelled (trader, alert, venue) or expired unfilled
    FAILED_PROTECTION = "FAILED_PROTECTION"  # protection could not be placed: being flattened


class OrderStatus(StrEnum):
    """Lifecycle of a venue order, normalised across venues."""

    PENDING = "PENDING"
    OPEN = "OPEN"
    UNTRIGGERED = "UNTRIGGERED"
    PARTIALLY_FILLED = "PARTIALLY_FILLED"
    FILLED = "FILLED"
    CANCELED = "CANCELED"
    REJECTED = "REJECTED"
    EXPIRED = "EXPIRED"


class OrderRole(StrEnum):
    """Why we placed an order. Part of the client id derivation."""

    ENTRY = "ENTRY"
    STOP_LOSS = "STOP_LOSS"
    TAKE_PROFIT = "TAKE_PROFIT"
    CLOSE = "CLOSE"


class OrderType(StrEnum):
    """How an order executes on the venue."""

    MARKET = "MARKET"  # IOC limit bounded by a worst price
    LIMIT = "LIMIT"
    STOP_MARKET = "STOP_MARKET"  # conditional, reduce-only, IOC after trigger
    TAKE_PROFIT_MARKET = "TAKE_PROFIT_MARKET"


class SizeMode(StrEnum):
    """How a position size is chosen when the alert does not say."""

    FIXED = "size"  # base units, e.g. 0.01 BTC
    USD = "size_usd"  # notional in USD
    EQUITY_PCT = "equity_pct"  # percent of account equity as notional
    RISK_PCT = "risk_pct"  # percent of equity lost if the stop is hit


class CloseReason(StrEnum):
    """Why a position was closed."""

    TAKE_PROFIT = "TAKE_PROFIT"
    STOP_LOSS = "STOP_LOSS"
    MANUAL = "MANUAL"
    SIGNAL = "SIGNAL"
    REVERSED = "REVERSED"
    EXTERNAL = "EXTERNAL"  # closed on the venue by hand
    LIQUIDATED = "LIQUIDATED"
    PROTECTION_FAILED = "PROTECTION_FAILED"
    EXPIRED = "EXPIRED"  # a resting limit entry's good-til passed before it filled (never a close)
