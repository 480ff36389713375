"""Check a permissioned API key on a dYdX network: its authenticator must let it trade the account's
subaccount and nothing more (`venues.dydx.credentials.check_trading_authenticator`).

The settings services call this whenever a key is about to be used on a network: saved while the
account is on testnet or mainnet, or the account switching to one. Authenticator ids are never
reused and an authenticator cannot be edited, only removed (dydxprotocol/v4-chain:
protocol/x/accountplus/keeper/authenticators.go takes ids from a global counter;
proto/dydxprotocol/accountplus/tx.proto has AddAuthenticator and RemoveAuthenticator only, besides
the module's on/off switch), so what is checked holds until the owner removes the key.
"""

from __future__ import annotations

from trading_app.domain.enums import Network
from trading_app.services.accounts.account import SettingsInvalid
from trading_app.venues.dydx.client import DydxClient, endpoints_for
from trading_app.venues.dydx.credentials import InvalidCredential, check_trading_authenticator, public_key_of
from trading_app.venues.errors import VenueError


def settings_error(field: str, error: InvalidCredential) -> SettingsInvalid:
    """The settings error for a refused credential (field, sentence with a capital and a stop).

    InvalidCredential messages describe the shape or the authenticator only, never the value.
    """
    text = str(error)
    return SettingsInvalid(field, text[:1].upper() + text[1:] + ".")


async def check_key_on_chain(
    network: Network, private_key: str, owner: str, auth_id: int, subaccount: int, field: str
) -> None:
    """Ask `network` for the owner's authenticator and refuse it unless it is trading-only.

    Raises:
        SettingsInvalid: refused (the reason names the branch and what it allows), or the node
            could not be asked (nothing is decided from that: the change is refused).
    """
    client = DydxClient(endpoints_for(network))
    try:
        found = [a for a in await client.authenticators(owner) if int(a.id) == auth_id]
    except VenueError as e:
        raise SettingsInvalid(
            field, f"Could not ask dYdX {network.value} about this key ({type(e).__name__}); try again."
        ) from None
    finally:
        await client.close()
    try:
        if not found:
            raise InvalidCredential(
                f"dYdX {network.value} shows no authenticator {auth_id} for {owner} "
                "(if you have just authorized the key, wait a few seconds and try again)"
            )
        check_trading_authenticator(found[0].type, found[0].config, public_key_of(private_key), subaccount,
                                    authenticator_id=auth_id)
    except InvalidCredential as e:
        raise settings_error(field, e) from None
