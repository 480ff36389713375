"""X-Forwarded-For is believed only from trusted proxies."""

from __future__ import annotations

import pytest
from starlette.requests import Request

from tests.conftest import reset_app_caches
from trading_app.api.client_ip import client_ip, resolve_client_ip

PROXIES = ["10.0.0.0/8", "192.168.1.5"]


@pytest.mark.parametrize(
    ("peer", "xff", "expected"),
    [
        ("203.0.113.9", None, "203.0.113.9"),
        ("203.0.113.9", "1.2.3.4", "203.0.113.9"),  # untrusted peer: header ignored
        ("10.1.1.1", None, "10.1.1.1"),
        ("10.1.1.1", "1.2.3.4", "1.2.3.4"),
        ("10.1.1.1", "6.6.6.6, 1.2.3.4", "1.2.3.4"),  # the client's own fake entry is left of the real one
        ("10.1.1.1", "1.2.3.4, 192.168.1.5", "1.2.3.4"),  # our second proxy is skipped
        ("10.1.1.1", "10.2.2.2, 10.3.3.3", "10.2.2.2"),  # only our proxies: the leftmost
        ("10.1.1.1", "6.6.6.6, garbage", "10.1.1.1"),  # a broken chain falls back to the peer
        ("10.1.1.1", " , ", "10.1.1.1"),
        ("10.1.1.1", "2001:db8::1", "2001:db8::1"),
        ("not-an-ip", "1.2.3.4", "not-an-ip"),
    ],
)
def test_resolve_client_ip(peer: str, xff: str | None, expected: str) -> None:
    assert resolve_client_ip(peer, xff, PROXIES) == expected


def test_no_trusted_proxies_means_the_peer() -> None:
    assert resolve_client_ip("10.1.1.1", "1.2.3.4", []) == "10.1.1.1"


def request(peer: str, *lines: str) -> Request:
    headers = [(b"x-forwarded-for", line.encode()) for line in lines]
    return Request({"type": "http", "method": "GET", "path": "/", "headers": headers, "client": (peer, 1)})


def test_every_forwarded_for_line_counts_in_the_order_received(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TRUSTED_PROXIES", ",".join(PROXIES))
    reset_app_caches()
    try:
        # the client's own line first, the line our proxy added second: the proxy's hop is the client
        assert client_ip(request("10.1.1.1", "6.6.6.6", "1.2.3.4")) == "1.2.3.4"
        assert client_ip(request("10.1.1.1", "6.6.6.6, 7.7.7.7", "1.2.3.4, 192.168.1.5")) == "1.2.3.4"
        assert client_ip(request("10.1.1.1", "1.2.3.4", "garbage")) == "10.1.1.1"
        assert client_ip(request("10.1.1.1", "1.2.3.4")) == "1.2.3.4"
        assert client_ip(request("203.0.113.9", "1.2.3.4", "5.6.7.8")) == "203.0.113.9"  # untrusted peer
    finally:
        monkeypatch.delenv("TRUSTED_PROXIES")
        reset_app_caches()
