"""Which venue a user trades on, built on demand: the only place dYdX credentials are opened.

A venue is cached per (user, network) within an event loop, because a dYdX signer carries
the local sequence and the per-signer lock that keep stateful orders in order. Each worker
(process, loop) has its own cache, so a change of credentials, network or subaccount cannot be
pushed into them: it bumps `trading_accounts.venue_version` instead, and `venue_for` rebuilds a
cached dYdX venue whose version is older than the account's at the moment it is used. The old
venue is closed once calls still running on it have had time to end.

Paper venues hold no credential (their books live in the database) and are never rebuilt.
"""

from __future__ import annotations

import asyncio
import logging
import weakref
from dataclasses import dataclass

from trading_app.domain.enums import CredentialKind, Network
from trading_app.services.accounts.account import current_venue_version
from trading_app.settings import get_settings
from trading_app.venues.base import Venue
from trading_app.venues.errors import VenueError
from trading_app.venues.paper.prices import PriceSource, price_source_from_settings

log = logging.getLogger(__name__)

# an old venue may still be in use by a call that took it just before the change (an order
# being placed, a monitor read); its channel is closed only after this, well past the node
# deadline and resends
RETIRE_AFTER_SECONDS = 120.0


class VenueNotConfigured(VenueError):
    """The user chose dYdX but has not saved credentials for it."""


@dataclass
class _LoopState:
    venues: dict[tuple[str, str], Venue]
    versions: dict[tuple[str, str], int]  # the venue_version each dYdX venue was built from
    locks: dict[tuple[str, str], asyncio.Lock]
    retiring: dict[Venue, str]  # old venue -> its user, until it is closed
    tasks: set[asyncio.Task]


_state: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, _LoopState] = weakref.WeakKeyDictionary()


def _loop_state() -> _LoopState:
    loop = asyncio.get_running_loop()
    state = _state.get(loop)
    if state is None:
        state = _state[loop] = _LoopState({}, {}, {}, {}, set())
    return state


def _loop_cache() -> dict[tuple[str, str], Venue]:
    """This loop's venues by (user, network); tests put their own paper venues in it."""
    return _loop_state().venues


async def venue_for(user_address: str, network: Network | str, *, version: int | None = None) -> Venue:
    """Return the user's venue on `network`, building it on first use or when it is stale.

    Args:
        user_address: The trader.
        network: Paper, testnet or mainnet.
        version: The account's `venue_version` as the caller read it with the row it acts on
            (e.g. the `TradingAccount` read when a signal is claimed). When omitted it is read
            now, one primary-key SELECT; paper venues need neither.

    Raises:
        VenueNotConfigured: testnet or mainnet without saved dYdX credentials.
    """
    network = Network(network)
    key = (user_address, network.value)
    state = _loop_state()
    if network is Network.PAPER:
        if key not in state.venues:
            state.venues[key] = _paper(user_address)
        return state.venues[key]
    if version is None:
        version = await current_venue_version(user_address)
    fresh = state.venues.get(key) if state.versions.get(key, 0) >= version else None
    if fresh is not None:
        return fresh
    async with state.locks.setdefault(key, asyncio.Lock()):  # concurrent callers build once
        cached = state.venues.get(key)
        if cached is not None and state.versions.get(key, 0) >= version:
            return cached
        if cached is not None:
            del state.venues[key]  # stale: never served again, even if the rebuild fails
            _retire(state, cached, user_address)
        venue, built_version = await _build_dydx(user_address, network)
        state.venues[key], state.versions[key] = venue, built_version
        return venue


def _paper(user_address: str) -> Venue:
    from trading_app.venues.paper.prices import price_source_from_settings
    from trading_app.venues.paper.venue import PaperVenue

    return PaperVenue(user_address, price_source_from_settings())


async def _build_dydx(user_address: str, network: Network) -> tuple[Venue, int]:
    """A dYdX venue and the `venue_version` its credentials were read with (one statement)."""
    from trading_app.services.accounts.credentials import open_venue_credentials
    from trading_app.venues.dydx.client import endpoints_for
    from trading_app.venues.dydx.signer import Signer
    from trading_app.venues.dydx.venue import DydxVenue

    saved = await open_venue_credentials(user_address)
    credentials = saved.credentials
    if credentials is None:
        raise VenueNotConfigured(f"no dYdX credentials saved for {network.value}: add them in Settings")
    if credentials.kind is CredentialKind.API_KEY:
        signer = Signer.from_api_key(
            credentials.private_key or "", credentials.owner_address, credentials.authenticator_id or 0
        )
    else:
        signer = Signer.from_mnemonic(credentials.mnemonic or "")
    del credentials  # the signer holds the key; the plaintext document goes now
    venue = DydxVenue(network, signer.owner_address, saved.subaccount, signer, endpoints_for(network))
    return venue, saved.venue_version


def _retire(state: _LoopState, venue: Venue, user_address: str) -> None:
    """Close `venue` after RETIRE_AFTER_SECONDS (or at `forget`), whichever comes first."""
    state.retiring[venue] = user_address

    def close_now() -> None:
        if state.retiring.pop(venue, None) is not None:
            task = asyncio.get_running_loop().create_task(_close(venue))
            state.tasks.add(task)
            task.add_done_callback(state.tasks.discard)

    asyncio.get_running_loop().call_later(RETIRE_AFTER_SECONDS, close_now)


async def _close(venue: Venue) -> None:
    try:
        await venue.close()
    except Exception as e:  # noqa: BLE001 - a failed close of an old venue must not stop anything
        log.warning("closing a replaced venue failed: %s", type(e).__name__)


async def forget(user_address: str) -> None:
    """Close the user's cached venues in this loop now, replaced ones included (tests, shutdown)."""
    state = _loop_state()
    for key in [k for k in state.venues if k[0] == user_address]:
        state.versions.pop(key, None)
        await state.venues.pop(key).close()
    for venue in [v for v, user in state.retiring.items() if user == user_address]:
        del state.retiring[venue]
        await _close(venue)

def market_source(network: Network | str) -> str:
    """Where the markets and oracle prices of `network` are read: the `PAPER_PRICE_SOURCE` value for
    paper, the network's indexer URL for dYdX (public data: no credentials are opened).

    Raises:
        ValueError: Not a network.
    """
    network = Network(network)
    if network is Network.PAPER:
        return get_settings().paper_price_source
    from trading_app.venues.dydx.client import endpoints_for  # the dYdX stack loads only when used

    return endpoints_for(network).indexer_url


def network_prices(network: Network | str) -> PriceSource:
    """The process's shared read of `network`'s markets and prices (one per source URL, so paper and
    dYdX on the same indexer share it): what the trigger watch and the inbox's market check read."""
    return price_source_from_settings(market_source(network))
