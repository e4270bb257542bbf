"""Which address a request comes from: what the sign-in throttle counts and the audit log keeps.

The peer of the connection is the client, unless it is one of the proxies Attest is
configured to trust (ATTEST_TRUSTED_PROXIES: addresses or networks, comma-separated;
empty, the default, trusts none). Only a trusted peer's X-Forwarded-For is read, and
from the right: each trusted proxy appends the address it received the request
from, so the first address that is not itself a trusted proxy is the client.
Anything to its left was written by the client and is ignored, so a forged header
can neither dodge the throttle nor lock out someone else's address. A malformed
entry ends the walk at the last address a trusted proxy vouched for.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Iterable, Sequence

Network = ipaddress.IPv4Network | ipaddress.IPv6Network
Address = ipaddress.IPv4Address | ipaddress.IPv6Address


def parse_networks(text: str) -> tuple[Network, ...]:
    """'10.0.0.1, 192.168.0.0/16, ::1' as networks; ValueError naming the first bad entry."""
    networks = []
    for entry in (part.strip() for part in text.split(",")):
        if not entry:
            continue
        try:
            networks.append(ipaddress.ip_network(entry, strict=False))
        except ValueError:
            raise ValueError(f"{entry!r} is not an IP address or network (e.g. 10.0.0.0/8)") from None
    return tuple(networks)


def parse_address(value: str) -> Address | None:
    """An address from a peer or a forwarded entry ('1.2.3.4', '1.2.3.4:80', '[::1]:80')."""
    value = value.strip()
    if value.startswith("[") and "]" in value:
        value = value[1 : value.index("]")]
    elif value.count(":") == 1:
        value = value.split(":", 1)[0]
    try:
        address = ipaddress.ip_address(value)
    except ValueError:
        return None
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        return address.ipv4_mapped
    return address


def _trusted(address: Address | None, networks: Iterable[Network]) -> bool:
    return address is not None and any(address in network for network in networks)


def client_address(peer: str, forwarded_for: Sequence[str], trusted: Sequence[Network]) -> str:
    """The client's address for a connection from `peer` carrying these X-Forwarded-For headers."""
    hop = parse_address(peer)
    if not _trusted(hop, trusted):
        return peer
    entries = [entry for header in forwarded_for for entry in header.split(",") if entry.strip()]
    for entry in reversed(entries):
        address = parse_address(entry)
        if address is None:
            break
        hop = address
        if not _trusted(address, trusted):
            break
    return str(hop)
