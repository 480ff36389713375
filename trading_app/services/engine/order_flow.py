"""Placing one order safely: send with a client id derived from our ids, resend the same request
on transient failures, and keep the row in step with the venue.

The row is committed before the venue hears of the order (services/engine/order_rows.py), so a
crash at any point leaves a row whose client id the next attempt reuses: the venue then answers
with the existing order instead of creating a second one.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable, Sequence

from sqlmodel.ext.asyncio.session import AsyncSession

from trading_app.db.core_batches import update_each_by
from trading_app.db.core_rows import update_by
from trading_app.db.engine import autocommit_scope, session_scope
from trading_app.db.models import Order
from trading_app.domain.clock import utcnow
from trading_app.domain.enums import OrderStatus
from trading_app.domain.lifecycle import ORDER, can_transition, is_terminal
from trading_app.services.engine.order_rows import ref_of
from trading_app.services.ops import metrics
from trading_app.venues.base import OrderRef, OrderReport, Venue
from trading_app.venues.errors import OrderNotFound, OrderRejected, VenueError, VenueTemporaryError

log = logging.getLogger(__name__)

SEND_ATTEMPTS = 3
FILL_WAIT_SECONDS = 25.0  # a dYdX short-term IOC lives ~15 blocks; the indexer lags about a block


async def send_with_retries(
    send: Callable[[], Awaitable[OrderRef]], attempts: int = SEND_ATTEMPTS, *, venue: str | None = None
) -> OrderRef:
    """Call `send` until it succeeds, retrying only transient venue errors.

    Every retry sends the same client id, so it can never create a second order. With `venue`
    (the network), each order's result is counted in the metrics.
    """
    delay = 0.25
    for attempt in range(1, attempts + 1):
        try:
            ref = await send()
        except VenueTemporaryError:
            if attempt == attempts:
                _count(venue, "unavailable")
                raise
            log.warning("transient venue error, resending the same order (attempt %d)", attempt)
            await asyncio.sleep(delay)
            delay *= 2
        except OrderRejected:
            _count(venue, "rejected")
            raise
        except Exception:
            _count(venue, "error")
            raise
        else:
            _count(venue, "placed")
            return ref
    raise AssertionError("unreachable")


def _count(venue: str | None, result: str) -> None:
    if venue is not None:
        metrics.order_sent(venue, result)


async def store_ref(row: Order, ref: OrderRef, status: OrderStatus | None = None) -> Order:
    """Remember how to find the order on the venue (and, when known, its new status)."""
    return await _settle_alone(row, ref, None, status)


async def settle(row: Order, ref: OrderRef | None, report: OrderReport | None) -> Order:
    """`store_ref` and `apply_report` in one write (either may be None)."""
    return await _settle_alone(row, ref, report, None)


async def _settle_alone(
    row: Order, ref: OrderRef | None, report: OrderReport | None, status: OrderStatus | None
) -> Order:
    # the common case is one conditional UPDATE, complete by itself: no BEGIN/COMMIT round trips
    async with autocommit_scope() as session:
        done = await _fast_settle(session, row, ref, report, status)
    if done is not None:
        return done
    async with session_scope() as session:  # the row moved on: read it and decide again, atomically
        return await settle_in(session, row, ref=ref, report=report, status=status)


async def settle_in(
    session: AsyncSession,
    row: Order,
    *,
    ref: OrderRef | None = None,
    report: OrderReport | None = None,
    status: OrderStatus | None = None,
) -> Order:
    """Inside the caller's transaction: store the venue reference, apply the venue's report (or
    `status`) along allowed transitions only.

    The transition is decided from the status `row` was read with, and the UPDATE applies only
    while the row still has that status (one statement). When someone else (the monitor) moved
    it meanwhile, the row is read afresh and decided again.
    """
    done = await _fast_settle(session, row, ref, report, status)
    if done is not None:
        return done
    return await _settle_fresh(session, row, ref, report, status)


async def settle_each_in(
    session: AsyncSession, settles: Sequence[tuple[Order, OrderRef | None, OrderReport | None]]
) -> list[Order]:
    """`settle_in` for each (row, ref, report) of different rows, in the caller's transaction: their
    conditional UPDATEs in one statement on PostgreSQL. A row that moved on meanwhile is read afresh
    and decided again, as `settle_in` does."""
    changes = [(_guard(row), _changes(row, ref, report, None)) for row, ref, report in settles]
    done = await update_each_by(session, Order, changes)
    return [
        fast if fast is not None else await _settle_fresh(session, row, ref, report, None)
        for (row, ref, report), fast in zip(settles, done, strict=True)
    ]


async def _settle_fresh(
    session: AsyncSession,
    row: Order,
    ref: OrderRef | None,
    report: OrderReport | None,
    status: OrderStatus | None,
) -> Order:
    """The row moved on since it was read: read it under a lock and decide the change again."""
    fresh = await session.get(Order, row.id, with_for_update=True, populate_existing=True)
    assert fresh is not None and fresh.user_address == row.user_address
    for key, value in _changes(fresh, ref, report, status).items():
        setattr(fresh, key, value)
    session.add(fresh)
    return fresh


async def _fast_settle(
    session: AsyncSession,
    row: Order,
    ref: OrderRef | None,
    report: OrderReport | None,
    status: OrderStatus | None,
) -> Order | None:
    """The change decided from `row`'s status, applied only while the row still has it.

    None when the row moved on meanwhile (the caller then reads it afresh)."""
    return await update_by(session, Order, _guard(row), _changes(row, ref, report, status))


def _guard(row: Order) -> dict[str, object]:
    """The row, the user's, while it still has the status it was read with."""
    return {"id": row.id, "user_address": row.user_address, "status": row.status}


def _changes(
    current: Order, ref: OrderRef | None, report: OrderReport | None, status: OrderStatus | None
) -> dict[str, object]:
    """The column values `ref`, `report` and `status` give a row that now looks like `current`."""
    changes: dict[str, object] = {"updated_at": utcnow()}
    now = current.status
    if status is not None and can_transition(ORDER, now, status.value):
        now = status.value
    if ref is not None:
        changes.update(
            order_flags=ref.order_flags,
            clob_pair_id=ref.clob_pair_id,
            subaccount=ref.subaccount,
            good_til_block=ref.good_til_block,
            good_til_block_time=ref.good_til_block_time,
            venue_order_id=ref.venue_order_id or None,
            tx_hash=ref.tx_hash or None,
            commit_by=ref.commit_by,
        )
    elif report is not None:
        # what the venue learnt about the order (a good-til-block bound, a commit deadline, its
        # indexer id) is kept for the next question; an empty field never erases a stored one
        learnt = {
            "good_til_block": report.ref.good_til_block,
            "commit_by": report.ref.commit_by,
            "venue_order_id": report.ref.venue_order_id or None,
            "tx_hash": report.ref.tx_hash or None,
        }
        changes.update({k: v for k, v in learnt.items() if v is not None and getattr(current, k) != v})
    if report is not None:
        target = report.status.value
        if target != now and can_transition(ORDER, now, target):
            now = target
        elif target != now:
            log.warning("order %s: venue says %s, row is %s; keeping the row", current.id, target, now)
        changes.update(filled_size=report.filled, avg_fill_price=report.avg_fill_price, fee=report.fee)
    if now != current.status:
        changes["status"] = now
    return changes


async def first_report(venue: Venue, ref: OrderRef) -> OrderReport | None:
    """The venue's word on an order just placed, or None when it cannot say now (the caller
    then records the reference alone and polls, as for any order still working)."""
    try:
        return await venue.order_status(ref)
    except VenueError:
        return None


async def apply_report(row: Order, report: OrderReport) -> Order:
    """Move the row to the venue's state (only along allowed transitions) with its fills."""
    return await _settle_alone(row, None, report, None)


async def apply_reports(reports: Sequence[tuple[Order, OrderReport]]) -> list[Order]:
    """`apply_report` for each (row, report) of different rows: on PostgreSQL their conditional
    UPDATEs are ONE statement (atomic by itself, so no transaction is opened for it); elsewhere one
    autocommit UPDATE each, as `apply_report` does. A row that moved on meanwhile is read afresh
    under a lock and decided again, each in a transaction of its own, as `apply_report` does.

    Returns:
        The rows as written, in the order of `reports`.
    """
    if len(reports) < 2:
        return [await apply_report(row, report) for row, report in reports]
    async with autocommit_scope() as session:
        done = await update_each_by(
            session, Order, [(_guard(row), _changes(row, None, report, None)) for row, report in reports]
        )
    found: list[Order] = []
    for (row, report), fast in zip(reports, done, strict=True):
        if fast is None:  # the row moved on: read it and decide again, atomically
            async with session_scope() as session:
                fast = await settle_in(session, row, report=report)
        found.append(fast)
    return found


async def wait_until_done(
    venue: Venue,
    row: Order,
    within: float = FILL_WAIT_SECONDS,
    *,
    first_delay: float = 0.0,
    keep: Callable[[], Awaitable[bool]] | None = None,
) -> Order:
    """Poll an order until the venue reports it finished, or `within` seconds pass (which decides
    nothing: the row keeps whatever the venue last guaranteed).

    Args:
        first_delay: wait before the first poll (the caller has just read the status itself).
        keep: called between polls to keep the caller's claim alive; the wait ends early when it
            answers False (another worker took over).
    """
    deadline = asyncio.get_running_loop().time() + within
    delay = 0.05
    if first_delay > 0 and not is_terminal(ORDER, row.status):
        await asyncio.sleep(first_delay)
    while not is_terminal(ORDER, row.status):
        try:
            report = await venue.order_status(ref_of(row))
            if differs_from(row, report):
                row = await apply_report(row, report)
        except OrderNotFound:
            return row  # the venue guarantees it does not exist: the caller decides what to send
        except VenueTemporaryError:
            log.warning("order %s: status unavailable, will ask again", row.id)
        if is_terminal(ORDER, row.status) or asyncio.get_running_loop().time() >= deadline:
            return row
        if keep is not None and not await keep():
            return row
        await asyncio.sleep(delay)
        delay = min(delay * 2, 1.0)
    return row


def differs_from(row: Order, report: OrderReport) -> bool:
    """Whether the venue's report says something the row does not (status, fills, or what its
    reference learnt)."""
    learnt = report.ref
    return (
        report.status.value != row.status
        or report.filled != row.filled_size
        or report.fee != row.fee
        or report.avg_fill_price != row.avg_fill_price
        or (learnt.good_til_block is not None and learnt.good_til_block != row.good_til_block)
        or (learnt.commit_by is not None and learnt.commit_by != row.commit_by)
        or (bool(learnt.tx_hash) and learnt.tx_hash != row.tx_hash)
    )


async def cancel_quietly(venue: Venue, row: Order) -> bool:
    """Cancel an order that may already be gone; True when the venue confirmed or it was done."""
    done, report = await cancel_and_report(venue, row)
    if report is not None:
        try:
            await apply_report(row, report)
        except Exception as e:  # noqa: BLE001 - the status refresh is best effort: the monitor reads it again
            log.debug("order %s: status after the cancel not recorded (%s)", row.id, type(e).__name__)
    return done


async def cancel_and_report(venue: Venue, row: Order) -> tuple[bool, OrderReport | None]:
    """`cancel_quietly` without the write: (confirmed or done, the venue's report to record, if any)."""
    if is_terminal(ORDER, row.status):
        return True, None
    try:
        await send_with_retries(lambda: _cancel(venue, row))
    except Exception as e:  # noqa: BLE001 - the monitor retries orphans; report, don't raise
        log.warning("order %s: cancel failed (%s); the monitor will retry", row.id, type(e).__name__)
        return False, None
    try:
        return True, await venue.order_status(ref_of(row))
    except Exception:  # noqa: BLE001 - the status refresh is best effort
        return True, None


async def _cancel(venue: Venue, row: Order) -> OrderRef:
    await venue.cancel(ref_of(row))
    return ref_of(row)
