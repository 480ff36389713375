"""Every allowed move succeeds; every other pair of states raises."""

from __future__ import annotations

import itertools
from enum import StrEnum

import pytest

from trading_app.domain.enums import OrderStatus as O
from trading_app.domain.enums import PositionStatus as P
from trading_app.domain.enums import SignalStatus as S
from trading_app.domain.errors import InvalidTransition
from trading_app.domain.lifecycle import (
    ORDER,
    POSITION,
    SIGNAL,
    Machine,
    can_transition,
    is_terminal,
    transition,
)

# Written out independently of the tables so an accidental edit there fails here
EXPECTED: dict[str, set[tuple[StrEnum, StrEnum]]] = {
    "signal": {
        (S.ACCEPTED, S.EXECUTING),
        (S.EXECUTING, S.EXECUTED),
        (S.EXECUTING, S.REJECTED),
        (S.EXECUTING, S.FAILED),
        (S.EXECUTING, S.ACCEPTED),
        (S.EXECUTING, S.CANCELLED),
        (S.EXECUTED, S.CANCELLED),
    },
    "position": {
        (P.OPENING, P.OPEN),
        (P.OPENING, P.FAILED),
        (P.OPENING, P.CANCELLED),
        (P.OPENING, P.FAILED_PROTECTION),
        (P.OPEN, P.CLOSING),
        (P.OPEN, P.CLOSED),
        (P.OPEN, P.FAILED_PROTECTION),
        (P.CLOSING, P.CLOSED),
        (P.CLOSING, P.OPEN),
        (P.FAILED_PROTECTION, P.CLOSED),
    },
    "order": {
        *((O.PENDING, t) for t in (O.OPEN, O.UNTRIGGERED, O.PARTIALLY_FILLED, O.FILLED)),
        *((O.PENDING, t) for t in (O.CANCELED, O.REJECTED, O.EXPIRED)),
        *((O.UNTRIGGERED, t) for t in (O.OPEN, O.PARTIALLY_FILLED, O.FILLED)),
        *((O.UNTRIGGERED, t) for t in (O.CANCELED, O.REJECTED, O.EXPIRED)),
        *((O.OPEN, t) for t in (O.PARTIALLY_FILLED, O.FILLED, O.CANCELED, O.REJECTED, O.EXPIRED)),
        *((O.PARTIALLY_FILLED, t) for t in (O.PARTIALLY_FILLED, O.FILLED, O.CANCELED, O.EXPIRED)),
    },
}
MACHINES: list[Machine] = [SIGNAL, POSITION, ORDER]
ALL_PAIRS = [
    (machine, a, b) for machine in MACHINES for a, b in itertools.product(machine.states, machine.states)
]


@pytest.mark.parametrize(
    ("machine", "current", "target"), ALL_PAIRS, ids=lambda v: getattr(v, "name", str(v))
)
def test_every_pair_is_allowed_exactly_when_expected(
    machine: Machine, current: StrEnum, target: StrEnum
) -> None:
    if (current, target) in EXPECTED[machine.name]:
        assert transition(machine, current, target) is target
        assert can_transition(machine, current, target)
    else:
        with pytest.raises(InvalidTransition) as e:
            transition(machine, current, target)
        assert (e.value.machine, e.value.current, e.value.target) == (machine.name, current, target)
        assert not can_transition(machine, current, target)


@pytest.mark.parametrize("machine", MACHINES, ids=lambda m: m.name)
def test_tables_match_the_expected_sets(machine: Machine) -> None:
    assert set(machine.table) == EXPECTED[machine.name]
    assert all(machine.table.values()), "every edge says why it exists"


@pytest.mark.parametrize("machine", MACHINES, ids=lambda m: m.name)
def test_terminal_states_have_no_way_out(machine: Machine) -> None:
    for state in machine.terminal:
        assert is_terminal(machine, state)
        assert not any(source is state for source, _ in machine.table)


@pytest.mark.parametrize("machine", MACHINES, ids=lambda m: m.name)
def test_every_state_is_reachable_and_can_finish(machine: Machine) -> None:
    edges = set(machine.table)
    reachable = set(machine.initial)
    while True:
        more = {b for a, b in edges if a in reachable} - reachable
        if not more:
            break
        reachable |= more
    assert reachable == set(machine.states)
    for state in machine.states:
        seen, frontier = {state}, {state}
        while frontier:
            frontier = {b for a, b in edges if a in frontier} - seen
            seen |= frontier
        assert seen & machine.terminal, f"{state} can never finish"


def test_stored_strings_are_accepted_and_the_enum_returned() -> None:
    assert transition(SIGNAL, "ACCEPTED", "EXECUTING") is S.EXECUTING
    assert transition(ORDER, "PENDING", "FILLED") is O.FILLED
    assert is_terminal(POSITION, "CLOSED") and not is_terminal(POSITION, "OPEN")


@pytest.mark.parametrize(
    ("current", "target"), [("BOGUS", "EXECUTING"), ("ACCEPTED", "bogus"), ("accepted", "EXECUTING")]
)
def test_unknown_statuses_raise(current: str, target: str) -> None:
    with pytest.raises(InvalidTransition):
        transition(SIGNAL, current, target)
    assert not can_transition(SIGNAL, current, target)
    assert not is_terminal(SIGNAL, "BOGUS")


def test_a_status_from_another_machine_is_refused() -> None:
    with pytest.raises(InvalidTransition):
        transition(POSITION, "PENDING", "OPEN")


def test_a_cancelled_entry_is_final_and_only_an_unfilled_opening_position_gets_there() -> None:
    assert transition(POSITION, "OPENING", "CANCELLED") is P.CANCELLED
    assert is_terminal(POSITION, "CANCELLED") and is_terminal(SIGNAL, "CANCELLED")
    for source in (P.OPEN, P.CLOSING, P.FAILED_PROTECTION, P.CLOSED, P.FAILED):
        assert not can_transition(POSITION, source, P.CANCELLED)
    # an executed alert whose resting entry is cancelled says so; a rejected or failed one cannot
    assert transition(SIGNAL, "EXECUTED", "CANCELLED") is S.CANCELLED
    assert not can_transition(SIGNAL, S.REJECTED, S.CANCELLED)
    assert not can_transition(SIGNAL, S.FAILED, S.CANCELLED)
    assert not can_transition(SIGNAL, S.ACCEPTED, S.CANCELLED)
