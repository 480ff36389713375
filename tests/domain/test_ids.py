"""Client ids: deterministic, unique per (signal, role, attempt), always a uint32 above zero."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from trading_app.domain.enums import OrderRole
from trading_app.domain.errors import ClientIdOverflow
from trading_app.domain.ids import (
    SIGNAL_ID_LIMIT,
    client_id_for,
    decode_client_id,
    is_repair_id,
    repair_client_id,
)

ROLES = list(OrderRole)


def test_same_arguments_give_the_same_id() -> None:
    assert client_id_for(42, OrderRole.ENTRY) == client_id_for(42, OrderRole.ENTRY, 0) == 42 << 4


def test_layout_is_stable() -> None:
    # stored ids depend on this packing: changing it would orphan every live order
    assert client_id_for(1, OrderRole.ENTRY) == 0b1_00_00
    assert client_id_for(1, OrderRole.STOP_LOSS) == 0b1_01_00
    assert client_id_for(1, OrderRole.TAKE_PROFIT, 3) == 0b1_10_11
    assert client_id_for(5, OrderRole.CLOSE, 2) == 0b101_11_10


def test_every_role_has_a_code() -> None:
    ids = {client_id_for(7, role) for role in ROLES}
    assert len(ids) == len(ROLES)


def test_ids_are_unique_over_a_large_range() -> None:
    seen: set[int] = set()
    count = 0
    for signal_id in range(1, 20_001):
        for role in ROLES:
            for attempt in range(4):
                cid = client_id_for(signal_id, role, attempt)
                assert 0 < cid < 2**32
                seen.add(cid)
                count += 1
    assert len(seen) == count


def test_ids_at_the_top_of_the_range_are_unique_and_fit() -> None:
    top = SIGNAL_ID_LIMIT - 1
    ids = {client_id_for(s, r, a) for s in range(top - 500, top + 1) for r in ROLES for a in range(4)}
    assert len(ids) == 501 * 16
    assert max(ids) == 2**31 - 1  # the top bit belongs to repair ids


@pytest.mark.parametrize("signal_id", [SIGNAL_ID_LIMIT, SIGNAL_ID_LIMIT + 1, 2**40])
def test_signal_ids_past_the_limit_raise_instead_of_wrapping(signal_id: int) -> None:
    with pytest.raises(ClientIdOverflow):
        client_id_for(signal_id, OrderRole.ENTRY)


@pytest.mark.parametrize("signal_id", [0, -1, True, 1.0, "3"])
def test_invalid_signal_ids_are_refused(signal_id: object) -> None:
    with pytest.raises(ValueError):
        client_id_for(signal_id, OrderRole.ENTRY)  # type: ignore[arg-type]


@pytest.mark.parametrize("attempt", [-1, 4, 100, True])
def test_attempt_outside_0_to_3_is_refused(attempt: object) -> None:
    with pytest.raises(ValueError):
        client_id_for(1, OrderRole.ENTRY, attempt)  # type: ignore[arg-type]


@given(
    signal_id=st.integers(min_value=1, max_value=SIGNAL_ID_LIMIT - 1),
    role=st.sampled_from(ROLES),
    attempt=st.integers(min_value=0, max_value=3),
)
def test_decode_inverts_the_derivation(signal_id: int, role: OrderRole, attempt: int) -> None:
    assert decode_client_id(client_id_for(signal_id, role, attempt)) == (signal_id, role, attempt)


@pytest.mark.parametrize("client_id", [0, 15, 2**32, -5])
def test_decode_refuses_ids_we_never_derive(client_id: int) -> None:
    with pytest.raises(ValueError):
        decode_client_id(client_id)


def test_repair_ids_never_meet_signal_ids() -> None:
    signals = (1, 2, SIGNAL_ID_LIMIT - 1)
    signal_ids = {client_id_for(s, r, a) for s in signals for r in ROLES for a in range(4)}
    repairs = {repair_client_id(n) for n in (1, 2, 3, 2**31 - 1)}
    assert not signal_ids & repairs
    assert all(is_repair_id(c) for c in repairs) and not any(is_repair_id(c) for c in signal_ids)
    assert max(repairs) == 2**32 - 1


@pytest.mark.parametrize("sequence", [0, -1, 2**31, True])
def test_a_repair_sequence_out_of_range_is_refused(sequence: int) -> None:
    with pytest.raises((ValueError, ClientIdOverflow)):
        repair_client_id(sequence)


def test_a_repair_id_does_not_decode_as_a_signal() -> None:
    with pytest.raises(ValueError):
        decode_client_id(repair_client_id(7))
