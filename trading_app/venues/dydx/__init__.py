"""dYdX v4 venue (testnet and mainnet) on dydx-v4-client 1.1.5.

Modules: `encoding` (pure Decimal -> quantums/subticks, order protos), `errors`
(chain codes -> venue errors), `credentials` (format checks, address derivation),
`client` (channels with deadlines, calls off the event loop), `signer` (sequence,
signing again after a lost answer), `ratelimit`, `parse` (indexer JSON), `chain` (the
timing rules outcomes are decided by), `status` (an order's guaranteed state), `placing`
(sending an id only when the chain allows no second order) and `venue` (DydxVenue).
"""

import logging

# importing dydx_v4_client.network builds the library's own LOCAL config and logs a URL
# warning about it every time; we never use make_config, so the warning is noise
logging.getLogger("dydx_v4_client.network").setLevel(logging.ERROR)

from trading_app.venues.dydx.client import DydxEndpoints, endpoints_for  # noqa: E402
from trading_app.venues.dydx.signer import Signer  # noqa: E402
from trading_app.venues.dydx.venue import DydxVenue  # noqa: E402

__all__ = ["DydxEndpoints", "DydxVenue", "Signer", "endpoints_for"]
