"""A minimal SMTP server on loopback that accepts every message and counts it (RFC 5321's
commands, no TLS, no auth): production's mail backend is `smtp`, and the reminder sweep the
benchmark times delivers through it."""

from __future__ import annotations

import socketserver
import threading


class _Handler(socketserver.StreamRequestHandler):
    def _say(self, line: str) -> None:
        self.wfile.write(line.encode() + b"\r\n")
        self.wfile.flush()

    def handle(self) -> None:
        self._say("220 bench.localhost ESMTP sink")
        while True:
            line = self.rfile.readline()
            if not line:
                return
            verb = line.decode("ascii", "replace").strip().split(" ", 1)[0].upper()
            if verb in {"EHLO", "HELO"}:
                self._say("250 bench.localhost")
            elif verb == "DATA":
                self._say("354 end with <CRLF>.<CRLF>")
                while self.rfile.readline() not in {b".\r\n", b".\n", b""}:
                    pass
                self.server.messages += 1  # type: ignore[attr-defined]
                self._say("250 queued")
            elif verb == "QUIT":
                self._say("221 bye")
                return
            else:  # MAIL, RCPT, RSET, NOOP
                self._say("250 ok")


class SmtpSink(socketserver.ThreadingTCPServer):
    daemon_threads = True
    allow_reuse_address = True

    def __init__(self) -> None:
        super().__init__(("127.0.0.1", 0), _Handler)
        self.messages = 0
        self._thread = threading.Thread(target=self.serve_forever, daemon=True)

    @property
    def port(self) -> int:
        return int(self.server_address[1])

    def __enter__(self) -> SmtpSink:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.shutdown()
        self.server_close()
