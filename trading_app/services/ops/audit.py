"""The money invariants, checked from a user's books and the venue's own view.

`breaches` is the one statement of what must always hold (pure: it reads nothing itself):
- every OPEN position has a live stop-loss on the venue, reduce-only, on the exit side, sized to
  what is still open of it;
- no conditional order of ours lives on the venue without a live position;
- the venue holds, per market, exactly what the books' open positions hold (on dYdX: as far as our
  own orders' fills explain; the trader may also trade by hand);
- every quantity is on the market's grid (sizes on the step; prices and triggers on the tick);
- a closed position's realized PnL equals what the venue's fills of its orders say.

`audit_account` gathers both views for one account, read-only on our side (a paper venue's read
runs its own matching first, as the exchange would have), and returns the breaches. Tests end by
calling it; operators run it as `python -m trading_app.cli audit`.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import datetime, timedelta
from decimal import Decimal

from sqlmodel import col, select

from trading_app.db.engine import session_scope
from trading_app.db.models import ACTIVE_POSITION_STATUSES, Order, Position
from trading_app.domain.clock import utcnow
from trading_app.domain.enums import Network, OrderType, PositionSide, PositionStatus
from trading_app.services.ops.audit_checks import EXIT_ROLES, Breach, grid_breaches, realized_breaches
from trading_app.venues.base import AccountState, Fill, MarketSpec, OrderReport, Venue
from trading_app.venues.paper import store as paper_store

CONDITIONAL = frozenset({OrderType.STOP_MARKET, OrderType.TAKE_PROFIT_MARKET})
LIVE_ON_VENUE = frozenset({"OPEN", "UNTRIGGERED", "PARTIALLY_FILLED"})


def _signed(side: str, size: Decimal) -> Decimal:
    return size if side == PositionSide.LONG.value else -size


def _remaining(position: Position, rows: Sequence[Order]) -> Decimal:
    exits = sum((r.filled_size for r in rows if r.role in EXIT_ROLES), Decimal(0))
    return position.size - exits


def breaches(
    network: str,
    positions: Sequence[Position],
    rows: Sequence[Order],
    state: AccountState,
    specs: Mapping[str, MarketSpec],
    fills: Sequence[Fill] = (),
) -> list[Breach]:
    """Every money invariant `positions`/`rows` (our books) and `state`/`fills` (the venue) break.

    Args:
        network: the account's network (paper, testnet, mainnet).
        positions: the books' positions of the account (live ones, and closed ones to check PnL).
        rows: every order row of those positions, and our rows of no position.
        state: the venue's batched read (positions and open orders).
        specs: market rules by ticker (for the grid).
        fills: the venue's fills covering the closed positions to check.
    """
    found: list[Breach] = []
    by_position: dict[int | None, list[Order]] = {}
    for r in rows:
        by_position.setdefault(r.position_id, []).append(r)
    ours = {r.client_id: r for r in rows}
    live = {p.id: p for p in positions if p.status in ACTIVE_POSITION_STATUSES}
    found += _stops(positions, by_position, state.open_orders)
    found += _orphans(state.open_orders, ours, live, network)
    found += _exposure(network, positions, by_position, state)
    found += grid_breaches(positions, rows, state, specs)
    found += realized_breaches(positions, by_position, fills)
    return found


def _stops(
    positions: Sequence[Position],
    by_position: Mapping[int | None, list[Order]],
    open_orders: Sequence[OrderReport],
) -> list[Breach]:
    found = []
    for p in positions:
        if p.status not in (
            PositionStatus.OPEN.value,
            PositionStatus.CLOSING.value,
            PositionStatus.FAILED_PROTECTION.value,
        ):
            continue
        left = _remaining(p, by_position.get(p.id, []))
        if left <= 0:
            continue
        exit_side = PositionSide(p.side).exit_side
        stops = [
            o
            for o in open_orders
            if o.ref.market == p.market
            and o.ref.order_type is OrderType.STOP_MARKET
            and o.side is exit_side
            and o.reduce_only
            and o.status.value in LIVE_ON_VENUE
        ]
        if not stops:
            found.append(
                Breach(
                    "no_stop_loss",
                    p.market,
                    f"{p.status.lower()} {p.side.lower()} {left} has no live stop-loss on the venue",
                    p.id,
                )
            )
        elif not any(o.size - o.filled == left for o in stops):
            sizes = ", ".join(str(o.size - o.filled) for o in stops)
            found.append(Breach("stop_loss_size", p.market, f"open {left}, stop-loss for {sizes}", p.id))
    return found


def _orphans(
    open_orders: Sequence[OrderReport],
    ours: Mapping[int, Order],
    live: Mapping[int | None, Position],
    network: str,
) -> list[Breach]:
    found = []
    for o in open_orders:
        if o.ref.order_type not in CONDITIONAL or o.status.value not in LIVE_ON_VENUE:
            continue
        row = ours.get(o.ref.client_id)
        if row is None and network != Network.PAPER.value:
            continue  # the trader's own order on their dYdX account
        if row is None or row.position_id not in live:
            found.append(
                Breach(
                    "orphan_conditional",
                    o.ref.market,
                    f"{o.ref.order_type.value} {o.side.value} "
                    f"{o.size} (client id {o.ref.client_id}) lives without an open position",
                    row.position_id if row else None,
                )
            )
    return found


def _exposure(
    network: str,
    positions: Sequence[Position],
    by_position: Mapping[int | None, list[Order]],
    state: AccountState,
) -> list[Breach]:
    """The venue's net position per market against the books'. On dYdX a market the books hold
    nothing in is not ours to judge (the trader may hold their own position there)."""
    booked: dict[str, Decimal] = {}
    for p in positions:
        if p.status not in ACTIVE_POSITION_STATUSES:
            continue
        open_size = (
            p.size if p.status == PositionStatus.OPENING.value else _remaining(p, by_position.get(p.id, []))
        )
        booked[p.market] = booked.get(p.market, Decimal(0)) + _signed(p.side, open_size)
    held = {m: _signed(v.side.value, v.size) for m, v in state.account.positions.items()}
    found = []
    for market in sorted(set(booked) | set(held)):
        venue, books = held.get(market, Decimal(0)), booked.get(market, Decimal(0))
        if venue == books:
            continue
        if network != Network.PAPER.value and books == 0:
            continue  # on dYdX the trader may hold a position of their own where the books hold none
        found.append(Breach("exposure", market, f"the venue holds {venue}, the books {books}"))
    return found


def venue_breaches(
    state: AccountState, specs: Mapping[str, MarketSpec], *, positions_protected: bool = True
) -> list[Breach]:
    """The invariants a venue's own view must keep whatever the books say: every quantity on the
    grid, every conditional order reduce-only, and (unless a test opens positions on purpose without
    one) every position behind a live reduce-only stop-loss covering it.

    Args:
        state: the venue's batched read.
        specs: market rules by ticker.
        positions_protected: check that every venue position has its stop-loss.
    """
    found = grid_breaches([], [], state, specs)
    for o in state.open_orders:
        if o.ref.order_type in CONDITIONAL and o.status.value in LIVE_ON_VENUE and not o.reduce_only:
            found.append(
                Breach(
                    "conditional_not_reduce_only",
                    o.ref.market,
                    f"{o.ref.order_type.value} "
                    f"{o.side.value} {o.size} (client id {o.ref.client_id}) could open a position",
                )
            )
    if positions_protected:
        for market, held in state.account.positions.items():
            exit_side = held.side.exit_side
            covered = any(
                o.ref.market == market
                and o.ref.order_type is OrderType.STOP_MARKET
                and o.side is exit_side
                and o.reduce_only
                and o.status.value in LIVE_ON_VENUE
                and o.size - o.filled >= held.size
                for o in state.open_orders
            )
            if not covered:
                found.append(
                    Breach(
                        "no_stop_loss",
                        market,
                        f"the venue holds {held.side.value.lower()} "
                        f"{held.size} with no live stop-loss covering it",
                    )
                )
    return found


async def audit_venue(venue: Venue, *, positions_protected: bool = True) -> list[Breach]:
    """`venue_breaches` of one venue, read now.

    Raises:
        VenueError: the venue cannot be read.
    """
    state = await venue.account_state()
    markets = {o.ref.market for o in state.open_orders} | set(state.account.positions)
    specs = {m: await venue.market(m) for m in sorted(markets)}
    return venue_breaches(state, specs, positions_protected=positions_protected)


async def books_of(user: str, network: str, since: datetime) -> tuple[list[Position], list[Order]]:
    """The account's live positions and those closed since `since`, with every order row of
    theirs and the rows of no position."""
    async with session_scope() as session:
        positions = list(
            (
                await session.exec(
                    select(Position)
                    .where(
                        Position.user_address == user,
                        Position.network == network,
                        (col(Position.status).in_(ACTIVE_POSITION_STATUSES))
                        | (col(Position.closed_at) >= since),
                    )
                    .order_by(col(Position.id))
                )
            ).all()
        )
        ids = [p.id for p in positions]
        rows = list(
            (
                await session.exec(
                    select(Order)
                    .where(
                        Order.user_address == user,
                        Order.network == network,
                        (col(Order.position_id).in_(ids)) | (col(Order.position_id).is_(None)),
                    )
                    .order_by(col(Order.id))
                )
            ).all()
        )
    return positions, rows


async def audit_account(
    user: str, network: str, venue: Venue, *, window: timedelta = timedelta(days=7)
) -> list[Breach]:
    """Every money-invariant breach of one account, from its books and its venue.

    Args:
        user: the account's owner.
        network: paper, testnet or mainnet.
        venue: that account's venue (only read).
        window: how far back closed positions are checked against the venue's fills.

    Raises:
        VenueError: the venue cannot be read.
    """
    since = utcnow() - window
    state = await venue.account_state(since=since)
    positions, rows = await books_of(user, network, since)
    markets = {p.market for p in positions} | {r.market for r in rows} | set(state.account.positions)
    specs = {m: await venue.market(m) for m in sorted(markets)}
    fills = (
        await venue.fills(since=since)
        if any(p.status == PositionStatus.CLOSED.value for p in positions)
        else []
    )
    return breaches(network, positions, rows, state, specs, fills)


async def accounts_to_audit(user: str | None, window: timedelta = timedelta(days=7)) -> list[tuple[str, str]]:
    """(user, network) pairs with a position live or closed within `window`, and every paper
    holder; only `user`'s when given."""
    since = utcnow() - window
    async with session_scope() as session:
        query = (
            select(Position.user_address, Position.network)
            .where((col(Position.status).in_(ACTIVE_POSITION_STATUSES)) | (col(Position.closed_at) >= since))
            .distinct()
        )
        if user is not None:
            query = query.where(Position.user_address == user)
        found = set((await session.exec(query)).all())
        found.update(
            (u, Network.PAPER.value) for u in await paper_store.holders(session) if user is None or u == user
        )
    return sorted(found)


__all__ = [
    "Breach",
    "accounts_to_audit",
    "audit_account",
    "audit_venue",
    "books_of",
    "breaches",
    "venue_breaches",
]
