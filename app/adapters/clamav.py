"""A client of ClamAV's daemon (clamd): one INSTREAM scan per call, over a Unix socket or TCP.

The protocol (clamd(8), "INSTREAM"): send `zINSTREAM\\0`, then the bytes as chunks, each a
4-byte big-endian length followed by that many bytes, then a zero-length chunk; clamd answers
one NUL-terminated line: `stream: OK`, `stream: <signature> FOUND`, or `<reason> ERROR`.

Only a verdict clamd actually gave is ever a verdict. Anything else is an outcome that says
"not checked": the daemon cannot be reached or stops answering (`ScannerUnavailable`: try
again later), or the file cannot be checked at all (`Unscannable`: over the size limit, or
clamd reports an error for the stream, or it stopped at one of its own limits, which it reports
as a `Heuristics.Limits.Exceeded` signature when `AlertExceedsMax` is on). A file that is
larger than the limit is never sent: clamd would skip the excess and could answer OK.
"""

from __future__ import annotations

import socket
import struct
from collections.abc import Iterable
from dataclasses import dataclass

from app.domain.scanning import parse_address

CHUNK = 64 * 1024
LIMIT_SIGNATURES = ("Heuristics.Limits.Exceeded",)  # clamd stopped at MaxScanSize and the like


class ScannerUnavailable(Exception):
    """clamd could not be reached, or did not answer in time: the file is still unchecked."""


class Unscannable(Exception):
    """clamd cannot give a verdict on this file (too large, or an error on the stream)."""


@dataclass(frozen=True, slots=True)
class Verdict:
    """What clamd said: `signature` is None for a clean file, else the name of what it found."""

    signature: str | None

    @property
    def infected(self) -> bool:
        return self.signature is not None


class ClamdClient:
    """Scans byte streams with clamd at `address` (see `parse_address`)."""

    def __init__(self, address: str, *, timeout: float = 60.0, max_bytes: int = 100 * 1024 * 1024) -> None:
        self.address = parse_address(address)
        self.timeout = timeout
        self.max_bytes = max_bytes

    def _connect(self) -> socket.socket:
        try:
            if isinstance(self.address, str):
                sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
                sock.settimeout(self.timeout)
                sock.connect(self.address)
                return sock
            return socket.create_connection(self.address, timeout=self.timeout)
        except OSError as error:
            raise ScannerUnavailable(f"clamd at {self.address} cannot be reached: {error}") from None

    def ping(self) -> bool:
        """Whether clamd answers PING with PONG."""
        try:
            with self._connect() as sock:
                sock.sendall(b"zPING\0")
                return _read_reply(sock) == "PONG"
        except (ScannerUnavailable, OSError):
            return False

    def scan(self, chunks: Iterable[bytes], size: int) -> Verdict:
        """Scan a file of `size` bytes given as chunks (any sizes). Raises `Unscannable` when it
        is over the limit (before sending anything) or clamd reports an error for it, and
        `ScannerUnavailable` when clamd is down, drops the connection or passes the timeout."""
        if size > self.max_bytes:
            raise Unscannable(
                f"the file is larger than the scanner's limit of {self.max_bytes // (1024 * 1024)} MB"
            )
        with self._connect() as sock:
            try:
                sock.sendall(b"zINSTREAM\0")
                for chunk in chunks:
                    for start in range(0, len(chunk), CHUNK):
                        part = chunk[start : start + CHUNK]
                        sock.sendall(struct.pack(">I", len(part)) + part)
                sock.sendall(struct.pack(">I", 0))
                reply = _read_reply(sock)
            except TimeoutError:
                raise ScannerUnavailable(f"clamd did not answer within {self.timeout:g} seconds") from None
            except OSError as error:
                # clamd closes the stream early when it passes its StreamMaxLength, after saying so
                late = _reply_after_close(sock)
                if late is None:
                    raise ScannerUnavailable(f"the connection to clamd failed: {error}") from None
                reply = late
        return _verdict(reply)


def _read_reply(sock: socket.socket) -> str:
    data = bytearray()
    while not data.endswith(b"\0"):
        part = sock.recv(4096)
        if not part:
            break
        data.extend(part)
        if len(data) > 64 * 1024:
            break
    if not data:
        raise ScannerUnavailable("clamd closed the connection without an answer")
    return data.rstrip(b"\0").decode("utf-8", "replace").strip()


def _reply_after_close(sock: socket.socket) -> str | None:
    try:
        return _read_reply(sock)
    except (ScannerUnavailable, OSError):
        return None


def _verdict(reply: str) -> Verdict:
    body = reply.removeprefix("stream:").strip()
    if body == "OK":
        return Verdict(None)
    if body.endswith(" FOUND"):
        signature = body.removesuffix(" FOUND").strip()
        if signature.startswith(LIMIT_SIGNATURES):
            raise Unscannable(f"clamd stopped at one of its limits ({signature})")
        return Verdict(signature)
    if body.endswith("ERROR"):
        raise Unscannable(f"clamd could not scan the file: {body.removesuffix('ERROR').strip()}")
    raise Unscannable(f"clamd gave an answer that is not a verdict: {body[:200]!r}")
