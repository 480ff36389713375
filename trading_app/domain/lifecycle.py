"""Lifecycles of signals, positions and orders as transition tables.

A status column is only ever changed through `transition()`: a move that is not in its
machine's table raises `InvalidTransition`. Each table maps an allowed (from, to) pair to
the reason it exists, so the table documents itself.

Decisions beyond the design page's happy paths:
- signal EXECUTING -> ACCEPTED releases a claim for a retry (the claimant crashed or the
  venue was temporarily unreachable). This is safe because every venue order's client id
  is a pure function of the signal id: a second run re-sends the same orders.
- position OPENING -> FAILED_PROTECTION: the entry filled but the stop could not be placed
  before the position was ever marked OPEN; it is flattened like an OPEN one.
- position OPEN -> CLOSED: the monitor found the stop or take-profit filled (or the
  position gone on the venue) without our asking for a close.
- position CLOSING -> OPEN: our close order did not fill; the position is still there.
- order REJECTED is also reachable after OPEN / UNTRIGGERED: a venue may drop an order it
  first acknowledged (dYdX removes a triggered reduce-only order whose position is gone).
- order PARTIALLY_FILLED -> PARTIALLY_FILLED records further partial fills. No other state
  moves to itself: callers compare before calling.
- position OPENING -> CANCELLED vs OPENING -> FAILED: a limit entry that rested on the book and
  ended without any fill because it was cancelled (by the trader on the dashboard, over REST or
  with close-all; by a close/reverse alert; by hand on the venue) or because its good-til passed
  is CANCELLED (its `close_reason` says who: MANUAL, SIGNAL, REVERSED, EXTERNAL or EXPIRED).
  FAILED stays for an entry that never got onto the book: refused by the venue, a market (IOC)
  entry that found no liquidity, or one that never reached the venue. A resting entry that part
  filled before its cancel is not cancelled: the filled part is protected and OPEN.
- signal EXECUTED -> CANCELLED: an alert whose limit entry was resting is EXECUTED; when that
  entry is later cancelled (or expires) unfilled, the alert log says CANCELLED. EXECUTED is
  therefore not terminal in the table, though no other move leaves it. EXECUTING -> CANCELLED
  is the same end reached while the signal is still being executed (a resumed execution).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from enum import StrEnum
from types import MappingProxyType
from typing import Generic, TypeVar

from trading_app.domain.enums import OrderStatus, PositionStatus, SignalStatus
from trading_app.domain.errors import InvalidTransition

S = TypeVar("S", bound=StrEnum)


@dataclass(frozen=True)
class Machine(Generic[S]):
    """One lifecycle: its states, allowed moves, and where rows start and end."""

    name: str
    states: type[S]
    table: Mapping[tuple[S, S], str]
    initial: frozenset[S]
    terminal: frozenset[S]


_S, _P, _O = SignalStatus, PositionStatus, OrderStatus

SIGNAL: Machine[SignalStatus] = Machine(
    name="signal",
    states=SignalStatus,
    table=MappingProxyType(
        {
            (_S.ACCEPTED, _S.EXECUTING): "claimed by one executor",
            (_S.EXECUTING, _S.EXECUTED): "entry placed and protected",
            (_S.EXECUTING, _S.REJECTED): "risk checks refused it",
            (_S.EXECUTING, _S.FAILED): "the venue refused or the entry could not be protected",
            (_S.EXECUTING, _S.ACCEPTED): "claim released for a retry; client ids make it idempotent",
            (_S.EXECUTING, _S.CANCELLED): "its limit entry was cancelled or expired before any fill",
            (_S.EXECUTED, _S.CANCELLED): "its resting limit entry was cancelled or expired before any fill",
        }
    ),
    # an alert refused at the door is stored directly as REJECTED
    initial=frozenset({_S.ACCEPTED, _S.REJECTED}),
    terminal=frozenset({_S.REJECTED, _S.FAILED, _S.CANCELLED}),
)

POSITION: Machine[PositionStatus] = Machine(
    name="position",
    states=PositionStatus,
    table=MappingProxyType(
        {
            (_P.OPENING, _P.OPEN): "entry filled and protected",
            (_P.OPENING, _P.FAILED): "entry never filled: refused, or no liquidity for a market entry",
            (_P.OPENING, _P.CANCELLED): "resting limit entry cancelled or expired before any fill",
            (_P.OPENING, _P.FAILED_PROTECTION): "entry filled, stop could not be placed: flattening",
            (_P.OPEN, _P.CLOSING): "a close was requested",
            (_P.OPEN, _P.CLOSED): "stop or take-profit filled, or the position is gone on the venue",
            (_P.OPEN, _P.FAILED_PROTECTION): "protection lost and not re-placeable: flattening",
            (_P.CLOSING, _P.CLOSED): "close filled",
            (_P.CLOSING, _P.OPEN): "close did not fill; the position is still there",
            (_P.FAILED_PROTECTION, _P.CLOSED): "flattened",
        }
    ),
    initial=frozenset({_P.OPENING}),
    terminal=frozenset({_P.CLOSED, _P.FAILED, _P.CANCELLED}),
)

ORDER: Machine[OrderStatus] = Machine(
    name="order",
    states=OrderStatus,
    table=MappingProxyType(
        {
            (_O.PENDING, _O.OPEN): "resting on the book",
            (_O.PENDING, _O.UNTRIGGERED): "conditional order accepted",
            (_O.PENDING, _O.PARTIALLY_FILLED): "part filled before we first saw it",
            (_O.PENDING, _O.FILLED): "IOC filled at once",
            (_O.PENDING, _O.CANCELED): "IOC found no liquidity, or cancelled before seen",
            (_O.PENDING, _O.REJECTED): "the venue refused it",
            (_O.PENDING, _O.EXPIRED): "good-til passed before it was seen",
            (_O.UNTRIGGERED, _O.OPEN): "triggered and resting",
            (_O.UNTRIGGERED, _O.PARTIALLY_FILLED): "triggered and part filled",
            (_O.UNTRIGGERED, _O.FILLED): "triggered and filled",
            (_O.UNTRIGGERED, _O.CANCELED): "cancelled before triggering",
            (_O.UNTRIGGERED, _O.REJECTED): "triggered but refused (e.g. reduce-only with no position)",
            (_O.UNTRIGGERED, _O.EXPIRED): "good-til-time passed",
            (_O.OPEN, _O.PARTIALLY_FILLED): "part filled",
            (_O.OPEN, _O.FILLED): "filled",
            (_O.OPEN, _O.CANCELED): "cancelled",
            (_O.OPEN, _O.REJECTED): "removed by the venue after acknowledging it",
            (_O.OPEN, _O.EXPIRED): "good-til passed",
            (_O.PARTIALLY_FILLED, _O.PARTIALLY_FILLED): "another partial fill",
            (_O.PARTIALLY_FILLED, _O.FILLED): "the rest filled",
            (_O.PARTIALLY_FILLED, _O.CANCELED): "rest cancelled",
            (_O.PARTIALLY_FILLED, _O.EXPIRED): "rest expired",
        }
    ),
    initial=frozenset({_O.PENDING}),
    terminal=frozenset({_O.FILLED, _O.CANCELED, _O.REJECTED, _O.EXPIRED}),
)


def _coerce(machine: Machine[S], value: str) -> S | None:
    try:
        return machine.states(value)
    except ValueError:
        return None


def can_transition(machine: Machine[S], current: str, target: str) -> bool:
    """Whether `machine` allows `current -> target` (statuses as enums or stored strings)."""
    source, destination = _coerce(machine, current), _coerce(machine, target)
    return source is not None and destination is not None and (source, destination) in machine.table


def transition(machine: Machine[S], current: str, target: str) -> S:
    """Validate one status change.

    Args:
        machine: `SIGNAL`, `POSITION` or `ORDER`.
        current: The status the row has now (enum member or the string the database stores).
        target: The status wanted.

    Returns:
        `target` as the machine's enum.

    Raises:
        InvalidTransition: the move is not in the table, or either status is unknown.
    """
    if not can_transition(machine, current, target):
        raise InvalidTransition(machine.name, str(current), str(target))
    return machine.states(target)


def is_terminal(machine: Machine[S], status: str) -> bool:
    """Whether `status` is final: no move leaves it."""
    state = _coerce(machine, status)
    return state is not None and state in machine.terminal
