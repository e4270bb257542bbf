"""Which address a request comes from: what the sign-in throttle counts and the audit log keeps.

The peer of the connection is the client, unless it is one of the proxies Attest is
configured to trust (ATTEST_TRUSTED_PROXIES: addresses or networks, comma-separated;
empty, the default, trusts none). Only a trusted peer's forwarding headers are read:
the standard `Forwarded` header (RFC 7239, its `for=` parameters) when the request
carries one, otherwise X-Forwarded-For. Either is a list that each proxy extends with
the address it received the request from, so it is read from the right: the first
address that is not itself a trusted proxy is the client. Anything to its left was
written by the client and is ignored, so a forged header can neither dodge the throttle
nor lock out someone else's address. An entry that is no address (malformed, or an
RFC 7239 `unknown` or obfuscated `_name`, or an element with no `for=`) ends the walk
at the last address a trusted proxy vouched for. When both headers are present only
Forwarded counts: a proxy that writes it may pass along an X-Forwarded-For it never checked.
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


def _split_outside_quotes(text: str, separator: str) -> list[str] | None:
    """`text` split at `separator` where it is not inside a quoted string (backslash escapes
    the next character there); None when a quoted string is never closed."""
    parts: list[str] = []
    current: list[str] = []
    quoted = escaped = False
    for char in text:
        if escaped:
            escaped = False
        elif quoted and char == "\\":
            escaped = True
        elif char == '"':
            quoted = not quoted
        elif char == separator and not quoted:
            parts.append("".join(current))
            current = []
            continue
        current.append(char)
    if quoted or escaped:
        return None
    parts.append("".join(current))
    return parts


def _unquote(value: str) -> str | None:
    """A parameter value as a token or a quoted string (RFC 7230 quoted-string); None if neither."""
    if not value.startswith('"'):
        return value if value and '"' not in value else None
    if len(value) < 2 or not value.endswith('"'):
        return None
    out: list[str] = []
    escaped = False
    for char in value[1:-1]:
        if escaped:
            out.append(char)
            escaped = False
        elif char == "\\":
            escaped = True
        elif char == '"':
            return None
        else:
            out.append(char)
    return None if escaped else "".join(out)


def _element_for(element: str) -> str | None:
    """The `for=` value of one Forwarded element ('for=1.2.3.4;proto=https'); None when the
    element is malformed, repeats a parameter, or has no `for=`."""
    pairs = _split_outside_quotes(element, ";")
    if pairs is None:
        return None
    seen: dict[str, str] = {}
    for pair in pairs:
        if not pair.strip():
            continue
        name, equals, raw = pair.partition("=")
        name = name.strip().lower()
        value = _unquote(raw.strip())
        if not equals or not name or value is None or name in seen:
            return None
        seen[name] = value
    return seen.get("for")


def forwarded_for(headers: Sequence[str]) -> list[str | None]:
    """The `for=` values of RFC 7239 Forwarded headers, one per element, oldest hop first:
    'for=192.0.2.60;proto=https, for="[2001:db8::17]:4711"' gives ['192.0.2.60',
    '[2001:db8::17]:4711']. An element that cannot be read is None, and so is the rest of
    a header whose quoted string is never closed (nothing after it can be told apart)."""
    values: list[str | None] = []
    for header in headers:
        elements = _split_outside_quotes(header, ",")
        if elements is None:
            values.append(None)
            continue
        values.extend(_element_for(element) for element in elements if element.strip())
    return values


def _trusted(address: Address | None, networks: Iterable[Network]) -> bool:
    return address is not None and any(address in network for network in networks)


def client_address(
    peer: str,
    forwarded_for_headers: Sequence[str],
    trusted: Sequence[Network],
    forwarded: Sequence[str] = (),
) -> str:
    """The client's address for a connection from `peer` carrying these X-Forwarded-For and
    Forwarded headers (each a list of header lines)."""
    hop = parse_address(peer)
    if not _trusted(hop, trusted):
        return peer
    entries: list[str | None]
    if any(header.strip() for header in forwarded):
        entries = forwarded_for(forwarded)
    else:
        entries = [entry for header in forwarded_for_headers for entry in header.split(",") if entry.strip()]
    for entry in reversed(entries):
        address = parse_address(entry) if entry is not None else None
        if address is None:
            break
        hop = address
        if not _trusted(address, trusted):
            break
    return str(hop)
