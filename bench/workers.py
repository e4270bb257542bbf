"""`python -m bench.workers`: small responses over loopback from a real server, with one and two
worker processes, served as uvicorn serves by default and as `attest serve` serves (TCP_NODELAY
on every connection, app.cli.serve_protocol). Prints the median, 95th and 99th percentile of one
client, and the requests per second and 99th percentile of 8 clients on keep-alive connections.
Figures, not tests: nothing fails. Runs on a fresh SQLite database with the demo data."""

from __future__ import annotations

import http.client
import json
import os
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
BIN = Path(sys.executable).parent
ONE_CLIENT_REQUESTS = 300
MANY_CLIENTS, MANY_SECONDS = 8, 6.0

DEFAULT_UVICORN = (
    "import uvicorn; uvicorn.run('app.main:create_app', factory=True, host='127.0.0.1', port={port}, "
    "workers={workers}, log_level='warning', access_log=False)"
)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def environment(folder: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("ATTEST_")}
    env.update(
        ATTEST_DATABASE_URL=f"sqlite:///{folder / 'attest.db'}",
        ATTEST_DATA_DIR=str(folder / "var"),
        ATTEST_EVIDENCE_DIR=str(folder / "evidence"),
        ATTEST_CONTROLS_DIR=str(ROOT / "controls"),
        ATTEST_SECRET_KEY="bench-secret-" + "w" * 32,
        ATTEST_LOG_LEVEL="warning",
    )
    return env


def attest(env: dict[str, str], *args: str) -> str:
    command = [str(BIN / "attest"), *args]  # our own command line, never input
    done = subprocess.run(command, env=env, capture_output=True, text=True, check=True)  # noqa: S603
    return done.stdout


def wait_until_up(port: int, timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            connection = http.client.HTTPConnection("127.0.0.1", port, timeout=2)
            connection.request("GET", "/healthz")
            if connection.getresponse().status == 200:
                return
        except OSError:
            time.sleep(0.2)
    raise RuntimeError(f"no server on port {port}")


def get(connection: http.client.HTTPConnection, path: str, token: str) -> float:
    start = time.perf_counter()
    connection.request("GET", path, headers={"Authorization": f"Bearer {token}"})
    response = connection.getresponse()
    response.read()
    if response.status != 200:
        raise RuntimeError(f"{path}: {response.status}")
    return (time.perf_counter() - start) * 1000


def percentile(samples: list[float], p: float) -> float:
    ordered = sorted(samples)
    return ordered[min(len(ordered) - 1, int(len(ordered) * p))]


def one_client(port: int, path: str, token: str) -> dict[str, float]:
    connection = http.client.HTTPConnection("127.0.0.1", port)
    for _ in range(20):
        get(connection, path, token)
    samples = [get(connection, path, token) for _ in range(ONE_CLIENT_REQUESTS)]
    connection.close()
    return {
        "median_ms": statistics.median(samples),
        "p95_ms": percentile(samples, 0.95),
        "p99_ms": percentile(samples, 0.99),
    }


def many_clients(port: int, path: str, token: str) -> dict[str, float]:
    samples: list[list[float]] = [[] for _ in range(MANY_CLIENTS)]
    stop = time.monotonic() + MANY_SECONDS

    def client(mine: list[float]) -> None:
        connection = http.client.HTTPConnection("127.0.0.1", port)
        while time.monotonic() < stop:
            mine.append(get(connection, path, token))
        connection.close()

    threads = [threading.Thread(target=client, args=(s,)) for s in samples]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    every = [x for s in samples for x in s]
    return {"requests_per_s": len(every) / MANY_SECONDS, "clients_p99_ms": percentile(every, 0.99)}


def serve(env: dict[str, str], how: str, workers: int, port: int) -> subprocess.Popen[bytes]:
    if how == "attest serve":
        command = [str(BIN / "attest"), "serve", "--port", str(port), "--workers", str(workers)]
    else:
        command = [sys.executable, "-c", DEFAULT_UVICORN.format(port=port, workers=workers)]
    return subprocess.Popen(  # noqa: S603 (our own command line)
        command,
        env=env,
        cwd=ROOT,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,
    )


def main() -> None:
    folder = Path(tempfile.mkdtemp(prefix="attest-bench-workers-"))
    env = environment(folder)
    attest(env, "db", "upgrade")
    attest(env, "demo")
    token = json.loads(attest(env, "tokens", "create", "--email", "lead@northwind.example", "--json"))[
        "token"
    ]
    results = []
    for how in ("uvicorn default", "attest serve"):
        for workers in (1, 2):
            port = free_port()
            server = serve(env, how, workers, port)
            try:
                wait_until_up(port)
                connection = http.client.HTTPConnection("127.0.0.1", port)
                connection.request("GET", "/api/engagements", headers={"Authorization": f"Bearer {token}"})
                engagement = json.loads(connection.getresponse().read())[0]["id"]
                connection.close()
                for label, path in (
                    ("me", "/api/me"),
                    ("readiness", f"/api/engagements/{engagement}/readiness"),
                ):
                    row = {"server": how, "workers": workers, "endpoint": label}
                    row.update(one_client(port, path, token))
                    row.update(many_clients(port, path, token))
                    results.append(row)
                    print(
                        f"{how:16} {workers} worker{'s' if workers > 1 else ' '}  {label:10}"
                        f" 1 client: median {row['median_ms']:6.1f} ms  p95 {row['p95_ms']:6.1f}"
                        f"  p99 {row['p99_ms']:6.1f}   {MANY_CLIENTS} clients:"
                        f" {row['requests_per_s']:6.0f} req/s"
                        f"  p99 {row['clients_p99_ms']:6.1f} ms",
                        flush=True,
                    )
            finally:
                os.killpg(server.pid, signal.SIGTERM)
                server.wait(timeout=30)
    out = folder / "workers.json"
    out.write_text(json.dumps(results, indent=2))
    print(f"written to {out}")


if __name__ == "__main__":
    main()
