"""Which venue a user trades on, built on demand: the only place dYdX credentials are opened.

A venue is cached per (user, network) within an event loop, because a dYdX signer carries
the local sequence and the per-signer lock that keep stateful orders in order. Changing a
user's credentials or network calls `forget(user)`, so the next call builds afresh.
"""

from __future__ import annotations

import asyncio
import weakref

from trading_app.domain.enums import CredentialKind, Network
from trading_app.venues.base import Venue
from trading_app.venues.errors import VenueError

_cache: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, dict[tuple[str, str], Venue]] = (
    weakref.WeakKeyDictionary()
)


class VenueNotConfigured(VenueError):
    """The user chose dYdX but has not saved credentials for it."""


def _loop_cache() -> dict[tuple[str, str], Venue]:
    return _cache.setdefault(asyncio.get_running_loop(), {})


async def venue_for(user_address: str, network: Network | str) -> Venue:
    """Return the user's venue on `network`, building it on first use.

    Raises:
        VenueNotConfigured: testnet or mainnet without saved dYdX credentials.
    """
    network = Network(network)
    key = (user_address, network.value)
    cache = _loop_cache()
    venue = cache.get(key)
    if venue is None:
        venue = await _build(user_address, network)
        cache[key] = venue
    return venue


async def _build(user_address: str, network: Network) -> Venue:
    if network is Network.PAPER:
        from trading_app.venues.paper.prices import price_source_from_settings
        from trading_app.venues.paper.venue import PaperVenue

        return PaperVenue(user_address, price_source_from_settings())

    from trading_app.services.accounts.credentials import open_dydx_credentials
    from trading_app.venues.dydx.client import endpoints_for
    from trading_app.venues.dydx.signer import Signer
    from trading_app.venues.dydx.venue import DydxVenue

    credentials = await open_dydx_credentials(user_address)
    if credentials is None:
        raise VenueNotConfigured(f"no dYdX credentials saved for {network.value}: add them in Settings")
    if credentials.kind is CredentialKind.API_KEY:
        signer = Signer.from_api_key(
            credentials.private_key or "", credentials.owner_address, credentials.authenticator_id or 0
        )
    else:
        signer = Signer.from_mnemonic(credentials.mnemonic or "")
    del credentials  # the signer holds the key; the plaintext document goes now
    return DydxVenue(network, signer.owner_address, 0, signer, endpoints_for(network))


async def forget(user_address: str) -> None:
    """Drop the user's cached venues (after a credentials or network change)."""
    cache = _loop_cache()
    for key in [k for k in cache if k[0] == user_address]:
        venue = cache.pop(key)
        await venue.close()
