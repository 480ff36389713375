"""The entry order of a position: sent once under its client id, followed until it finishes."""

from __future__ import annotations

import logging
from datetime import timedelta

from trading_app.db.models import Order, Position
from trading_app.db.types import utcnow
from trading_app.domain.enums import OrderStatus, OrderType, Side
from trading_app.services.engine.order_flow import (
    FILL_WAIT_SECONDS,
    OrderPlan,
    apply_report,
    first_report,
    record_plan,
    ref_of,
    required_price,
    send_with_retries,
    settle,
    wait_until_done,
)
from trading_app.services.engine.trader import Trader
from trading_app.venues.base import MarketSpec, OrderRef, OrderReport
from trading_app.venues.errors import OrderNotFound

log = logging.getLogger(__name__)

LIMIT_TTL_SECONDS = 24 * 3600
# an entry row this old was written by an earlier attempt (a crash, a takeover)
RESUME_AFTER = timedelta(seconds=3)
# a short-term dYdX order lives at most ~40 blocks: past this an unknown entry is never resent
ENTRY_RESEND_WINDOW = timedelta(seconds=30)


async def place_entry(trader: Trader, position: Position, plan: OrderPlan, spec: MarketSpec) -> Order:
    """Send the entry (idempotently) and wait for it to finish."""
    row, ref, report = await send_entry(trader, position, plan)
    return await follow_entry(trader, row, plan, ref, report)


async def send_entry(
    trader: Trader, position: Position, plan: OrderPlan, row: Order | None = None
) -> tuple[Order, OrderRef | None, OrderReport | None]:
    """Send the entry unless its row says an earlier attempt did; returns (row, ref, first report).

    `row` is the committed entry row when the caller has it. The reference and the report are
    returned, not written: the caller commits them with whatever it does next.
    """
    if row is None:
        row = await record_plan(
            user=trader.user, network=trader.network, market=position.market, position_id=position.id,
            signal_id=position.signal_id or 0, attempt=0, plan=plan,
        )
    if row.status == OrderStatus.PENDING.value and utcnow() - row.created_at > RESUME_AFTER:
        row = await _recover_entry(trader, row)
    if row.status != OrderStatus.PENDING.value:
        return row, None, None
    sent = row
    if plan.order_type is OrderType.LIMIT:
        ref = await send_with_retries(lambda: trader.venue.place_limit_order(
            position.market, plan.side, plan.size, required_price(plan.price),
            client_id=sent.client_id, good_til_seconds=LIMIT_TTL_SECONDS))
    else:
        ref = await send_with_retries(lambda: trader.venue.place_market_order(
            position.market, plan.side, plan.size, worst_price=required_price(plan.price),
            client_id=sent.client_id))
    return row, ref, await first_report(trader.venue, ref)


async def follow_entry(
    trader: Trader, row: Order, plan: OrderPlan, ref: OrderRef | None, report: OrderReport | None
) -> Order:
    """Commit what `send_entry` learnt, then poll until the entry finishes (a limit entry: 2 s)."""
    if ref is not None or report is not None:
        row = await settle(row, ref, report)
    timeout = 2.0 if plan.order_type is OrderType.LIMIT else FILL_WAIT_SECONDS
    return await wait_until_done(trader.venue, row, timeout, first_delay=0.05 if report is not None else 0.0)


async def _recover_entry(trader: Trader, row: Order) -> Order:
    """An entry committed by an earlier attempt: did it reach the venue?

    Resending the same client id is safe only while the first copy could still be live: a
    dYdX short-term order's id is free again once its good-til-block has passed, and a
    resend then would be a second order. So a known order is followed, an unknown young one
    is resent, and an unknown old one is given up (EXPIRED: the signal fails, visibly).
    """
    try:
        report = await trader.venue.order_status(ref_of(row))
    except OrderNotFound:
        report = None
    if report is not None and (report.status is not OrderStatus.PENDING or report.filled > 0):
        return await apply_report(row, report)
    if utcnow() - row.created_at <= ENTRY_RESEND_WINDOW:
        return row
    log.warning("entry %s: unknown to the venue %s after it was recorded; not resent", row.id,
                utcnow() - row.created_at)
    expired = OrderReport(ref=ref_of(row), status=OrderStatus.EXPIRED, side=Side(row.side), size=row.size)
    return await apply_report(row, expired)


__all__ = ["follow_entry", "place_entry", "send_entry"]
