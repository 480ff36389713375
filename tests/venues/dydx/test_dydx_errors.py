"""Chain codes, gRPC statuses and indexer HTTP errors -> typed venue errors."""

from __future__ import annotations

import grpc
import httpx
import pytest

from trading_app.venues.dydx.errors import (
    error_for_code,
    error_for_http,
    error_for_rpc,
    parse_expected_sequence,
)
from trading_app.venues.errors import (
    OrderRejected,
    RateLimited,
    SequenceMismatch,
    VenueTemporaryError,
    VenueUnavailable,
)

MISMATCH = "account sequence mismatch, expected 12, got 10: incorrect account sequence"


def test_code_zero_is_accepted():
    assert error_for_code("", 0, "") is None


def test_sdk_32_is_sequence_mismatch_with_expected():
    e = error_for_code("sdk", 32, MISMATCH)
    assert isinstance(e, SequenceMismatch) and e.expected == 12
    assert isinstance(e, VenueTemporaryError)
    assert parse_expected_sequence("garbage") is None


def test_clob_32_is_not_a_sequence_mismatch():
    # clob 32: a cancel for this stateful order is already pending
    e = error_for_code("clob", 32, "Existing stateful order cancellation has higher-or-equal priority")
    assert isinstance(e, OrderRejected) and not isinstance(e, SequenceMismatch)


def test_block_rate_limit_is_rate_limited():
    assert isinstance(error_for_code("clob", 5001, "Block rate limit exceeded"), RateLimited)


def test_equity_tier_has_a_clear_message_and_is_permanent():
    e = error_for_code("clob", 10001, "Subaccount cannot open more orders due to equity tier limit.")
    assert isinstance(e, OrderRejected) and not isinstance(e, VenueTemporaryError)
    assert "equity tier" in str(e) and "$20" in str(e)
    assert (e.codespace, e.code) == ("clob", 10001)


@pytest.mark.parametrize("code", [4, 6, 10, 11, 12, 2001, 3002, 3005, 3007, 6000, 6001, 9003, 20, 424242])
def test_invalid_order_codes_are_never_retried(code):
    e = error_for_code("clob", code, "MsgPlaceOrder is invalid")
    assert isinstance(e, OrderRejected) and not isinstance(e, VenueTemporaryError)
    assert e.code == code


def test_signature_failures_point_at_the_credentials():
    for space, code in (("sdk", 4), ("accountplus", 7)):
        e = error_for_code(space, code, "signature verification failed")
        assert isinstance(e, OrderRejected) and "API key" in str(e)


def test_mempool_full_is_temporary():
    assert isinstance(error_for_code("sdk", 20, "mempool is full"), VenueTemporaryError)


class _RpcError(grpc.RpcError):
    def __init__(self, code):
        self._code = code

    def code(self):
        return self._code

    def details(self):
        return "details"


@pytest.mark.parametrize(
    ("status", "kind"),
    [
        (grpc.StatusCode.UNAVAILABLE, VenueUnavailable),
        (grpc.StatusCode.DEADLINE_EXCEEDED, VenueTemporaryError),
        (grpc.StatusCode.RESOURCE_EXHAUSTED, RateLimited),
        (grpc.StatusCode.NOT_FOUND, OrderRejected),
    ],
)
def test_rpc_errors(status, kind):
    assert isinstance(error_for_rpc(_RpcError(status)), kind)


def test_other_rpc_errors_are_not_retryable():
    assert not isinstance(error_for_rpc(_RpcError(grpc.StatusCode.INTERNAL)), VenueTemporaryError)


def _status_error(status):
    request = httpx.Request("GET", "http://x/v4/orders")
    return httpx.HTTPStatusError("x", request=request, response=httpx.Response(status, request=request))


def test_http_errors():
    assert isinstance(error_for_http(_status_error(429)), RateLimited)
    assert isinstance(error_for_http(_status_error(503)), VenueUnavailable)
    assert not isinstance(error_for_http(_status_error(400)), VenueTemporaryError)
    assert isinstance(error_for_http(httpx.ReadTimeout("slow")), VenueTemporaryError)
    assert isinstance(error_for_http(httpx.ConnectError("refused")), VenueUnavailable)
