"""A real served instance for tests about locks and slow clients: uvicorn in a thread on a free
port, the test's own database file, and raw sockets or httpx clients talking to it over TCP."""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass

import uvicorn
from fastapi import FastAPI

from app.db import session_scope
from app.models import User, utcnow
from app.services import sessions


@dataclass(frozen=True)
class Served:
    app: FastAPI
    host: str
    port: int

    @property
    def base_url(self) -> str:
        return f"http://{self.host}:{self.port}"


@contextmanager
def serve(app: FastAPI) -> Iterator[Served]:
    listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    listener.bind(("127.0.0.1", 0))
    port = listener.getsockname()[1]
    server = uvicorn.Server(uvicorn.Config(app, log_level="warning", lifespan="on", timeout_keep_alive=30))
    thread = threading.Thread(target=server.run, kwargs={"sockets": [listener]}, daemon=True)
    thread.start()
    deadline = time.monotonic() + 10
    while not server.started:
        if time.monotonic() > deadline or not thread.is_alive():
            raise RuntimeError("uvicorn did not start")
        time.sleep(0.01)
    try:
        yield Served(app, "127.0.0.1", port)
    finally:
        server.should_exit = True
        thread.join(timeout=10)
        listener.close()


def bearer(app: FastAPI, user: User) -> dict[str, str]:
    """An Authorization header with a fresh API token for `user` (no CSRF, no session touch)."""
    with session_scope(app.state.engine, write=True) as session:
        _, token = sessions.create_token(session, user, name="served test", expires_days=1, now=utcnow())
        session.commit()
    return {"Authorization": f"Bearer {token}"}


def multipart(boundary: str, fields: dict[str, str], file_name: str, data: bytes) -> bytes:
    parts = [
        f'--{boundary}\r\nContent-Disposition: form-data; name="{name}"\r\n\r\n{value}\r\n'.encode()
        for name, value in fields.items()
    ]
    parts.append(
        f'--{boundary}\r\nContent-Disposition: form-data; name="file"; filename="{file_name}"\r\n'
        "Content-Type: application/octet-stream\r\n\r\n".encode()
        + data
        + b"\r\n"
    )
    return b"".join(parts) + f"--{boundary}--\r\n".encode()


def request_head(served: Served, method: str, path: str, headers: dict[str, str], length: int) -> bytes:
    lines = [f"{method} {path} HTTP/1.1", f"Host: {served.host}:{served.port}"]
    lines += [f"{name}: {value}" for name, value in headers.items()]
    lines += [f"Content-Length: {length}", "", ""]
    return "\r\n".join(lines).encode()


def read_response(sock: socket.socket) -> tuple[int, bytes]:
    """Status and raw bytes of one response, read until the server closes or the body is complete."""
    data = b""
    while True:
        try:
            chunk = sock.recv(65536)
        except (ConnectionResetError, BrokenPipeError):
            break
        if not chunk:
            break
        data += chunk
        head, _, body = data.partition(b"\r\n\r\n")
        if _ and b"content-length:" in head.lower():
            length = int(head.lower().split(b"content-length:")[1].split(b"\r\n")[0])
            if len(body) >= length:
                break
    status = int(data.split(b" ", 2)[1]) if data.startswith(b"HTTP/") else 0
    return status, data
