"""The client's address: the peer of the connection, or, when that peer is one of the
operator's reverse proxies, the address those proxies recorded in ``X-Forwarded-For``.

Anyone can send ``X-Forwarded-For``, so it is believed only from configured proxies
(GANGWAY_TRUSTED_PROXIES), and only as far as they vouch for it: the list is read
from the right (each proxy appends the peer it saw) and trusted hops are skipped; the
first hop that is not a trusted proxy is the client. A forged entry the client put at
the left is never reached while a proxy's own entry stands to its right.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Iterable, Sequence

__all__ = ["Network", "client_address", "parse_trusted_proxies"]

Network = ipaddress.IPv4Network | ipaddress.IPv6Network


def parse_trusted_proxies(value: str) -> tuple[Network, ...]:
    """``10.0.0.5, 10.1.0.0/16, ::1`` as networks; ValueError names a bad entry."""
    networks = []
    for item in value.replace(";", ",").split(","):
        entry = item.strip()
        if not entry:
            continue
        try:
            networks.append(ipaddress.ip_network(entry, strict=False))
        except ValueError:
            raise ValueError(
                f"{entry!r} is not an IP address or network (e.g. 10.0.0.5 or 10.0.0.0/8)"
            ) from None
    return tuple(networks)


def _address(text: str) -> ipaddress.IPv4Address | ipaddress.IPv6Address | None:
    """The address in ``text``, or None: header entries are untrusted text."""
    try:
        return ipaddress.ip_address(text.strip())
    except ValueError:
        return None


def _trusted(
    address: ipaddress.IPv4Address | ipaddress.IPv6Address, proxies: Iterable[Network]
) -> bool:
    return any(address in network for network in proxies)


def client_address(
    peer: str | None, forwarded_for: Sequence[str], proxies: Sequence[Network]
) -> str:
    """The client's address, given the connection's ``peer``, every ``X-Forwarded-For``
    header of the request in order, and the trusted proxies.

    A malformed hop where a client address should be is not believed: the answer is
    then the proxy that passed it on, so such requests share that proxy's count.
    """
    if peer is None:
        return "unknown"
    hop = _address(peer)
    if hop is None or not proxies or not _trusted(hop, proxies):
        return peer
    entries = [e for header in forwarded_for for e in header.split(",") if e.strip()]
    for entry in reversed(entries):
        address = _address(entry)
        if address is None:
            return str(hop)
        if not _trusted(address, proxies):
            return str(address)
        hop = address
    return str(hop)
