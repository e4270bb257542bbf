"""Which address a request comes from: a table of peers, headers and trusted proxies."""

from __future__ import annotations

import pytest

from app.domain.addresses import client_address, parse_address, parse_networks

PROXY = parse_networks("10.0.0.1, 192.168.0.0/16, ::1")


@pytest.mark.parametrize(
    ("peer", "forwarded_for", "trusted", "expected"),
    [
        # nobody trusted (the default): the header is ignored, from anywhere, loopback too
        ("127.0.0.1", ["6.6.6.6"], (), "127.0.0.1"),
        ("203.0.113.7", ["6.6.6.6"], (), "203.0.113.7"),
        # an untrusted peer's header is ignored
        ("203.0.113.7", ["10.0.0.1"], PROXY, "203.0.113.7"),
        # a trusted proxy: the address it appended
        ("10.0.0.1", ["203.0.113.7"], PROXY, "203.0.113.7"),
        # what the client wrote to the left of it is ignored
        ("10.0.0.1", ["6.6.6.6, 203.0.113.7"], PROXY, "203.0.113.7"),
        ("10.0.0.1", ["6.6.6.6", "203.0.113.7"], PROXY, "203.0.113.7"),  # two header lines
        # a chain of trusted proxies is walked through
        ("10.0.0.1", ["6.6.6.6, 203.0.113.7, 192.168.4.4"], PROXY, "203.0.113.7"),
        # only proxies in the header: the leftmost one
        ("10.0.0.1", ["192.168.4.4"], PROXY, "192.168.4.4"),
        # no header from a proxy: the proxy
        ("10.0.0.1", [], PROXY, "10.0.0.1"),
        # a malformed entry ends the walk at the last vouched-for hop
        ("10.0.0.1", ["203.0.113.7, not-an-ip"], PROXY, "10.0.0.1"),
        ("10.0.0.1", ["not-an-ip, 192.168.4.4"], PROXY, "192.168.4.4"),
        # ports, brackets and IPv4-mapped IPv6
        ("10.0.0.1", ["203.0.113.7:5555"], PROXY, "203.0.113.7"),
        ("::1", ["[2001:db8::5]:443"], PROXY, "2001:db8::5"),
        ("::ffff:10.0.0.1", ["203.0.113.7"], PROXY, "203.0.113.7"),
        # a peer that is no address at all (the test client) is itself
        ("testclient", ["203.0.113.7"], PROXY, "testclient"),
    ],
)
def test_client_address(peer: str, forwarded_for: list[str], trusted: tuple, expected: str) -> None:
    assert client_address(peer, forwarded_for, trusted) == expected


def test_trusted_proxies_are_parsed_and_bad_entries_named() -> None:
    assert parse_networks("") == ()
    assert [str(n) for n in parse_networks(" 10.0.0.1 ,, 172.16.0.0/12 ")] == ["10.0.0.1/32", "172.16.0.0/12"]
    with pytest.raises(ValueError, match=r"'proxy\.local'"):
        parse_networks("10.0.0.1, proxy.local")


def test_parse_address() -> None:
    assert str(parse_address(" 1.2.3.4 ")) == "1.2.3.4"
    assert parse_address("") is None and parse_address("1.2.3") is None
