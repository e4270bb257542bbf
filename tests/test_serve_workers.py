"""`attest serve` uses every core when asked (`--workers 0`: one worker per core) and sets
TCP_NODELAY on each accepted connection (app.cli.serve_protocol), so small responses are not held
back by Nagle's algorithm whatever the number of workers (issue 18 item 3).

With more than one worker the supervisor loads the app's modules, the catalogue library and the
compiled templates once and forks the workers (app.cli.serve.preload, fork_workers): the tests
below run the real command and read the kernel's own accounts of it (/proc/PID/smaps_rollup for
memory shared copy-on-write, /proc/PID/fd and /proc/net/tcp for who holds which connection)."""

from __future__ import annotations

import asyncio
import http.client
import json
import os
import signal
import socket
import subprocess
import tempfile
import threading
import time
import urllib.request
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest
from sqlalchemy import make_url, text

from app.cli.serve import cores
from app.cli.serve_protocol import set_nodelay
from app.db import make_engine
from tests.conftest import POSTGRES_URL, _psycopg_url
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


# --- forked workers: one copy of what they only read, their own database connections ---------

SECRET = {"ATTEST_SECRET_KEY": "serve-workers-secret-" + "w" * 32}
POSTGRES_PORT = 5432


def workers_of(supervisor: int) -> list[int]:
    """The supervisor's child processes that run the app (a spawning supervisor would also show
    multiprocessing's resource tracker here: not a worker)."""
    kids: list[int] = []
    for task in os.listdir(f"/proc/{supervisor}/task"):
        kids += [int(pid) for pid in Path(f"/proc/{supervisor}/task/{task}/children").read_text().split()]
    return sorted(pid for pid in kids if b"resource_tracker" not in Path(f"/proc/{pid}/cmdline").read_bytes())


def memory(pid: int) -> dict[str, float]:
    """The kernel's totals for one process, in MiB: Rss, Pss (each shared page divided among the
    processes mapping it), Anonymous and Pss_Anon (the heap: Python objects live there)."""
    out: dict[str, float] = {}
    for line in Path(f"/proc/{pid}/smaps_rollup").read_text().splitlines():
        parts = line.split()
        if len(parts) == 3 and parts[2] == "kB":
            out[parts[0].rstrip(":")] = int(parts[1]) / 1024
    return out


def socket_inodes(pid: int) -> set[int]:
    inodes = set()
    for fd in os.listdir(f"/proc/{pid}/fd"):
        try:
            target = os.readlink(f"/proc/{pid}/fd/{fd}")
        except OSError:  # closed meanwhile
            continue
        if target.startswith("socket:["):
            inodes.add(int(target[8:-1]))
    return inodes


def connections_to(port: int) -> set[int]:
    """Inodes of the established TCP connections whose far end is `port` on this machine."""
    inodes = set()
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        for row in Path(table).read_text().splitlines()[1:]:
            fields = row.split()
            remote_port, state, inode = int(fields[2].rsplit(":", 1)[1], 16), fields[3], int(fields[9])
            if remote_port == port and state == "01":  # 01: ESTABLISHED
                inodes.add(inode)
    return inodes


def open_files(pid: int) -> list[str]:
    names = []
    for fd in os.listdir(f"/proc/{pid}/fd"):
        try:
            names.append(os.readlink(f"/proc/{pid}/fd/{fd}"))
        except OSError:
            continue
    return names


@contextmanager
def only(running: int, supervisor: int) -> Iterator[None]:
    """Stop every worker but `running` for the length of the block, so the next connection on the
    shared listening socket can only be accepted by `running`. Kept short: the supervisor replaces
    a worker that does not answer its health check within 5 seconds."""
    others = [pid for pid in workers_of(supervisor) if pid != running]
    for pid in others:
        os.kill(pid, signal.SIGSTOP)
    try:
        yield
    finally:
        for pid in others:
            os.kill(pid, signal.SIGCONT)


def get_json(port: int, path: str, token: str) -> object:
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
    try:
        connection.request("GET", path, headers={"Authorization": f"Bearer {token}"})
        response = connection.getresponse()
        body = response.read()
        assert response.status == 200, (path, response.status, body[:300])
        return json.loads(body)
    finally:
        connection.close()


def installation(folder: Path, **env: str) -> tuple[dict[str, str], str]:
    """A migrated database with one supplier account; its environment and a personal token."""
    env = {**SECRET, **env}
    for command in (
        ("db", "upgrade"),
        ("orgs", "create", "--name", "Acme Ltd", "--kind", "supplier"),
        (
            "users",
            "create",
            "--email",
            "ann@acme.example",
            "--org",
            "Acme Ltd",
            "--role",
            "supplier_lead",
            "--password",
            "a long scripted passphrase",
        ),
    ):
        done = run(folder, *command, **env)
        assert done.returncode == 0, done.stderr
    created = run(folder, "tokens", "create", "--email", "ann@acme.example", "--json", **env)
    assert created.returncode == 0, created.stderr
    return env, json.loads(created.stdout)["token"]


@contextmanager
def serving_workers(
    folder: Path, env: dict[str, str], workers: int
) -> Iterator[tuple[subprocess.Popen[str], int]]:
    """`attest serve --workers N`, every worker up; yields the supervisor and the port."""
    port = free_port()
    full = {k: v for k, v in os.environ.items() if not k.startswith("ATTEST_")}
    full.update({"ATTEST_CONTROLS_DIR": str(CONTROLS), **env})
    server = subprocess.Popen(
        [ATTEST, "serve", "--port", str(port), "--workers", str(workers)],
        cwd=folder,
        env=full,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    try:
        deadline = time.monotonic() + 90
        while True:
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{port}/healthz", timeout=2):
                    pass
                if len(workers_of(server.pid)) == workers:
                    break
            except OSError:
                pass
            if time.monotonic() > deadline or server.poll() is not None:
                pytest.fail("server did not start")
            time.sleep(0.3)
        yield server, port
    finally:
        if server.poll() is None:
            server.terminate()
            server.wait(timeout=60)


def answered_by(worker: int, supervisor: int, port: int, path: str, token: str) -> object:
    """GET `path` on a fresh connection that only `worker` can accept."""
    with only(worker, supervisor):
        return get_json(port, path, token)


@pytest.fixture(scope="module")
def sqlite_installation(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, dict[str, str], str]:
    folder = tmp_path_factory.mktemp("workers")
    env, token = installation(folder)
    return folder, env, token


@pytest.fixture
def database_env(backend: str, tmp_path: Path) -> Iterator[dict[str, str]]:
    """The environment that points `attest` at a fresh database of this test's own."""
    if backend == "sqlite":
        yield {"ATTEST_DATABASE_URL": f"sqlite:///{tmp_path / 'attest.db'}"}
        return
    admin = make_engine(_psycopg_url(POSTGRES_URL)).execution_options(isolation_level="AUTOCOMMIT")
    name = f"attest_workers_{uuid.uuid4().hex[:10]}"
    with admin.connect() as connection:
        connection.execute(text(f'CREATE DATABASE "{name}"'))
    url = make_url(_psycopg_url(POSTGRES_URL)).set(database=name).render_as_string(hide_password=False)
    try:
        yield {"ATTEST_DATABASE_URL": url}
    finally:
        with admin.connect() as connection:
            connection.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()


def test_each_worker_answers_from_its_own_database_connection(
    backend: str, database_env: dict[str, str], tmp_path: Path
) -> None:
    env, token = installation(tmp_path, **database_env)
    with serving_workers(tmp_path, env, 2) as (server, port):
        workers = workers_of(server.pid)
        for worker in workers:  # each reads the database (the token, the account) on its own
            me = answered_by(worker, server.pid, port, "/api/me", token)
            assert isinstance(me, dict) and me["email"] == "ann@acme.example"
            assert answered_by(worker, server.pid, port, "/api/engagements", token) == []
        if backend == "postgres":
            database = connections_to(POSTGRES_PORT)
            assert not socket_inodes(server.pid) & database  # the supervisor holds none
            for worker in workers:
                assert socket_inodes(worker) & database  # each worker its own pool
        else:
            database_file = str(tmp_path / "attest.db")
            assert database_file not in open_files(server.pid)  # checked at start-up, then closed


def test_the_workers_share_one_copy_of_what_the_supervisor_loaded(
    sqlite_installation: tuple[Path, dict[str, str], str],
) -> None:
    folder, env, token = sqlite_installation
    with serving_workers(folder, env, 2) as (server, port):
        workers = workers_of(server.pid)
        for worker in workers:  # every catalogue read on each worker, as readiness reads them
            catalogues = answered_by(worker, server.pid, port, "/api/catalogues", token)
            assert isinstance(catalogues, list) and len(catalogues) >= 6
            for catalogue in catalogues:
                answered_by(worker, server.pid, port, f"/api/catalogues/{catalogue['id']}", token)
        one, two = (memory(pid) for pid in workers)
        # A spawned worker shares no heap at all (Pss_Anon equals Anonymous, and two workers' PSS
        # come to about 1.7 times one's RSS, as measured before the change); forked workers share
        # most of theirs with each other and with the supervisor.
        for worker in (one, two):
            assert worker["Pss_Anon"] < 0.8 * worker["Anonymous"], worker
        assert one["Pss"] + two["Pss"] < 1.4 * one["Rss"], (one, two)


def test_a_killed_worker_is_replaced_by_a_fork_that_shares_too(
    sqlite_installation: tuple[Path, dict[str, str], str],
) -> None:
    folder, env, token = sqlite_installation
    with serving_workers(folder, env, 2) as (server, port):
        killed, kept = workers_of(server.pid)
        os.kill(killed, signal.SIGKILL)
        deadline = time.monotonic() + 60
        while True:
            now = workers_of(server.pid)
            if len(now) == 2 and killed not in now:
                break
            assert time.monotonic() < deadline, f"no replacement for {killed}: {now}"
            time.sleep(0.3)
        assert kept in now
        [replacement] = [pid for pid in now if pid != kept]
        deadline = time.monotonic() + 60
        while True:  # up once it answers on its own
            try:
                me = answered_by(replacement, server.pid, port, "/api/me", token)
                break
            except OSError:
                assert time.monotonic() < deadline, "the replacement never answered"
                time.sleep(0.3)
        assert isinstance(me, dict) and me["email"] == "ann@acme.example"
        fresh = memory(replacement)
        assert fresh["Pss_Anon"] < 0.8 * fresh["Anonymous"], fresh  # forked from the loaded supervisor


def test_sigterm_stops_the_supervisor_and_every_worker_cleanly(
    sqlite_installation: tuple[Path, dict[str, str], str],
) -> None:
    folder, env, token = sqlite_installation
    with serving_workers(folder, env, 2) as (server, port):
        workers = workers_of(server.pid)
        connection = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
        connection.request("GET", "/api/me", headers={"Authorization": f"Bearer {token}"})
        assert connection.getresponse().read()  # a keep-alive connection still open at SIGTERM
        server.send_signal(signal.SIGTERM)
        assert server.wait(timeout=60) == 0
        connection.close()
        output = server.stdout.read() if server.stdout else ""
    assert "Received SIGTERM, exiting." in output
    assert "Traceback" not in output
    for worker in workers:
        assert not Path(f"/proc/{worker}").exists()  # stopped and reaped by the supervisor
