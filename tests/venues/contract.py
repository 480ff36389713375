"""The venue contract: what every `Venue` implementation must do, as one reusable test class.

Use it by subclassing in a test module and providing two fixtures:

    from tests.venues.contract import VenueContract

    class TestMyVenueContract(VenueContract):
        pass   # inherits every test_* below

Required fixtures (function scope; define them in the test module or a conftest):

`venue_factory` -- an async callable `await venue_factory() -> Venue`. Every call returns a venue
    instance for THE SAME fresh, funded account (one per test): a test may create a second instance
    to check that state is shared. The account starts flat, with no orders or fills, and equity
    of at least 1,000 USD. The fixture closes the venues it made.

`market_driver` -- an object that moves the venue's market and breaks its connectivity:
    `ticker: str`          the market the suite trades (ACTIVE; 10 steps cost well under 1,000 USD)
    `other_ticker: str`    a second listed market (the suite never trades it; used for filters)
    `async price() -> Decimal`            the current oracle price of `ticker`
    `async set_price(price: Decimal)`     move the oracle price of `ticker` (and the book, if any,
                                          around it); liquidity near the price must stay ample
    `async settle()`                      return once the venue reflects everything so far (orders
                                          indexed, triggers fired); a no-op for a synchronous venue
    `async down()` / `async up()`         make the venue's price source / endpoints unreachable,
                                          then reachable again

The tests live in contract_trading.py (market data, orders, cancel, resends, refusals, outages)
contract_positions.py (stop-loss/take-profit, fills, account) and contract_scaling.py (scaling out,
stop moves, the order budget; its extra driver members are listed there); contract_support.py holds the
helpers (`new_client_id`, grid `down`/`up`, `assert_no_order`), re-exported here.

Expectations the suite encodes (beyond base.py's docstrings):
- `order_status` of a client id never placed raises OrderNotFound or reports PENDING with 0 filled;
- an IOC that cannot fill within its worst price ends CANCELED or EXPIRED with `filled == 0`
  (after `settle()`: a venue may answer PENDING until it can guarantee the outcome);
- `order_status` of a ref that lacks what the placement learnt (stored before it returned) ends in
  the placement's outcome when the caller passes each report's `ref` back, as the engine does;
- `VenuePosition.size` is the magnitude (positive); `side` says LONG/SHORT; flat markets are absent;
- fill fees are positive (a taker pays) and never above 0.1% of the notional;
- a resent client id returns the same order and never executes twice;
- reduce-only orders are cut to the position; with no position they end CANCELED or EXPIRED, 0
  filled; a triggered stop cut short by the position ends CANCELED with what it filled;
- cancelling a filled, cancelled or never-placed order is not an error;
- stop-loss/take-profit rest UNTRIGGERED (reduce_only, trigger_price reported) until the oracle
  price crosses the trigger, then close the position within their worst price;
- equity = starting equity + trade PnL - fees (+ unrealized PnL), within 0.01 USD;
- any request made while `down()` raises VenueUnavailable and leaves no order behind.

Prices the suite passes to `set_price` are on the market's tick grid.
"""

from __future__ import annotations

from tests.venues.contract_positions import PositionContract
from tests.venues.contract_scaling import ScalingContract
from tests.venues.contract_support import (  # noqa: F401 - re-exported for venue-specific tests
    GOOD_TIL,
    TOLERANCE,
    assert_no_order,
    down,
    new_client_id,
    up,
)
from tests.venues.contract_trading import TradingContract


class VenueContract(TradingContract, PositionContract, ScalingContract):
    """Every test runs against `venue_factory` and `market_driver` (see the module docstring)."""
