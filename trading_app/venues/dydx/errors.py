"""Map dYdX chain codes, gRPC statuses and indexer HTTP errors to venue errors.

`code == 0` in a BroadcastTx response only means the tx passed CheckTx on that node
(accepted); every non-zero code becomes a typed error here. Temporary errors
(`VenueTemporaryError` and its subclasses) may be retried; `OrderRejected` never is.
"""

from __future__ import annotations

import re

import grpc
import httpx

from trading_app.venues.errors import (
    OrderRejected,
    RateLimited,
    SequenceMismatch,
    VenueError,
    VenueTemporaryError,
    VenueUnavailable,
)

SDK = "sdk"
CLOB = "clob"
SDK_UNAUTHORIZED = 4
SDK_TX_IN_MEMPOOL_CACHE = 19  # the exact same tx bytes were already accepted
SDK_MEMPOOL_FULL = 20
SDK_WRONG_SEQUENCE = 32
# short-term refusals at CheckTx that name an existing copy of the order id
# (v4-chain protocol/x/clob/memclob/memclob.go validateNewOrder; types/errors.go)
CLOB_ORDER_IS_CANCELED = 9  # a cancel with a higher-or-equal good-til-block exists
CLOB_INVALID_REPLACEMENT = 20  # a live copy has a higher-or-equal good-til-block
CLOB_ORDER_FULLY_FILLED = 24
CLOB_REDUCE_ONLY_WOULD_INCREASE = 2001  # nothing to reduce: the order never existed
CLOB_IOC_ALREADY_FILLED = 2004
CLOB_CANCEL_ALREADY_PENDING = 32  # an uncommitted cancel for this stateful order exists
CLOB_ORDER_ALREADY_EXISTS = 3005  # the stateful id is in committed or uncommitted state
CLOB_ORDER_DOES_NOT_EXIST = 3006
# DeliverTx only (keeper/msg_server_place_order.go): cancelled / removed earlier in the same block
CLOB_PREVIOUSLY_CANCELLED = 3008
CLOB_PREVIOUSLY_REMOVED = 3009
CLOB_CANCEL_ALREADY_REMOVED = 3010
CLOB_BLOCK_RATE_LIMIT = 5001
CLOB_EQUITY_TIER = 10001

# Cancels that find the order already gone: the goal (no live order) is met.
CANCEL_GONE = frozenset(
    {
        (CLOB, CLOB_CANCEL_ALREADY_PENDING),
        (CLOB, CLOB_ORDER_DOES_NOT_EXIST),
        (CLOB, CLOB_PREVIOUSLY_CANCELLED),
        (CLOB, CLOB_PREVIOUSLY_REMOVED),
        (CLOB, CLOB_CANCEL_ALREADY_REMOVED),
    }
)

_EXPECTED = re.compile(r"expected (\d+)")
_MAX_LOG = 300

_CLOB_MESSAGES = {
    4: "order size is zero",
    6: "order price is zero",
    10: "good-til-block already passed",
    11: "good-til-block beyond the short block window",
    12: "invalid order (size, price or trigger not on the market grid?)",
    2001: "reduce-only order would increase the position",
    2002: "reduce-only order would change the position side",
    3002: "long-term orders cannot be immediate-or-cancel",
    3003: "good-til-block-time already passed",
    3004: "good-til-block-time more than 95 days ahead",
    3005: "an order with this client id already exists",
    3007: "not enough collateral for this order",
    6000: "invalid condition type",
    6001: "invalid trigger price",
    9003: "reduce-only orders must be immediate-or-cancel",
    CLOB_EQUITY_TIER: (
        "equity tier limit reached: this subaccount cannot hold more open stateful orders "
        "(TP/SL/limit); add collateral (under $20 allows none) or cancel open orders"
    ),
}


def parse_expected_sequence(raw_log: str) -> int | None:
    """Return N from "account sequence mismatch, expected N, got M", if present."""
    match = _EXPECTED.search(raw_log or "")
    return int(match.group(1)) if match else None


def error_for_code(codespace: str, code: int, raw_log: str = "") -> VenueError | None:
    """Classify a BroadcastTx result.

    Args:
        codespace: `tx_response.codespace` ("sdk", "clob", "accountplus", ...).
        code: `tx_response.code`; 0 means accepted.
        raw_log: `tx_response.raw_log`, kept (truncated) in the error message.

    Returns:
        None for code 0, otherwise the error to raise.
    """
    return None if code == 0 else refusal(codespace, code, raw_log)


def refusal(codespace: str, code: int, raw_log: str = "") -> VenueError:
    """The error for a BroadcastTx result the node refused (`code` is not 0).

    Args:
        codespace: `tx_response.codespace` ("sdk", "clob", "accountplus", ...).
        code: `tx_response.code`, not 0.
        raw_log: `tx_response.raw_log`, kept (truncated) in the error message.
    """
    log = (raw_log or "")[:_MAX_LOG]
    where = f"{codespace or '?'} {code}"
    if codespace == SDK and code == SDK_WRONG_SEQUENCE:
        return SequenceMismatch(f"sequence mismatch ({where}): {log}", parse_expected_sequence(raw_log))
    if codespace == CLOB and code == CLOB_BLOCK_RATE_LIMIT:
        return RateLimited(f"block rate limit for stateful orders ({where})")
    if codespace == SDK and code == SDK_MEMPOOL_FULL:
        return VenueTemporaryError(f"node mempool is full ({where})")
    if (codespace == SDK and code == SDK_UNAUTHORIZED) or codespace == "accountplus":
        return OrderRejected(
            f"the node refused the signature ({where}): check the API key, authenticator id "
            f"and owner address: {log}",
            code,
            codespace,
        )
    if codespace == CLOB and code in _CLOB_MESSAGES:
        return OrderRejected(f"{_CLOB_MESSAGES[code]} ({where}): {log}", code, codespace)
    return OrderRejected(f"order refused ({where}): {log}", code, codespace)


def error_for_rpc(e: grpc.RpcError) -> VenueError:
    """Classify a gRPC failure (transport, deadline, node-side)."""
    code = e.code() if hasattr(e, "code") else None
    details = (e.details() if hasattr(e, "details") else "") or ""
    name = code.name if code is not None else "UNKNOWN"
    if code == grpc.StatusCode.UNAVAILABLE:
        return VenueUnavailable(f"dYdX node unavailable ({name}): {details[:_MAX_LOG]}")
    if code == grpc.StatusCode.DEADLINE_EXCEEDED:
        return VenueTemporaryError(f"dYdX node did not answer in time ({name})")
    if code == grpc.StatusCode.RESOURCE_EXHAUSTED:
        return RateLimited(f"dYdX node rate limit ({name})")
    if code == grpc.StatusCode.NOT_FOUND:
        return OrderRejected(f"not found on chain: {details[:_MAX_LOG]} (is the account funded?)")
    return VenueError(f"dYdX node error ({name}): {details[:_MAX_LOG]}")


def error_for_http(e: httpx.HTTPError) -> VenueError:
    """Classify an indexer HTTP failure."""
    if isinstance(e, httpx.HTTPStatusError):
        status = e.response.status_code
        if status == 429:
            return RateLimited("dYdX indexer rate limit (HTTP 429)")
        if status >= 500:
            return VenueUnavailable(f"dYdX indexer error (HTTP {status})")
        if status == 403:
            return VenueError("dYdX indexer refused the request (HTTP 403, geo-blocked?)")
        return VenueError(f"dYdX indexer rejected the request (HTTP {status}): {e.response.text[:_MAX_LOG]}")
    if isinstance(e, httpx.TimeoutException):
        return VenueTemporaryError("dYdX indexer did not answer in time")
    return VenueUnavailable(f"dYdX indexer unreachable ({type(e).__name__})")


def is_temporary(e: BaseException) -> bool:
    """True for errors after which the same request may be resent unchanged."""
    return isinstance(e, VenueTemporaryError)
