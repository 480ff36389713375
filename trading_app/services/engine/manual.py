"""What the dashboard and the REST API ask of the trading engine, scoped to one user."""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal

from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from trading_app.db.engine import session_scope
from trading_app.db.models import ACTIVE_POSITION_STATUSES, Position, Signal, TradingAccount
from trading_app.db.trading import active_positions, get_position
from trading_app.domain import pnl
from trading_app.domain.enums import CloseReason, Network, PositionSide, PositionStatus, SignalStatus
from trading_app.domain.quantize import on_grid_nearest, to_usdc
from trading_app.services.accounts.venues import venue_for
from trading_app.services.engine.entry_order import EntryInDoubt
from trading_app.services.engine.open_close import close_position_for
from trading_app.services.engine.scale_view import ScaleView, levels_for
from trading_app.services.engine.trader import Trader
from trading_app.services.notify import events
from trading_app.services.notify.notifier import get_notifier
from trading_app.venues.base import MarketSpec
from trading_app.venues.errors import VenueError

log = logging.getLogger(__name__)

MAX_ROWS = 500
# live positions that hold (or held) size: a position still OPENING is a pending entry, not open
OPEN_STATUSES = tuple(s for s in ACTIVE_POSITION_STATUSES if s != PositionStatus.OPENING.value)
ENDED_STATUSES = (PositionStatus.CLOSED.value, PositionStatus.FAILED.value, PositionStatus.CANCELLED.value)


class PositionNotFound(LookupError):
    """No such position for this user (it may exist for someone else: we do not say)."""


class PositionNotOpen(ValueError):
    """The position is already closed."""


class PositionBusy(PositionNotOpen):
    """The position is still being opened (its entry is in flight): it cannot be closed this moment."""


_PRICES = frozenset({"entry_price", "mark_price", "tp_price", "sl_price", "exit_price"})
_USD = frozenset({"unrealized_pnl", "realized_pnl", "fees"})


def usd(value: Decimal) -> Decimal:
    """A USD amount in a REST answer: on the USDC quantum (6 decimals), the exchange's own precision,
    so a script adds them up exactly, without the 20-digit tails of an average."""
    return to_usdc(value)


@dataclass(frozen=True)
class PositionView:
    """A position as the dashboard and the API show it."""

    id: int
    network: str
    market: str
    side: str
    size: Decimal
    entry_price: Decimal | None
    mark_price: Decimal | None
    unrealized_pnl: Decimal | None
    tp_price: Decimal | None
    sl_price: Decimal | None
    status: str
    opened_at: datetime
    closed_at: datetime | None
    exit_price: Decimal | None
    realized_pnl: Decimal | None
    fees: Decimal
    close_reason: str | None
    # the market's grid (see `Position.tick_size`); None when unknown: values are then shown as stored
    tick_size: Decimal | None = None
    step_size: Decimal | None = None
    # scaling out (levels, stop history); None for a single-target position (see `scale_view`)
    scale: ScaleView | None = None

    def to_json(self) -> dict[str, object]:
        """JSON-ready: money as strings (never floats), times as ISO 8601.

        Exact but on the grid: prices on the market's tick, the size on its step, USD amounts on the
        USDC quantum (6 decimals); no 20-digit tails of an average.
        """
        out: dict[str, object] = {}
        for key, value in self.__dict__.items():
            if isinstance(value, Decimal):
                if key in _PRICES:
                    value = on_grid_nearest(value, self.tick_size)
                elif key == "size":
                    value = on_grid_nearest(value, self.step_size)
                elif key in _USD:
                    value = usd(value)
                out[key] = format(value, "f")
            elif isinstance(value, datetime):
                out[key] = value.isoformat()
            elif isinstance(value, ScaleView):
                out[key] = value.to_json()
            else:
                out[key] = value
        return out


async def trader_for(user: str) -> Trader:
    """The user's trading context on their current network."""
    async with session_scope() as session:
        account = await session.get(TradingAccount, user)
    network = account.network if account is not None else Network.PAPER.value
    version = account.venue_version if account is not None else None
    return Trader(
        user=user,
        network=network,
        venue=await venue_for(user, network, version=version),
        account=account,
        notify=get_notifier(),
    )


async def close_position(user: str, position_id: int) -> PositionView:
    """Close one of the user's positions at market; its TP and SL are cancelled.

    Raises:
        PositionNotFound: the user has no such position.
        PositionNotOpen: it is already closed.
        VenueError: the venue could not be reached (nothing changed).
    """
    async with session_scope() as session:
        position = await get_position(session, user, position_id)
    if position is None:
        raise PositionNotFound(position_id)
    if position.status not in ACTIVE_POSITION_STATUSES:
        raise PositionNotOpen(f"position {position_id} is {position.status.lower()}")
    async with session_scope() as session:
        account = await session.get(TradingAccount, user)
        opening = await _opening_now(session, user, position)
    if opening:
        raise PositionBusy(
            f"position {position_id} is still opening (its entry is being confirmed with the "
            "venue); close it in a few seconds"
        )
    trader = await trader_on(user, position.network, account)
    try:
        closed = await close_position_for(trader, position, CloseReason.MANUAL)
    except EntryInDoubt as e:
        raise PositionBusy(f"position {position_id}: {e}; close it again in a few seconds") from None
    finally:
        await events.positions_changed(user)
    return (await _views([closed], {}))[0]


async def trader_on(user: str, network: str, account: TradingAccount | None = None) -> Trader:
    """The user's trading context on `network` (where a position lives, whatever the current one)."""
    if account is None:
        async with session_scope() as session:
            account = await session.get(TradingAccount, user)
    version = account.venue_version if account is not None else None
    return Trader(
        user=user,
        network=network,
        venue=await venue_for(user, network, version=version),
        account=account,
        notify=get_notifier(),
    )


async def opening_now(session: AsyncSession, user: str, position: Position) -> bool:
    """`_opening_now`, for the other services of the engine."""
    return await _opening_now(session, user, position)


async def views_of(rows: list[Position]) -> list[PositionView]:
    """Positions as shown, without mark prices."""
    return await _views(rows, {})


async def _opening_now(session: AsyncSession, user: str, position: Position) -> bool:
    """Whether an executor is opening the position right now (its signal is still executing): a
    close then would race the entry; the executor settles it first, and a close can follow."""
    if position.status != PositionStatus.OPENING.value or position.signal_id is None:
        return False
    signal = await session.get(Signal, position.signal_id)
    return (
        signal is not None and signal.user_address == user and signal.status == SignalStatus.EXECUTING.value
    )


async def close_all(user: str) -> list[PositionView]:
    """Close every live position of the user on their current network, oldest first. A position
    still being opened is left as it is (it is reported, unchanged): close it again a moment later.
    """
    trader = await trader_for(user)
    closed = []
    try:
        async with session_scope() as session:
            live = await active_positions(session, user, trader.network)
            busy = {p.id for p in live if await _opening_now(session, user, p)}
        for position in live:
            if position.id in busy:
                closed.append(position)
                continue
            try:
                closed.append(await close_position_for(trader, position, CloseReason.MANUAL))
            except EntryInDoubt:
                closed.append(position)
    finally:
        await events.positions_changed(user)
    return await _views(closed, {})


async def list_positions(user: str, status: str | None = None, limit: int = 100) -> list[PositionView]:
    """The user's positions, newest first: `open` (live ones, with mark and unrealized PnL; an entry
    still resting on the book is not an open position), `pending` (those resting entries), `closed`
    (closed, failed and cancelled), or all."""
    query = select(Position).where(Position.user_address == user)
    if status == "open":
        query = query.where(col(Position.status).in_(OPEN_STATUSES))
    elif status == "pending":
        query = query.where(Position.status == PositionStatus.OPENING.value)
    elif status == "closed":
        query = query.where(col(Position.status).in_(ENDED_STATUSES))
    elif status is not None:
        raise ValueError("status must be open, pending or closed")
    async with session_scope() as session:
        rows = list(
            (await session.exec(query.order_by(col(Position.id).desc()).limit(min(limit, MAX_ROWS)))).all()
        )
    return await _views(rows, await _marks(user, rows))


async def _marks(user: str, rows: list[Position]) -> dict[tuple[str, str], MarketSpec]:
    """The market (mark price, and the grid of a row that did not record it) of each live row."""
    marks: dict[tuple[str, str], MarketSpec] = {}
    for network, market in {(p.network, p.market) for p in rows if p.status in ACTIVE_POSITION_STATUSES}:
        try:
            marks[(network, market)] = await (await venue_for(user, network)).market(market)
        except VenueError as e:  # a missing mark is shown as unknown, never guessed
            log.info("no mark price for %s on %s: %s", market, network, type(e).__name__)
    return marks


async def _views(rows: list[Position], marks: dict[tuple[str, str], MarketSpec]) -> list[PositionView]:
    scales: dict[int, ScaleView] = {}
    for user in {p.user_address for p in rows if p.scale_plan}:  # one user per call in practice
        scales.update(await levels_for(user, [p.id for p in rows if p.user_address == user and p.id]))
    views = []
    for p in rows:
        spec = marks.get((p.network, p.market))
        mark = spec.oracle_price if spec is not None else None
        unrealized = None
        if (
            mark is not None
            and p.entry_price is not None
            and p.size > 0
            and p.status in ACTIVE_POSITION_STATUSES
        ):
            unrealized = pnl.unrealized_pnl(PositionSide(p.side), p.entry_price, mark, p.size)
        views.append(
            PositionView(
                id=p.id or 0,
                network=p.network,
                market=p.market,
                side=p.side,
                size=p.size,
                entry_price=p.entry_price,
                mark_price=mark,
                unrealized_pnl=unrealized,
                tp_price=p.tp_price,
                sl_price=p.sl_price,
                status=p.status,
                opened_at=p.opened_at,
                closed_at=p.closed_at,
                exit_price=p.exit_price,
                realized_pnl=p.realized_pnl,
                fees=p.fees,
                close_reason=p.close_reason,
                tick_size=p.tick_size or (spec.tick_size if spec is not None else None),
                step_size=p.step_size or (spec.step_size if spec is not None else None),
                scale=scales.get(p.id or 0),
            )
        )
    return views


@dataclass(frozen=True)
class PnlSummary:
    """Realized and unrealized PnL, fees and win rate over the user's positions."""

    realized: Decimal
    unrealized: Decimal
    fees: Decimal
    closed_trades: int
    wins: int
    losses: int
    win_rate_pct: Decimal | None
    open_positions: int

    def to_json(self) -> dict[str, object]:
        """JSON-ready: USD amounts on the USDC quantum (6 decimals) as strings, the win rate to 0.01."""
        return {
            k: (format(v if k == "win_rate_pct" else usd(v), "f") if isinstance(v, Decimal) else v)
            for k, v in self.__dict__.items()
        }


async def pnl_summary(user: str, since: datetime | None = None) -> PnlSummary:
    """Totals for the dashboard and `GET /api/pnl/summary`; with `since`, the realized side counts
    only the positions closed from then on (Telegram's /pnl [days] and today's PnL)."""
    query = select(Position).where(
        Position.user_address == user, Position.status == PositionStatus.CLOSED.value
    )
    if since is not None:
        query = query.where(col(Position.closed_at) >= since)
    async with session_scope() as session:
        closed = list((await session.exec(query)).all())
    open_views = await list_positions(user, "open", limit=MAX_ROWS)
    summary = pnl.summarize(closed)
    unrealized = sum((v.unrealized_pnl for v in open_views if v.unrealized_pnl is not None), Decimal(0))
    return PnlSummary(
        realized=summary.realized_total,
        unrealized=unrealized,
        fees=summary.fees_total + sum((v.fees for v in open_views), Decimal(0)),
        closed_trades=summary.trades,
        wins=summary.wins,
        losses=summary.losses,
        win_rate_pct=summary.win_rate_pct,
        open_positions=len(open_views),
    )
