"""`attest serve` uses every core when asked (`--workers 0`: one worker per core) and sets
TCP_NODELAY on each accepted connection (app.cli.serve_protocol), so small responses are not held
back by Nagle's algorithm whatever the number of workers (issue 18 item 3)."""

from __future__ import annotations

import asyncio
import os
import socket
import subprocess
import tempfile
import threading
import time
import urllib.request
from pathlib import Path

import pytest

from app.cli.serve import cores
from app.cli.serve_protocol import set_nodelay
from tests.test_cli import ATTEST, CONTROLS, free_port, run


def test_nodelay_is_set_on_a_tcp_connection_and_skipped_on_a_unix_socket() -> None:
    async def check() -> tuple[int, bool, bool]:
        server = await asyncio.get_running_loop().create_server(asyncio.Protocol, "127.0.0.1", 0)
        port = server.sockets[0].getsockname()[1]
        transport, _ = await asyncio.get_running_loop().create_connection(asyncio.Protocol, "127.0.0.1", port)
        sock = transport.get_extra_info("socket")
        raw = socket.socket(fileno=os.dup(sock.fileno()))  # the same socket, writable options
        raw.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 0)  # as an inherited socket may be
        was_off = raw.getsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY) == 0
        done = set_nodelay(transport)
        now = raw.getsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY)
        raw.close()
        transport.close()
        with tempfile.TemporaryDirectory() as folder:
            path = str(Path(folder) / "s")
            unix_server = await asyncio.get_running_loop().create_unix_server(asyncio.Protocol, path)
            unix, _ = await asyncio.get_running_loop().create_unix_connection(asyncio.Protocol, path)
            unix_done = set_nodelay(unix)
            unix.close()
            unix_server.close()
        server.close()
        return now, done and was_off, unix_done

    # A loop of its own in a thread: a browser test on this worker may leave one running here.
    results: list[tuple[int, bool, bool]] = []
    runner = threading.Thread(target=lambda: results.append(asyncio.run(check())))
    runner.start()
    runner.join(30)
    [(now, done, unix_done)] = results
    assert now != 0 and done
    assert unix_done is False  # no TCP there: nothing to set, and no error


def test_serve_with_workers_0_runs_one_worker_per_core_and_answers(tmp_path: Path) -> None:
    assert run(tmp_path, "db", "upgrade").returncode == 0
    port = free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith("ATTEST_")}
    env["ATTEST_CONTROLS_DIR"] = str(CONTROLS)
    server = subprocess.Popen(
        [ATTEST, "serve", "--port", str(port), "--workers", "0"],
        cwd=tmp_path,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    try:
        assert server.stdout is not None
        first = server.stdout.readline()
        n = cores()
        assert first.strip().endswith(f"on http://127.0.0.1:{port} ({n} worker{'s' if n > 1 else ''})")
        deadline = time.monotonic() + 60
        while True:
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{port}/readyz", timeout=2) as r:
                    assert r.status == 200
                    break
            except OSError:
                if time.monotonic() > deadline or server.poll() is not None:
                    pytest.fail("server did not start")
                time.sleep(0.3)
    finally:
        server.terminate()
        server.wait(timeout=30)


def test_a_negative_number_of_workers_is_refused(tmp_path: Path) -> None:
    refused = subprocess.run(
        [ATTEST, "serve", "--workers", "-1"], cwd=tmp_path, capture_output=True, text=True, check=False
    )
    assert refused.returncode == 2
    assert "greater than or equal to 0" in refused.stderr  # and nothing was started
