"""The entry order of a position: sent once under its client id, followed until the venue says.

The entry's fate is the venue's to tell (`Venue.order_status` answers only what it guarantees).
A wait that runs out decides nothing: a market entry still in doubt raises `EntryInDoubt`, the
signal stays EXECUTING, and the next attempt (the sweep) asks the venue again; a fill that comes
late is applied then, and the position is protected at once.
"""

from __future__ import annotations

import logging
from datetime import timedelta

from trading_app.db.models import Order, Position
from trading_app.domain.clock import utcnow
from trading_app.domain.enums import OrderStatus, OrderType, Side
from trading_app.domain.lifecycle import ORDER, is_terminal
from trading_app.domain.story import Phase
from trading_app.services.engine.order_flow import (
    apply_report,
    first_report,
    send_with_retries,
    settle,
    wait_until_done,
)
from trading_app.services.engine.order_rows import OrderPlan, is_sent, record_plan, ref_of, required_price
from trading_app.services.engine.outcomes import InDoubt
from trading_app.services.engine.trader import Trader
from trading_app.settings import get_settings
from trading_app.venues.base import OrderRef, OrderReport
from trading_app.venues.errors import OrderNotFound

log = logging.getLogger(__name__)

LIMIT_TTL_SECONDS = 24 * 3600
# an entry row this old was written by an earlier attempt (a crash, a takeover)
RESUME_AFTER = timedelta(seconds=3)
# how long one execution follows a market entry whose fate the venue has not told yet; a dYdX
# short-term order is settled once the chain passes its good-til-block (<= 40 blocks) and the
# indexer has caught up; the claim is kept fresh meanwhile
ENTRY_TRUTH_WAIT_SECONDS = 120.0
LIMIT_FIRST_WAIT_SECONDS = 2.0


class EntryInDoubt(InDoubt):
    """The entry's outcome is not known yet: nothing is decided, the signal is resumed later."""


async def send_entry(
    trader: Trader, position: Position, plan: OrderPlan, row: Order | None = None
) -> tuple[Order, OrderRef | None, OrderReport | None]:
    """Send the entry unless its row says an earlier attempt did; returns (row, ref, first report).

    `row` is the committed entry row when the caller has it. The reference and the report are
    returned, not written: the caller commits them with whatever it does next.
    """
    if row is None:
        row = await record_plan(
            user=trader.user,
            network=trader.network,
            market=position.market,
            position_id=position.id,
            signal_id=position.signal_id or 0,
            attempt=0,
            plan=plan,
        )
    if row.status == OrderStatus.PENDING.value and utcnow() - row.created_at > RESUME_AFTER:
        row, resend = await _recover_entry(trader, row)
        if not resend:
            return row, None, None
    elif row.status != OrderStatus.PENDING.value or is_sent(row):
        return row, None, None  # sent before: follow it, never send it twice
    sent = row
    if plan.order_type is OrderType.LIMIT:
        ref = await send_with_retries(
            lambda: trader.venue.place_limit_order(
                position.market,
                plan.side,
                plan.size,
                required_price(plan.price),
                client_id=sent.client_id,
                good_til_seconds=LIMIT_TTL_SECONDS,
            ),
            venue=trader.network,
        )
    else:
        ref = await send_with_retries(
            lambda: trader.venue.place_market_order(
                position.market,
                plan.side,
                plan.size,
                worst_price=required_price(plan.price),
                client_id=sent.client_id,
            ),
            venue=trader.network,
        )
    sent_detail = {"client_id": sent.client_id, "venue_order_id": ref.venue_order_id}
    trader.mark(position.signal_id, Phase.ENTRY_SENT, {**sent_detail, "order_type": plan.order_type.value})
    return row, ref, await first_report(trader.venue, ref)


async def follow_entry(
    trader: Trader, row: Order, plan: OrderPlan, ref: OrderRef | None, report: OrderReport | None
) -> Order:
    """Commit what `send_entry` learnt, then follow the entry until the venue settles it.

    A limit entry is followed briefly (it may rest for a day; the monitor follows it after
    that). A market entry is followed until the venue tells its fate.

    Raises:
        EntryInDoubt: a market entry whose fate the venue has not told within the wait.
    """
    if ref is not None or report is not None:
        row = await settle(row, ref, report)
    first_delay = 0.05 if report is not None else 0.0
    if plan.order_type is OrderType.LIMIT:
        return await wait_until_done(trader.venue, row, LIMIT_FIRST_WAIT_SECONDS, first_delay=first_delay)
    row = await wait_until_done(
        trader.venue, row, ENTRY_TRUTH_WAIT_SECONDS, first_delay=first_delay, keep=trader.keep_claim
    )
    if not is_terminal(ORDER, row.status):
        raise EntryInDoubt(
            f"the venue has not settled entry order {row.client_id} yet; it is followed until it does",
            row.position_id,
        )
    return row


async def _recover_entry(trader: Trader, row: Order) -> tuple[Order, bool]:
    """An entry committed by an earlier attempt: what does the venue guarantee about it?

    Returns the row brought up to date, and whether it may be sent now. Only a venue's
    guarantee that the order does not exist (`OrderNotFound`) allows sending it; an alert too
    old to trade by then is given up instead (EXPIRED: the signal fails, visibly). Anything
    else is followed as it is.
    """
    try:
        report = await trader.venue.order_status(ref_of(row))
    except OrderNotFound:
        age = utcnow() - (row.created_at)
        if age <= timedelta(seconds=get_settings().webhook_max_lag_seconds):
            return row, True
        log.warning("entry %s: never reached the venue and is %s old; not sent", row.id, age)
        expired = OrderReport(ref=ref_of(row), status=OrderStatus.EXPIRED, side=Side(row.side), size=row.size)
        return await apply_report(row, expired), False
    return await apply_report(row, report), False


__all__ = ["ENTRY_TRUTH_WAIT_SECONDS", "EntryInDoubt", "follow_entry", "send_entry"]
