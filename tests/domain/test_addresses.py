"""Which address a request comes from: a table of peers, headers and trusted proxies."""

from __future__ import annotations

import pytest

from app.domain.addresses import client_address, forwarded_for, parse_address, parse_networks

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


@pytest.mark.parametrize(
    ("peer", "forwarded_for", "forwarded", "trusted", "expected"),
    [
        # the trust rule is the same: nobody trusted, or an untrusted peer, and it is ignored
        ("127.0.0.1", [], ["for=6.6.6.6"], (), "127.0.0.1"),
        ("203.0.113.7", [], ["for=10.0.0.1"], PROXY, "203.0.113.7"),
        ("203.0.113.9", ["6.6.6.6"], ["for=7.7.7.7"], PROXY, "203.0.113.9"),
        # a trusted proxy: its for=, among other parameters, the name in any case
        ("10.0.0.1", [], ["for=203.0.113.7"], PROXY, "203.0.113.7"),
        ("10.0.0.1", [], ["proto=https;For=203.0.113.7;by=10.0.0.1"], PROXY, "203.0.113.7"),
        # quoted values: IPv4 with a port, IPv6 in brackets with and without one, v4-mapped
        ("10.0.0.1", [], ['for="203.0.113.7:4711"'], PROXY, "203.0.113.7"),
        ("10.0.0.1", [], ['for="[2001:db8:cafe::17]:4711"'], PROXY, "2001:db8:cafe::17"),
        ("::1", [], ['for="[2001:db8::5]"'], PROXY, "2001:db8::5"),
        ("10.0.0.1", [], ['for="[::ffff:203.0.113.7]"'], PROXY, "203.0.113.7"),
        # read from the right: what the client wrote is ignored, trusted proxies walked through
        ("10.0.0.1", [], ["for=6.6.6.6, for=203.0.113.7"], PROXY, "203.0.113.7"),
        ("10.0.0.1", [], ["for=6.6.6.6", "for=203.0.113.7"], PROXY, "203.0.113.7"),  # two lines
        ("10.0.0.1", [], ["for=6.6.6.6, for=203.0.113.7, for=192.168.4.4"], PROXY, "203.0.113.7"),
        ("10.0.0.1", [], ["for=192.168.4.4"], PROXY, "192.168.4.4"),
        ("10.0.0.1", [], ["for=6.6.6.6,, for=203.0.113.7"], PROXY, "203.0.113.7"),  # empty element
        # a comma or an escaped quote inside a quoted string splits nothing
        ("10.0.0.1", [], ['for=203.0.113.7;ext="a, b"'], PROXY, "203.0.113.7"),
        ("10.0.0.1", [], ['for=203.0.113.7;ext="a\\", for=192.168.4.4"'], PROXY, "203.0.113.7"),
        # no address in the proxy's entry: the walk ends at the last hop a proxy vouched for
        ("10.0.0.1", [], ["for=203.0.113.7, for=unknown"], PROXY, "10.0.0.1"),
        ("10.0.0.1", [], ["for=_hidden"], PROXY, "10.0.0.1"),
        ("10.0.0.1", [], ["for=6.6.6.6, proto=https"], PROXY, "10.0.0.1"),  # no for=
        ("10.0.0.1", [], ['for="203.0.113.7'], PROXY, "10.0.0.1"),  # a quote never closed
        ("10.0.0.1", [], ["for=203.0.113.7;for=6.6.6.6"], PROXY, "10.0.0.1"),  # for= twice
        ("10.0.0.1", [], ["for"], PROXY, "10.0.0.1"),  # no value
        ("10.0.0.1", [], ["for=6.6.6.6, for=192.168.4.4, for=_hidden"], PROXY, "10.0.0.1"),
        ("10.0.0.1", [], ["for=6.6.6.6, for=_hidden, for=192.168.4.4"], PROXY, "192.168.4.4"),
        ("10.0.0.1", [], ["for=;, for=203.0.113.7"], PROXY, "203.0.113.7"),  # bad entry on the left
        # both headers: Forwarded counts, X-Forwarded-For is not read even when Forwarded is bad
        ("10.0.0.1", ["6.6.6.6"], ["for=203.0.113.7"], PROXY, "203.0.113.7"),
        ("10.0.0.1", ["203.0.113.7"], ["for=unknown"], PROXY, "10.0.0.1"),
        # an empty Forwarded line is no Forwarded header
        ("10.0.0.1", ["203.0.113.7"], ["  "], PROXY, "203.0.113.7"),
    ],
)
def test_client_address_from_forwarded(
    peer: str, forwarded_for: list[str], forwarded: list[str], trusted: tuple, expected: str
) -> None:
    assert client_address(peer, forwarded_for, trusted, forwarded=forwarded) == expected


def test_forwarded_for_lists_each_elements_for_value() -> None:
    header = 'for=192.0.2.60;proto=http;by=203.0.113.43, for="[2001:db8:cafe::17]:4711", proto=https'
    assert forwarded_for([header]) == ["192.0.2.60", "[2001:db8:cafe::17]:4711", None]
    assert forwarded_for(['for="a\\"b"']) == ['a"b']
    assert forwarded_for(['for="unclosed, for=1.2.3.4']) == [None]
    assert forwarded_for([""]) == []
