"""The client's IP address, honouring X-Forwarded-For only from our own proxies.

X-Forwarded-For is written by whoever sends the request, so it is believed only when the
TCP peer is one of `settings.trusted_proxies` (IPs or CIDR blocks). The list is then read
from the right, skipping our own proxies; the first other address is the client. That is
the hop our proxy itself saw, which a client cannot forge. Several X-Forwarded-For header lines
are one list, joined in the order received (RFC 9110 5.3): reading only the first line would
believe the client's own line over the one our proxy added.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Iterable
from functools import lru_cache

from starlette.requests import HTTPConnection

from trading_app.settings import get_settings

Network = ipaddress.IPv4Network | ipaddress.IPv6Network


@lru_cache(maxsize=16)
def _networks(entries: tuple[str, ...]) -> tuple[Network, ...]:
    return tuple(ipaddress.ip_network(e.strip(), strict=False) for e in entries if e.strip())


def _ip(text: str) -> ipaddress.IPv4Address | ipaddress.IPv6Address | None:
    try:
        return ipaddress.ip_address(text.strip())
    except ValueError:
        return None


def resolve_client_ip(peer: str, forwarded_for: str | None, trusted_proxies: Iterable[str]) -> str:
    """Pure form of `client_ip`: the client address given the peer, the header and the trust list."""
    networks = _networks(tuple(trusted_proxies))

    def trusted(address: str) -> bool:
        ip = _ip(address)
        return ip is not None and any(ip in net for net in networks)

    if not forwarded_for or not trusted(peer):
        return peer
    hops = [h.strip() for h in forwarded_for.split(",") if h.strip()]
    for hop in reversed(hops):
        if trusted(hop):
            continue
        # a malformed entry right of every real client means a misconfigured proxy chain
        return hop if _ip(hop) is not None else peer
    return hops[0] if hops else peer


def joined_forwarded_for(lines: Iterable[str]) -> str | None:
    """Every X-Forwarded-For header line as one comma-separated list, in the order received."""
    joined = ", ".join(lines)
    return joined or None


def client_ip(connection: HTTPConnection) -> str:
    """The client IP of a Starlette request or websocket."""
    peer = connection.client.host if connection.client else "0.0.0.0"  # noqa: S104 - unknown peer
    forwarded = joined_forwarded_for(connection.headers.getlist("x-forwarded-for"))
    return resolve_client_ip(peer, forwarded, get_settings().trusted_proxies)
