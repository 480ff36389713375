"""What an executing signal will do with its market, decided from the rows read with its claim.

Pure but for the clock and the settings: no venue, no database. Most refusals (a position is open
in that market, nothing to close, an alert too old to open) are decided here, so the executor
refuses them before it builds the trader's venue (for dYdX: credentials opened, a signer).

Second signal for a market with a live position (documented in the README):
- same direction: refused (`position_exists`): no pyramiding, so a repeated alert can never
  double the exposure;
- opposite direction: refused by default; with the account's `same_market_policy` set to
  `reverse` the position is closed and the new one opened;
- `close` / `flat` closes it; `reverse` flips it (closes, then opens the other side).
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum

from trading_app.db.models import ACTIVE_POSITION_STATUSES, Position, Signal, TradingAccount
from trading_app.domain.clock import utcnow
from trading_app.domain.enums import CloseReason, PositionSide, SignalAction
from trading_app.domain.errors import RejectReason, RiskRejected
from trading_app.domain.signals import ParsedSignal
from trading_app.settings import get_settings


class Route(StrEnum):
    """The executor's way for a signal."""

    RESUME = "resume"  # an earlier attempt has a position for this signal: continue it
    CLOSE = "close"
    OPEN = "open"  # after closing `position` first when it is the opposite side (a reversal)


@dataclass(frozen=True)
class Plan:
    """The route, the position it acts on (the attempt's own, or the live one) and the side to open."""

    route: Route
    position: Position | None = None
    side: PositionSide | None = None


def plan_for(
    signal: Signal,
    parsed: ParsedSignal,
    rows: list[Position],
    network: str,
    account: TradingAccount | None,
) -> Plan:
    """Decide the route of `signal`, or refuse it.

    Args:
        rows: the positions read with the claim (`positions_for_execution`).
        network: the network the signal trades on.
        account: the trader's account row (its `same_market_policy`), None when there is none.

    Raises:
        RiskRejected: `no_position`, `stale` or `position_exists`.
    """
    mine = next((p for p in reversed(rows) if p.signal_id == signal.id), None)
    if mine is not None:  # a previous attempt got this far: continue it, never start again
        return Plan(Route.RESUME, mine)
    live = next(
        (
            p
            for p in rows
            if p.network == network and p.market == parsed.market and p.status in ACTIVE_POSITION_STATUSES
        ),
        None,
    )
    if parsed.action is SignalAction.CLOSE:
        if live is None:
            raise RiskRejected(RejectReason.NO_POSITION, f"no open {parsed.market} position to close")
        return Plan(Route.CLOSE, live)
    side = parsed.position_side
    if parsed.action is SignalAction.REVERSE:
        if live is None:
            # resumed after its close part: the position this signal reversed names the new side
            done = _reversed_by(signal, rows, parsed.market)
            if done is None:
                raise RiskRejected(RejectReason.NO_POSITION, f"no open {parsed.market} position to reverse")
            side = PositionSide(done.side).opposite
        else:
            side = PositionSide(live.side).opposite
    elif _stale(signal):
        raise RiskRejected(
            RejectReason.STALE,
            f"it waited {_age(signal)} s before it could run (longer than "
            "an alert may be old): not opened late",
        )
    assert side is not None
    if live is not None:
        if live.side == side.value:
            raise RiskRejected(
                RejectReason.POSITION_EXISTS, f"a {live.side.lower()} {parsed.market} position is open"
            )
        policy = account.same_market_policy if account else "reject"
        if parsed.action is not SignalAction.REVERSE and policy != "reverse":
            raise RiskRejected(
                RejectReason.POSITION_EXISTS,
                f"a {live.side.lower()} {parsed.market} position is open; send close or reverse",
            )
    return Plan(Route.OPEN, live, side)


def _age(signal: Signal) -> int:
    return int((utcnow() - signal.received_at).total_seconds())


def _stale(signal: Signal) -> bool:
    """An opening alert that could only run now, longer after it arrived than an alert may be old
    (it waited behind one in doubt, or for a dead worker's claim): the market has moved on."""
    return _age(signal) > get_settings().webhook_max_lag_seconds


def _reversed_by(signal: Signal, rows: list[Position], market: str) -> Position | None:
    """The position a `reverse` closed before its worker stopped (closed by a reversal since the
    signal arrived)."""
    return next(
        (
            p
            for p in reversed(rows)
            if p.market == market
            and p.close_reason == CloseReason.REVERSED.value
            and p.closed_at is not None
            and p.closed_at >= signal.received_at
        ),
        None,
    )


__all__ = ["Plan", "Route", "plan_for"]
