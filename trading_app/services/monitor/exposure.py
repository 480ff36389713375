"""The venue's exposure against the books, every tick: exposure no live position accounts for is
closed the same tick, and the trader is told.

Per market, the books' exposure is what their OPEN positions still hold (size less exit fills);
the venue's is its net position. The books' positions are repaired by `reconcile` (stops sized to
what is open, books closed from the venue's fills); this module handles the other direction:
exposure with no position, or more than the positions hold. That exposure has no stop-loss of
ours, so it is flattened at market with a reduce-only order (which can only ever reduce what the
venue really holds).

It never acts on a market that something else is working on: a position OPENING, CLOSING or
being flattened, or a signal of that market waiting or executing; and it acts only on the paper
venue, where every position is ours (see `repair_exposure` for dYdX).
"""

from __future__ import annotations

import logging
from decimal import Decimal

from sqlmodel import col, select

from trading_app.db.engine import session_scope
from trading_app.db.models import Signal
from trading_app.domain.enums import Network, PositionSide, PositionStatus, SignalStatus
from trading_app.domain.lifecycle import ORDER, is_terminal
from trading_app.services.engine.closing import EXIT_ROLES, flatten_unbooked
from trading_app.services.monitor.books import Books, load_books
from trading_app.services.monitor.reconcile import View
from trading_app.services.notify import messages
from trading_app.venues.base import VenuePosition
from trading_app.venues.errors import VenueError

log = logging.getLogger(__name__)


def _signed(side: str, size: Decimal) -> Decimal:
    return size if side == PositionSide.LONG.value else -size


def booked_exposure(books: Books) -> tuple[dict[str, Decimal], set[str]]:
    """Per market, what the books' OPEN positions still hold (signed), and the markets where a
    position is in motion (opening, closing, being flattened)."""
    held: dict[str, Decimal] = {}
    busy: set[str] = set()
    for p in books.positions:
        if p.status != PositionStatus.OPEN.value:
            busy.add(p.market)
            continue
        exits = sum((r.filled_size for r in books.rows_of(p.id) if r.role in EXIT_ROLES), Decimal(0))
        held[p.market] = held.get(p.market, Decimal(0)) + _signed(p.side, p.size - exits)
    for r in books.rows:  # a close of exposure without a position, still working
        if r.position_id is None and not is_terminal(ORDER, r.status):
            busy.add(r.market)
    return held, busy


def unbooked(venue: VenuePosition, booked: Decimal) -> Decimal:
    """The part of the venue's position (signed) that the books do not hold; 0 when the books hold
    at least as much on the same side (then `reconcile` sizes their stops to what is open), or the
    opposite side (the books' position is gone: `reconcile` closes it first)."""
    held = _signed(venue.side.value, venue.size)
    if booked == 0:
        return held
    if (held > 0) != (booked > 0):
        return Decimal(0)
    return held - booked if abs(held) > abs(booked) else Decimal(0)


async def repair_exposure(view: View, books: Books) -> list[str]:
    """Close, this tick, paper exposure no live position of the books accounts for.

    The tick's venue read can be older than its books (the books are read after every account's
    venue read) and the reconciles of this tick may have just changed the books (a resting entry
    that kept filling): a market that looks unbooked is therefore read again, the venue first and
    then the books, and only what both reads agree on is closed.

    On dYdX nothing is closed here: the trader may hold a position of their own on the same account,
    and our orders' outcomes are decided from the chain's guarantees, so exposure of ours cannot
    escape the books there. It is logged; `python -m trading_app.cli audit` compares what the books
    hold with the chain.

    Returns:
        One outcome per market acted on ("exposure_closed", or "exposure_open" when the close did
        not fill completely: the next tick tries again).
    """
    held, busy = booked_exposure(books)
    suspects = {
        market: excess
        for market, position in view.state.account.positions.items()
        if (excess := unbooked(position, held.get(market, Decimal(0)))) != 0 and market not in busy
    }
    if not suspects:
        return []
    if books.network != Network.PAPER.value:
        for market, excess in suspects.items():
            log.info(
                "account %s/%s: %s %s on the venue beyond the books (the trader's own, or a gap the "
                "audit shows)",
                books.user,
                books.network,
                excess,
                market,
            )
        return []
    fresh = (await view.trader.venue.account()).positions  # the venue first, then the books: they are newer
    again, busy_now = booked_exposure(await load_books(books.user, books.network))
    outcomes: list[str] = []
    for market, excess in suspects.items():
        position = fresh.get(market)
        now = unbooked(position, again.get(market, Decimal(0))) if position is not None else Decimal(0)
        if (
            now == 0
            or (now > 0) != (excess > 0)
            or market in busy_now
            or await _in_flight(books.user, market)
        ):
            continue
        outcomes.append(await _close(view, market, min(abs(excess), abs(now)) * (1 if now > 0 else -1)))
    return outcomes


async def _close(view: View, market: str, excess: Decimal) -> str:
    side = PositionSide.LONG if excess > 0 else PositionSide.SHORT
    size = abs(excess)
    log.error(
        "account %s/%s: %s %s %s on the venue with no open position: closing it",
        view.trader.user,
        view.trader.network,
        side.value,
        size,
        market,
    )
    try:
        row = await flatten_unbooked(view.trader, market, side, size, await view.spec(market))
        closed = row.filled_size
    except VenueError as e:
        log.warning("closing unbooked %s exposure failed (%s)", market, type(e).__name__)
        closed = Decimal(0)
    view.trader.tell(
        messages.TradingError(
            network=view.trader.network,
            market=market,
            what_failed=(
                f"found {side.value.lower()} {size} {market} on the venue that no open position accounts for"
            ),
            action_taken=(
                f"closed it at market ({closed} filled)"
                if closed >= size
                else f"closing it at market: {closed} of {size} filled so far, trying again"
            ),
        )
    )
    return "exposure_closed" if closed >= size else "exposure_open"


async def _in_flight(user: str, market: str) -> bool:
    async with session_scope() as session:
        found = await session.exec(
            select(Signal.id)
            .where(
                Signal.user_address == user,
                Signal.market == market,
                col(Signal.status).in_((SignalStatus.ACCEPTED.value, SignalStatus.EXECUTING.value)),
            )
            .limit(1)
        )
        return found.first() is not None


__all__ = ["booked_exposure", "repair_exposure", "unbooked"]
