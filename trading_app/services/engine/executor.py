"""Execute one accepted signal, exactly once: claim -> risk -> entry -> protection -> books.

The claim is a conditional status change (ACCEPTED -> EXECUTING) that only one worker can
win, even across processes. A claim older than `STALE_CLAIM` belongs to a worker that died;
the sweep takes it over, and because every order's client id is derived from the signal id
and every step is persisted before it is sent, the takeover continues the same orders
instead of placing new ones.

Second signal for a market with a live position (documented in the README):
- same direction: rejected (`position_exists`): no pyramiding, so a repeated alert can never
  double the exposure;
- opposite direction: rejected by default; with the account's `same_market_policy` set to
  `reverse` the position is closed and the new one opened;
- `close` / `flat` closes it; `reverse` flips it (closes, then opens the other side with the
  alert's or the default size).
"""

from __future__ import annotations

import json
import logging
from collections.abc import Callable
from dataclasses import dataclass, fields
from datetime import datetime, timedelta
from decimal import Decimal

from sqlalchemy import and_, or_, update
from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from trading_app.db.engine import autocommit_scope, session_scope
from trading_app.db.models import ACTIVE_POSITION_STATUSES, Position, Signal, TradingAccount
from trading_app.db.trading import positions_for_execution
from trading_app.db.types import utcnow
from trading_app.domain.enums import (
    CloseReason,
    Network,
    OrderType,
    PositionSide,
    PositionStatus,
    SignalAction,
    SignalStatus,
)
from trading_app.domain.errors import RejectReason, RiskRejected
from trading_app.domain.signals import ParsedSignal
from trading_app.services.accounts.venues import venue_for
from trading_app.services.engine.open_close import (
    StoredFacts,
    close_position_for,
    open_position,
    start_of_day,
    stored_facts,
)
from trading_app.services.engine.trader import Finish, Trader
from trading_app.services.notify import events, messages
from trading_app.services.notify.notifier import get_notifier
from trading_app.venues.errors import OrderRejected, UnknownMarket, VenueError, VenueTemporaryError

log = logging.getLogger(__name__)

# a claim this old belongs to a dead worker (an execution takes seconds; dYdX fills up to ~25 s)
STALE_CLAIM = timedelta(seconds=60)


class Outcome:
    """How a signal ended: status, reason and the position it touched."""

    def __init__(self, status: SignalStatus, reason: str | None = None, position_id: int | None = None) -> None:
        self.status, self.reason, self.position_id = status, reason, position_id


async def claim(signal_id: int) -> Signal | None:
    """Take the signal for execution; None when another worker has it or it is finished."""
    async with session_scope() as session:
        return await _claim_in(session, signal_id)


async def _claim_in(session: AsyncSession, signal_id: int) -> Signal | None:
    # one conditional UPDATE ... RETURNING: only one worker's statement can match the row
    now = utcnow()
    result = await session.execute(
        update(Signal)
        .where(
            col(Signal.id) == signal_id,
            or_(
                col(Signal.status) == SignalStatus.ACCEPTED.value,
                and_(col(Signal.status) == SignalStatus.EXECUTING.value, col(Signal.claimed_at) < now - STALE_CLAIM),
            ),
        )
        .values(status=SignalStatus.EXECUTING.value, claimed_at=now, attempts=Signal.attempts + 1, updated_at=now)
        .returning(Signal)
        .execution_options(synchronize_session=False)
    )
    return result.scalars().first()


@dataclass
class _Claimed:
    """What the claim's transaction read besides the signal."""

    signal: Signal
    account: TradingAccount | None
    network: str
    positions: list[Position]  # positions_for_execution rows
    since: datetime


async def _claim_and_read(signal_id: int) -> _Claimed | None:
    """Claim, then read the trader's account and every position the execution needs.

    Three statements, each committed on its own (no BEGIN/COMMIT round trips): the claim is
    one conditional UPDATE, complete by itself, and the reads need no common snapshot (the
    positions are re-checked by the unique index and the row locks of every later write).
    """
    async with autocommit_scope() as session:
        signal = await _claim_in(session, signal_id)
        if signal is None:
            return None
        account = await session.get(TradingAccount, signal.user_address)
        # a test alert always runs on paper, whatever network the account trades on
        network = Network.PAPER.value if signal.paper or account is None else account.network
        since = start_of_day()
        rows = await positions_for_execution(session, signal.user_address, network, signal.id, since)
    return _Claimed(signal, account, network, rows, since)


async def _finish(signal: Signal, outcome: Outcome) -> None:
    async with session_scope() as session:
        await _finish_in(session, signal, outcome)


async def _finish_in(session: AsyncSession, signal: Signal, outcome: Outcome) -> None:
    await session.exec(  # type: ignore[call-overload]
        update(Signal)
        .where(col(Signal.id) == signal.id, col(Signal.status) == SignalStatus.EXECUTING.value,
               col(Signal.claimed_at) == signal.claimed_at)
        .values(status=outcome.status.value, reason=outcome.reason, position_id=outcome.position_id,
                finished_at=utcnow(), updated_at=utcnow())
    )


class _Finisher:
    """Finishes the signal inside the transaction that settles its position (one commit for both).

    Armed by the route for its last move only, with how that move's position becomes the
    signal's outcome; execute_signal then skips its own `_finish`.
    """

    def __init__(self, signal: Signal) -> None:
        self.signal = signal
        self.outcome: Outcome | None = None

    def arm(self, to_outcome: Callable[[Position], Outcome]) -> Finish:
        async def finish(session: AsyncSession, position: Position) -> None:
            outcome = to_outcome(position)
            await _finish_in(session, self.signal, outcome)
            # the caller only returns once this transaction committed (a failed commit raises)
            self.outcome = outcome

        return finish


def _parsed(signal: Signal) -> ParsedSignal:
    # `signals.parsed` holds ParsedSignal.to_dict(): strings for every value
    data = json.loads(signal.parsed or "{}")
    values: dict[str, object] = {}
    for f in fields(ParsedSignal):
        raw = data.get(f.name)
        if raw is None:
            continue
        if f.name == "action":
            values[f.name] = SignalAction(raw)
        elif f.name == "order_type":
            values[f.name] = OrderType(raw)
        elif f.name == "timestamp":
            values[f.name] = datetime.fromisoformat(raw)
        elif f.name in ("market", "alert_id"):
            values[f.name] = raw
        else:
            values[f.name] = Decimal(raw)
    return ParsedSignal(**values)  # type: ignore[arg-type]


async def execute_signal(signal_id: int) -> Outcome | None:
    """Execute one signal if this worker wins the claim. Returns None when it did not."""
    claimed = await _claim_and_read(signal_id)
    if claimed is None:
        return None
    signal, network = claimed.signal, claimed.network
    user = signal.user_address
    finisher = _Finisher(signal)
    try:
        parsed = _parsed(signal)
        venue = await venue_for(user, network)
        trader = Trader(user=user, network=network, venue=venue, account=claimed.account,
                        notify=get_notifier())
        outcome = await _route(trader, signal, parsed, claimed, finisher)
    except RiskRejected as e:
        outcome = Outcome(SignalStatus.REJECTED, f"{e.reason.value}: {e.detail}" if e.detail else e.reason.value)
    except UnknownMarket as e:
        outcome = Outcome(SignalStatus.REJECTED, f"{RejectReason.UNKNOWN_MARKET.value}: {e}")
    except OrderRejected as e:
        outcome = Outcome(SignalStatus.FAILED, f"venue_rejected: {e}")
    except VenueTemporaryError as e:
        outcome = Outcome(SignalStatus.FAILED, f"venue_unavailable: {e}")
    except VenueError as e:
        outcome = Outcome(SignalStatus.FAILED, f"venue_error: {e}")
    if finisher.outcome is not None:
        outcome = finisher.outcome  # already committed with the position
    else:
        await _finish(signal, outcome)
    if outcome.status is not SignalStatus.EXECUTED:
        get_notifier().notify_soon(user, "rejected", messages.SignalRejected(
            network=network, signal_id=signal.id, market=signal.market,
            reason=(outcome.reason or "").split(":", 1)[0], detail=outcome.reason))
    await events.positions_changed(user)
    return outcome


async def _route(trader: Trader, signal: Signal, parsed: ParsedSignal, claimed: _Claimed,
                 finisher: _Finisher) -> Outcome:
    rows = claimed.positions
    mine = next((p for p in reversed(rows) if p.signal_id == signal.id), None)
    live = next((p for p in rows if p.network == trader.network and p.market == parsed.market
                 and p.status in ACTIVE_POSITION_STATUSES), None)
    if mine is not None:  # a previous attempt got this far: continue it, never start again
        position = await open_position(trader, signal, parsed, resume=mine, finish=finisher.arm(_opened))
        return _opened(position)
    if parsed.action is SignalAction.CLOSE:
        if live is None:
            raise RiskRejected(RejectReason.NO_POSITION, f"no open {parsed.market} position to close")
        position = await close_position_for(trader, live, CloseReason.SIGNAL, signal_id=signal.id,
                                            finish=finisher.arm(_closed))
        return _closed(position)
    side = parsed.position_side
    if parsed.action is SignalAction.REVERSE:
        if live is None:
            raise RiskRejected(RejectReason.NO_POSITION, f"no open {parsed.market} position to reverse")
        side = PositionSide(live.side).opposite
    assert side is not None
    stored: StoredFacts | None = stored_facts(rows, trader.network, claimed.since)
    if live is not None:
        if live.side == side.value:
            raise RiskRejected(RejectReason.POSITION_EXISTS, f"a {live.side.lower()} {parsed.market} position is open")
        policy = trader.account.same_market_policy if trader.account else "reject"
        if parsed.action is not SignalAction.REVERSE and policy != "reverse":
            raise RiskRejected(RejectReason.POSITION_EXISTS,
                               f"a {live.side.lower()} {parsed.market} position is open; send close or reverse")
        closed = await close_position_for(trader, live, CloseReason.REVERSED, signal_id=signal.id)
        if closed.status != PositionStatus.CLOSED.value:
            return Outcome(SignalStatus.FAILED, "reverse: the open position could not be closed", closed.id)
        stored = None  # the close changed them: read afresh
    # a position another signal opened at the same moment: open_position says POSITION_EXISTS
    position = await open_position(trader, signal, parsed, side=side, stored=stored, finish=finisher.arm(_opened))
    return _opened(position)


def _closed(position: Position) -> Outcome:
    return Outcome(SignalStatus.EXECUTED, None if position.status == PositionStatus.CLOSED.value
                   else "close did not fill; the monitor keeps trying", position.id)


def _opened(position: Position) -> Outcome:
    if position.status == PositionStatus.FAILED.value:
        return Outcome(SignalStatus.FAILED, "entry_not_filled: the entry order did not fill", position.id)
    if position.status in (PositionStatus.FAILED_PROTECTION.value, PositionStatus.CLOSED.value):
        return Outcome(SignalStatus.FAILED, "protection_failed: the stop-loss could not be placed; position flattened",
                       position.id)
    return Outcome(SignalStatus.EXECUTED, None, position.id)


async def sweep(older_than: timedelta = timedelta(seconds=5), limit: int = 100) -> list[int]:
    """Find signals accepted but not finished (a dead worker, a lost dispatch) and execute them."""
    now = utcnow()
    async with session_scope() as session:
        rows = await session.exec(
            select(Signal.id).where(or_(
                and_(col(Signal.status) == SignalStatus.ACCEPTED.value, col(Signal.received_at) < now - older_than),
                and_(col(Signal.status) == SignalStatus.EXECUTING.value, col(Signal.claimed_at) < now - STALE_CLAIM),
            )).order_by(col(Signal.id)).limit(limit)
        )
        ids = [i for i in rows.all() if i is not None]
    done = []
    for signal_id in ids:
        if await execute_signal(signal_id) is not None:
            done.append(signal_id)
    return done


__all__ = ["Outcome", "claim", "execute_signal", "sweep"]
