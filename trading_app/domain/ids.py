"""Venue client ids derived from our own ids, so a resend can never create a second order.

dYdX identifies an order by (subaccount, client id, order flags, clob pair) and a client id
is a uint32. We pack our ids into it:

    client_id = signal_id << 4 | role_code << 2 | attempt          (top bit 0)
    client_id = 1 << 31 | repair_seq                               (top bit 1)

- `signal_id` (1 .. 2**27 - 1) is the `signals` row id, unique across all users;
- `role_code` (2 bits) says which order of the signal it is (entry, stop-loss, ...);
- `attempt` (0 .. 3) lets the monitor re-place a protection order that the venue removed,
  under a new id, without ever colliding with the first one.
- past a signal's four attempts (a flatten that keeps finding no liquidity, a stop the venue keeps
  dropping), orders take *repair* ids: the top bit set and a per-user sequence number
  (`users.repair_seq`, 1 .. 2**31 - 1), so a re-placement never runs out of fresh ids.

Ids are never wrapped: after 2**27 - 1 signals the derivation raises `ClientIdOverflow`.
Wrapping would reuse the id of an old order of possibly the same user, which the
`orders` / `paper_orders` unique constraints (and dYdX's "previously cancelled" checks)
would refuse, so an explicit failure is the honest outcome. Signal id 0 is refused because
it would give client id 0 for its entry.
"""

from __future__ import annotations

from types import MappingProxyType

from trading_app.domain.enums import OrderRole
from trading_app.domain.errors import ClientIdOverflow

ROLE_BITS = 2
ATTEMPT_BITS = 2
MAX_ATTEMPT = (1 << ATTEMPT_BITS) - 1
# the top bit marks repair ids, so signal ids keep 27 bits
SIGNAL_ID_LIMIT = 1 << (31 - ROLE_BITS - ATTEMPT_BITS)  # 2**27: first signal id that no longer fits
REPAIR_BIT = 1 << 31

# The codes are part of every stored client id: never renumber them
ROLE_CODES = MappingProxyType(
    {OrderRole.ENTRY: 0, OrderRole.STOP_LOSS: 1, OrderRole.TAKE_PROFIT: 2, OrderRole.CLOSE: 3}
)
_ROLES_BY_CODE = {code: role for role, code in ROLE_CODES.items()}


def client_id_for(signal_id: int, role: OrderRole, attempt: int = 0) -> int:
    """Return the venue client id of one order of one signal.

    Args:
        signal_id: The `signals` row id (1 .. 2**27 - 1).
        role: Why the order exists.
        attempt: 0 for the first placement, up to 3 for re-placements.

    Returns:
        A uint32 with 0 < id < 2**32, the same for the same arguments forever.

    Raises:
        ClientIdOverflow: `signal_id` is 2**27 or more.
        ValueError: a non-positive signal id or an attempt outside 0..3.
    """
    if isinstance(signal_id, bool) or not isinstance(signal_id, int) or signal_id < 1:
        raise ValueError(f"signal id must be a positive integer, got {signal_id!r}")
    if signal_id >= SIGNAL_ID_LIMIT:
        raise ClientIdOverflow(f"signal id {signal_id} does not fit a 32-bit client id")
    if isinstance(attempt, bool) or not isinstance(attempt, int) or not 0 <= attempt <= MAX_ATTEMPT:
        raise ValueError(f"attempt must be 0..{MAX_ATTEMPT}, got {attempt!r}")
    return signal_id << (ROLE_BITS + ATTEMPT_BITS) | ROLE_CODES[role] << ATTEMPT_BITS | attempt


def repair_client_id(sequence: int) -> int:
    """Return the client id of a repair order (an order past its signal's own attempts).

    Args:
        sequence: the user's repair sequence number after taking one (1 .. 2**31 - 1).

    Raises:
        ClientIdOverflow: the user has used up 2**31 - 1 repair ids.
        ValueError: a non-positive sequence number.
    """
    if isinstance(sequence, bool) or not isinstance(sequence, int) or sequence < 1:
        raise ValueError(f"repair sequence must be a positive integer, got {sequence!r}")
    if sequence >= REPAIR_BIT:
        raise ClientIdOverflow(f"repair sequence {sequence} does not fit a 32-bit client id")
    return REPAIR_BIT | sequence


def is_repair_id(client_id: int) -> bool:
    """Whether `client_id` is a repair id (not derived from a signal)."""
    return bool(client_id & REPAIR_BIT)


def decode_client_id(client_id: int) -> tuple[int, OrderRole, int]:
    """Invert `client_id_for`: which signal, role and attempt a venue order belongs to.

    Useful to the monitor for orders found on the venue that our books do not know
    (orphans). Orders placed by hand carry arbitrary ids and decode to garbage, so
    always confirm against the database.

    Raises:
        ValueError: the id is not a uint32 or decodes to signal id 0.
    """
    if not 0 < client_id < 1 << 32:
        raise ValueError(f"client id must be a uint32 above 0, got {client_id}")
    if is_repair_id(client_id):
        raise ValueError(f"client id {client_id} is a repair id: look its order up")
    signal_id = client_id >> (ROLE_BITS + ATTEMPT_BITS)
    if signal_id == 0:
        raise ValueError(f"client id {client_id} was not derived from a signal")
    role = _ROLES_BY_CODE[client_id >> ATTEMPT_BITS & ((1 << ROLE_BITS) - 1)]
    return signal_id, role, client_id & MAX_ATTEMPT
