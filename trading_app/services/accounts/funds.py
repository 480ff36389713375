"""The trader's money on their current venue: equity, free collateral and the margin in use.

The dashboard shows these next to the PnL cards: `risk_pct` and `equity_pct` sizing use this
equity (a paper account starts at $10,000), so the trader must be able to see it. Read from the
venue of the account's current network (paper, testnet or mainnet), scoped to the one trader.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from decimal import Decimal

from trading_app.db.engine import session_scope
from trading_app.db.models import TradingAccount
from trading_app.domain.enums import Network
from trading_app.services.accounts.venues import VenueNotConfigured, venue_for
from trading_app.venues.errors import VenueError

log = logging.getLogger(__name__)

__all__ = ["Funds", "FundsUnavailable", "account_funds"]

_HUNDRED = Decimal(100)


@dataclass(frozen=True)
class Funds:
    """One read of the account on `network`.

    Attributes:
        equity: Collateral plus unrealized PnL, in USD.
        free_collateral: What is left for new positions after their initial margin.
    """

    network: str
    equity: Decimal
    free_collateral: Decimal

    @property
    def margin_used(self) -> Decimal:
        """Equity held as initial margin by the open positions (never below zero)."""
        return max(self.equity - self.free_collateral, Decimal(0))

    @property
    def margin_use_pct(self) -> Decimal | None:
        """Margin in use as a percent of equity; None when there is no equity to divide by."""
        if self.equity <= 0:
            return None
        return self.margin_used / self.equity * _HUNDRED


class FundsUnavailable(Exception):
    """The venue could not say; the message is plain words for the trader (no secret in it)."""

    def __init__(self, network: str, message: str) -> None:
        super().__init__(message)
        self.network = network


async def account_funds(user: str) -> Funds:
    """Equity, free collateral and margin use of `user` on the network they trade on now.

    Raises:
        FundsUnavailable: no dYdX key saved for that network, or the venue did not answer.
    """
    async with session_scope() as session:
        account = await session.get(TradingAccount, user)
    network = account.network if account is not None else Network.PAPER.value
    version = account.venue_version if account is not None else None
    try:
        venue = await venue_for(user, network, version=version)
        snapshot = await venue.account()
    except VenueNotConfigured:
        raise FundsUnavailable(network, f"No dYdX key saved for {network}: add one in Settings.") from None
    except VenueError as e:
        log.info("account read for %s on %s failed: %s", user, network, type(e).__name__)
        raise FundsUnavailable(
            network,
            f"The {network} venue did not answer ({type(e).__name__}); retrying with the next refresh.",
        ) from None
    return Funds(network=network, equity=snapshot.equity, free_collateral=snapshot.free_collateral)
