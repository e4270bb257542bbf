"""The HTTP protocol `attest serve` runs: uvicorn's own, with TCP_NODELAY set on every accepted
connection.

asyncio sets TCP_NODELAY itself only on sockets it recognises as TCP (`proto` IPPROTO_TCP).
With `--workers` above 1, uvicorn's supervisor binds the socket and each worker rebuilds it from
the inherited descriptor, whose `proto` reads 0, so the option was never set: Nagle's algorithm
then held back the last small segment of each response until the client's delayed ACK (about
40 ms on Linux), so every small response took ~45 ms longer with two workers than with one.
Setting it here, per connection, is correct for one worker and for many."""

from __future__ import annotations

import asyncio
import socket

from uvicorn.protocols.http.auto import AutoHTTPProtocol

TCP_FAMILIES = (socket.AF_INET, socket.AF_INET6)


def set_nodelay(transport: asyncio.BaseTransport) -> bool:
    """Turn Nagle's algorithm off on the transport's TCP socket; False where there is none (a
    Unix socket) or the system refuses."""
    sock = transport.get_extra_info("socket")
    if sock is None or sock.family not in TCP_FAMILIES:
        return False
    try:
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    except OSError:
        return False
    return True


class NoDelayHTTPProtocol(AutoHTTPProtocol):  # type: ignore[misc,valid-type]
    """uvicorn's HTTP/1.1 protocol (httptools when installed, else h11) with TCP_NODELAY."""

    def connection_made(self, transport: asyncio.Transport) -> None:
        set_nodelay(transport)
        super().connection_made(transport)
