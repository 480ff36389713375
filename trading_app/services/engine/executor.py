"""Execute one accepted signal, exactly once: claim -> risk -> entry -> protection -> books.

The claim (`claims`) makes one worker the executor, and keeps one trader's market in arrival
order. Because every order's client id is derived from the signal id and every step is persisted
before it is sent, a takeover after a crash continues the same orders instead of placing new ones.

An execution never decides from a wait that ran out: an entry whose fate the venue has not
settled yet leaves the signal EXECUTING ("in doubt", with the reason in the alert log); the sweep
resumes it, and the position it leaves behind is protected as soon as the venue reports the fill.

What a signal does with a market that has a live position (refuse, close, reverse) is decided by
`plan` from the rows read with the claim, before the venue is built.
"""

from __future__ import annotations

import json
import logging
from dataclasses import dataclass
from datetime import datetime, timedelta

from trading_app.db.engine import autocommit_scope, session_scope
from trading_app.db.models import Position, Signal, TradingAccount
from trading_app.db.trading import account_and_positions, position_for_signal
from trading_app.domain.enums import (
    CloseReason,
    PositionStatus,
    SignalStatus,
)
from trading_app.domain.errors import RejectReason, RiskRejected
from trading_app.domain.sent import sent_fields
from trading_app.domain.signals import ParsedSignal
from trading_app.domain.story import Phase, end_phase
from trading_app.services.accounts.pause import PAUSED_DETAIL
from trading_app.services.accounts.venues import venue_for
from trading_app.services.engine.claims import (
    STALE_CLAIM,
    Claim,
    claim_in,
    next_in_line,
    note_in_doubt,
    unfinished,
)
from trading_app.services.engine.closing import check_close_settled
from trading_app.services.engine.entry_facts import StoredFacts, start_of_day, stored_facts
from trading_app.services.engine.open_close import FINISHED, close_position_for, open_position
from trading_app.services.engine.outcomes import (
    InDoubt,
    Move,
    Outcome,
    SignalEnd,
    closed,
    end_detail,
    opened,
)
from trading_app.services.engine.plan import Plan, Route, plan_for
from trading_app.services.engine.signal_end import finish_with_story
from trading_app.services.engine.timeline import Timeline, write_soon
from trading_app.services.engine.trader import Trader
from trading_app.services.notify import events, messages
from trading_app.services.notify.notifier import get_notifier
from trading_app.services.ops.logs import bind, log_context
from trading_app.venues.errors import OrderRejected, UnknownMarket, VenueError, VenueTemporaryError

log = logging.getLogger(__name__)

MAX_ATTEMPTS = 5  # executions of one signal that ended in an unexpected error before it fails


@dataclass
class _Claimed:
    """What the claim's transaction read besides the signal."""

    claim: Claim
    account: TradingAccount | None
    network: str
    positions: list[Position]  # positions_for_execution rows
    since: datetime


async def _claim_and_read(signal_id: int) -> _Claimed | None:
    """Claim, then read the trader's account and every position the execution needs.

    Two statements, each committed on its own (no BEGIN/COMMIT round trips): the claim is
    one conditional UPDATE, complete by itself, and one read of the account and the positions
    (they need no common snapshot with the claim: the positions are re-checked by the unique
    index and the row locks of every later write).
    """
    async with autocommit_scope() as session:
        signal = await claim_in(session, signal_id)
        if signal is None:
            return None
        since = start_of_day()
        # a test alert always runs on paper, whatever network the account trades on
        account, network, rows = await account_and_positions(
            session, signal.user_address, signal.paper, signal.id, since
        )
    return _Claimed(Claim(signal), account, network, rows, since)


def _paused(claimed: _Claimed) -> bool:
    """Paused after the alert was accepted: refused, unless an earlier attempt already has a
    position for it (that attempt is finished, never abandoned half-way)."""
    signal = claimed.claim.signal
    return (
        claimed.account is not None
        and claimed.account.paused_at is not None
        and not any(p.signal_id == signal.id for p in claimed.positions)
    )


def _parsed(signal: Signal) -> ParsedSignal:
    # `signals.parsed` holds ParsedSignal.to_dict()
    return ParsedSignal.from_dict(json.loads(signal.parsed or "{}"))


async def execute_signal(signal_id: int) -> Outcome | None:
    """Execute one signal if this worker wins the claim, then the ones that waited behind it.

    Returns:
        The signal's outcome; None when this worker did not get the claim (another has it, it is
        finished, or an earlier signal of the same market has not finished). An outcome whose
        status is EXECUTING means the entry is in doubt: the sweep resumes it.
    """
    outcome = await _execute_one(signal_id)
    if outcome is None:
        return None
    follower: int | None = outcome.follower
    while follower is not None:  # the signals of this market that waited for this one, in order
        after = await _execute_one(follower)
        follower = after.follower if after is not None else None
    return outcome.outcome


@dataclass(frozen=True)
class _Done:
    outcome: Outcome
    follower: int | None


async def _execute_one(signal_id: int) -> _Done | None:
    with log_context(signal_id=signal_id):  # every log line of this execution names the signal
        return await _run_one(signal_id)


async def _run_one(signal_id: int) -> _Done | None:
    claimed = await _claim_and_read(signal_id)
    if claimed is None:
        return None
    signal, network = claimed.claim.signal, claimed.network
    user = signal.user_address
    bind(user=user)  # until `_execute_one`'s block ends
    trader: Trader | None = None
    end: SignalEnd | None = None
    timeline = Timeline()
    timeline.mark(user, signal.id, Phase.CLAIMED, {"attempt": signal.attempts}, at=signal.claimed_at)
    try:
        if _paused(claimed):
            raise RiskRejected(RejectReason.PAUSED, PAUSED_DETAIL)
        parsed = _parsed(signal)
        # refusals that need no venue (a position is open, nothing to close) end here, before one is built
        plan = plan_for(signal, parsed, claimed.positions, network, claimed.account)
        # the account row read with the claim names the venue's version: a key or network changed
        # in Settings (by any worker) is in effect before this order
        version = claimed.account.venue_version if claimed.account is not None else None
        trader = Trader(
            user=user,
            network=network,
            venue=await venue_for(user, network, version=version),
            account=claimed.account,
            notify=get_notifier(),
            claim=claimed.claim,
            timeline=timeline,
        )
        outcome, end = await _route(trader, parsed, claimed, plan)
    except InDoubt as e:
        outcome = Outcome(SignalStatus.EXECUTING, f"in_doubt: {e}", e.position_id)
    except RiskRejected as e:
        outcome = Outcome(
            SignalStatus.REJECTED, f"{e.reason.value}: {e.detail}" if e.detail else e.reason.value
        )
    except UnknownMarket as e:
        outcome = Outcome(SignalStatus.REJECTED, f"{RejectReason.UNKNOWN_MARKET.value}: {e}")
    except OrderRejected as e:
        outcome = Outcome(SignalStatus.FAILED, f"venue_rejected: {e}")
    except VenueTemporaryError as e:
        outcome = await _unavailable(signal, str(e))
    except VenueError as e:
        outcome = Outcome(SignalStatus.FAILED, f"venue_error: {e}")
    except Exception as e:  # noqa: BLE001 - a bug or a database failure: resumed, never left blocking
        outcome = _unexpected(signal, e)
    pushed_with_end = False
    follower: int | None = None
    finished = None
    if end is not None and end.outcome is not None:
        outcome = end.outcome  # already committed with the position (and the timeline with it)
    else:
        _mark_end(timeline, signal, outcome)
        # the push follows this write at once and nothing waits in between: "pushed" is recorded
        # with the end instead of by a write of its own after it
        timeline.mark(user, signal.id, Phase.PUSHED)
        pushed_with_end = True
        if outcome.status is SignalStatus.EXECUTING:
            await note_in_doubt(signal, outcome.reason or "in_doubt", outcome.position_id, timeline)
        else:
            finished = await finish_with_story(
                signal, outcome.status, outcome.reason, outcome.position_id, timeline
            )
    if outcome.status not in (SignalStatus.EXECUTED, SignalStatus.EXECUTING):
        # named as the trader wrote it, the reason in plain words with its code second
        sent = sent_fields(signal.raw_body)[1] or signal.market
        get_notifier().notify_soon(
            user,
            "rejected",
            messages.SignalRejected.of(network, signal.id, sent, outcome.reason, outcome.status.value),
        )
    with log_context(position_id=outcome.position_id):  # the one line an operator follows an alert by
        reason = f": {outcome.reason}" if outcome.reason else ""
        log.info("signal %s %s%s", signal.id, outcome.status.value, reason)
    if outcome.position_id is None and outcome.status is SignalStatus.REJECTED:
        # no position changed, the alert log did: the same push to the trader's tabs, named so
        await events.alerts_changed(user)
    else:
        await events.positions_changed(user)
    if not pushed_with_end:
        write_soon(user, signal.id, Phase.PUSHED)  # after the last commit: nothing waits for it
    if finished is not None:
        follower = finished.follower  # read with the end, after it committed
    elif outcome.status is not SignalStatus.EXECUTING:
        follower = await next_in_line(user, signal.market)
    return _Done(outcome, follower)


def _mark_end(timeline: Timeline, signal: Signal, outcome: Outcome) -> None:
    detail = end_detail(outcome)
    if outcome.status is SignalStatus.REJECTED and timeline.facts:
        detail = {**timeline.facts, **detail}  # the equity the refused sizing read
    timeline.mark(signal.user_address, signal.id, end_phase(outcome.status.value), detail)


def _unexpected(signal: Signal, error: Exception) -> Outcome:
    """An error no rule expects (a bug, the database gone): the signal is resumed a few times (its
    orders keep their ids, so a resume sends nothing twice); then it fails visibly, so the signals
    of its market waiting behind it are not blocked for ever."""
    log.exception(
        "signal %s: execution failed (%s), attempt %s", signal.id, type(error).__name__, signal.attempts
    )
    if signal.attempts >= MAX_ATTEMPTS:
        return Outcome(
            SignalStatus.FAILED,
            f"internal_error: execution failed {signal.attempts} times "
            f"({type(error).__name__}); look at this market's position before sending more",
        )
    return Outcome(
        SignalStatus.EXECUTING, f"in_doubt: execution interrupted ({type(error).__name__}); retried"
    )


async def _unavailable(signal: Signal, detail: str) -> Outcome:
    """The venue could not be reached. Once an entry may have been sent this decides nothing
    (the sweep resumes the signal and asks the venue again); before that, the signal failed."""
    async with session_scope() as session:
        position = await position_for_signal(session, signal.user_address, signal.id or 0)
    if position is not None and position.status == PositionStatus.OPENING.value:
        return Outcome(
            SignalStatus.EXECUTING, f"in_doubt: venue unreachable ({detail}); retried", position.id
        )
    return Outcome(SignalStatus.FAILED, f"venue_unavailable: {detail}")


async def _route(
    trader: Trader, parsed: ParsedSignal, claimed: _Claimed, plan: Plan
) -> tuple[Outcome, SignalEnd | None]:
    signal, rows = claimed.claim.signal, claimed.positions
    if plan.route is Route.RESUME:
        end = SignalEnd(claimed.claim, Move.OPEN, timeline=trader.timeline)
        return opened(await open_position(trader, signal, parsed, resume=plan.position, end=end)), end
    if plan.route is Route.CLOSE:
        assert plan.position is not None
        end = SignalEnd(claimed.claim, Move.CLOSE, timeline=trader.timeline)
        position = await close_position_for(trader, plan.position, CloseReason.SIGNAL, end=end)
        await check_close_settled(trader, position)
        return closed(position), end
    stored: StoredFacts | None = stored_facts(rows, trader.network, claimed.since)
    live = plan.position
    if live is not None:  # the opposite side, to be reversed (`plan_for` refused every other case)
        done = await close_position_for(trader, live, CloseReason.REVERSED)
        await check_close_settled(trader, done)
        if done.status not in FINISHED:
            return Outcome(
                SignalStatus.FAILED, "reverse: the open position could not be closed", done.id
            ), None
        stored = None  # the close changed them: read afresh
    # a position another signal opened at the same moment: open_position says POSITION_EXISTS
    end = SignalEnd(claimed.claim, Move.OPEN, timeline=trader.timeline)
    return opened(await open_position(trader, signal, parsed, side=plan.side, stored=stored, end=end)), end


async def sweep(older_than: timedelta = timedelta(seconds=5), limit: int = 100) -> list[int]:
    """Find signals accepted but not finished (a dead worker, a lost dispatch, an entry in doubt)
    and execute them, oldest first."""
    done = []
    for signal_id in await unfinished(older_than, limit):
        try:
            if await execute_signal(signal_id) is not None:
                done.append(signal_id)
        except Exception:  # noqa: BLE001 - one signal must not stop the sweep of the others
            log.exception("sweep: signal %s could not be executed; the next sweep tries again", signal_id)
    return done


__all__ = ["STALE_CLAIM", "execute_signal", "sweep"]
