"""`python -m bench.scale` (the heart of `make bench`): Attest as in production, at two sizes, on
SQLite and on PostgreSQL, measured over loopback with wrk.

For each database and size: a fresh database (a SQLite file in a temporary folder, or a new
PostgreSQL database dropped afterwards), `attest db upgrade`, the fixed-seed data set of
bench/dataset.py, then `attest serve --workers 2` with the production settings (ATTEST_ENV=production,
https base URL so Secure `__Host-` cookies, SMTP mail, JSON logs at info: the access log as
production writes it, to a file). Real sessions are started for a supplier lead and an advisor
and their cookies handed to wrk. Every figure is printed and written to var/bench/results.json.

Figures, never tests: nothing here fails on a slow figure (a non-2xx answer is reported).
"""

from __future__ import annotations

import argparse
import http.client
import json
import os
import platform
import re
import secrets
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from sqlalchemy import create_engine, text
from sqlalchemy.engine import make_url

from app.adapters.crypto import Keys, keyed_hash
from app.config import Settings
from app.db import make_engine, session_scope
from app.http.auth import session_cookie_name, timeouts
from app.http.csrf import cookie_name as csrf_cookie_name
from app.models import User, utcnow
from app.services import sessions
from bench.dataset import SIZES, Built, build, widen
from bench.smtp_sink import SmtpSink

ROOT = Path(__file__).resolve().parents[1]
BIN = Path(sys.executable).parent
RESULTS = ROOT / "var" / "bench" / "results.json"
DEFAULT_POSTGRES = "postgresql+psycopg://postgres@127.0.0.1:5432/postgres"
WORKERS = 2
BASE_URL = "https://attest.bench.example"
MB = 1024 * 1024
BIG_FILES = {"50 MB": 50 * MB, "1 GB": 1024 * MB}
CLIENTS = {"1 client": (1, 1), "8 clients": (2, 8)}  # wrk threads, connections

LUA = """
local counter = 0
wrk.method = "{method}"
wrk.headers["Cookie"] = "{cookie}"
wrk.headers["X-CSRF-Token"] = "{csrf}"
wrk.headers["Content-Type"] = "application/json"
{request}
done = function(summary, latency, requests)
  local errors = summary.errors.connect + summary.errors.read + summary.errors.write + summary.errors.timeout
  io.write(string.format(
    "BENCHJSON {{\\"requests\\": %d, \\"duration_us\\": %d, \\"p50_us\\": %d, \\"p95_us\\": %d, " ..
    "\\"p99_us\\": %d, \\"non_2xx\\": %d, \\"socket_errors\\": %d}}\\n",
    summary.requests, summary.duration, latency:percentile(50), latency:percentile(95),
    latency:percentile(99), summary.errors.status, errors))
end
"""
PUT_REQUEST = """
request = function()
  counter = counter + 1
  local said = counter .. "-" .. math.random(1000000000)
  local body = '{{"status": "met", "statement": "Saved by the benchmark, ' .. said .. '."}}'
  return wrk.format("PUT", "{path}", nil, body)
end
"""


@dataclass(frozen=True)
class Endpoint:
    name: str
    method: str
    path: str
    who: str  # "lead" or "advisor"


def ms(value: float | None) -> str:
    return "   none" if value is None else f"{value:7.1f}"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def git_commit() -> str:
    try:
        done = subprocess.run(
            ["git", "rev-parse", "HEAD"],  # noqa: S607
            cwd=ROOT,
            capture_output=True,
            text=True,
            check=True,
        )
        dirty = subprocess.run(
            ["git", "status", "--porcelain", "--untracked-files=no"],  # noqa: S607
            cwd=ROOT,
            capture_output=True,
            text=True,
            check=True,
        )
        return done.stdout.strip() + ("+changes" if dirty.stdout.strip() else "")
    except (OSError, subprocess.CalledProcessError):
        return "unknown"


# --- databases -----------------------------------------------------------------------------


@contextmanager
def database(kind: str, folder: Path, size: str) -> Iterator[str]:
    """A fresh, empty database URL; a PostgreSQL database is dropped afterwards."""
    if kind == "sqlite":
        yield f"sqlite:///{folder / 'attest.db'}"
        return
    base = make_url(os.environ.get("ATTEST_BENCH_POSTGRES_URL") or DEFAULT_POSTGRES)
    name = f"attest_bench_{size}"
    admin = create_engine(base, isolation_level="AUTOCOMMIT")
    with admin.connect() as connection:
        connection.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        connection.execute(text(f'CREATE DATABASE "{name}"'))
    try:
        yield base.set(database=name).render_as_string(hide_password=False)
    finally:
        with admin.connect() as connection:
            connection.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()


def production_env(folder: Path, url: str, smtp_port: int) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("ATTEST_")}
    env.update(
        ATTEST_ENV="production",
        ATTEST_BASE_URL=BASE_URL,
        ATTEST_DATABASE_URL=url,
        ATTEST_DATA_DIR=str(folder / "var"),
        ATTEST_EVIDENCE_DIR=str(folder / "evidence"),
        ATTEST_CONTROLS_DIR=str(ROOT / "controls"),
        ATTEST_SECRET_KEY="bench-secret-" + "s" * 40,
        ATTEST_AUDIT_KEY="bench-audit-" + "a" * 40,
        ATTEST_MAIL_BACKEND="smtp",
        ATTEST_SMTP_HOST="127.0.0.1",
        ATTEST_SMTP_PORT=str(smtp_port),
        ATTEST_LOG_LEVEL="info",
        ATTEST_LOG_FORMAT="json",
        ATTEST_MAX_UPLOAD_MB="1100",  # the 1 GB upload; production's default limit is 200 MB
    )
    return env


def settings_of(env: dict[str, str]) -> Settings:
    values: dict[str, Any] = {
        k.removeprefix("ATTEST_").lower(): v for k, v in env.items() if k.startswith("ATTEST_")
    }
    return Settings(_env_file=None, **values)


def attest(env: dict[str, str], *args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
    command = [str(BIN / "attest"), *args]  # our own command line, never input
    return subprocess.run(command, env=env, capture_output=True, text=True, check=check, cwd=ROOT)  # noqa: S603


# --- the server and its workers --------------------------------------------------------------


def children(pid: int) -> list[int]:
    out = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
            cmdline = (entry / "cmdline").read_bytes()
        except OSError:
            continue
        ppid = int(stat.rsplit(")", 1)[1].split()[1])
        if ppid == pid and b"resource_tracker" not in cmdline:
            out.append(int(entry.name))
    return sorted(out)


def rss_kb(pid: int, field: str = "VmRSS") -> int:
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith(field + ":"):
                return int(line.split()[1])
    except OSError:
        pass
    return 0


class RssWatch:
    """Samples the workers' resident memory every 10 ms; growth = peak - value before, largest worker."""

    def __init__(self, pids: list[int]) -> None:
        self.pids = pids
        self.before = {p: rss_kb(p) for p in pids}
        self.peak = dict(self.before)
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        while not self._stop.is_set():
            for p in self.pids:
                self.peak[p] = max(self.peak[p], rss_kb(p))
            time.sleep(0.01)

    def __enter__(self) -> RssWatch:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()

    @property
    def growth_mb(self) -> float:
        return max(self.peak[p] - self.before[p] for p in self.pids) / 1024

    @property
    def idle_mb(self) -> float:
        return max(self.before.values()) / 1024


class Server:
    def __init__(self, env: dict[str, str], folder: Path, worker_start_seconds: int = 5) -> None:
        self.port = free_port()
        self.command = [str(BIN / "attest")]
        if worker_start_seconds != 5:  # uvicorn's default: plain `attest serve` (bench/patient_serve.py)
            self.command = [sys.executable, "-m", "bench.patient_serve"]
            env = {**env, "BENCH_WORKER_START_SECONDS": str(worker_start_seconds)}
        self.log = folder / "server.log"
        with self.log.open("wb") as log:
            self.process = subprocess.Popen(  # noqa: S603 - our own command line
                [
                    *self.command,
                    "serve",
                    *("--host", "127.0.0.1", "--port", str(self.port), "--workers", str(WORKERS)),
                ],
                env=env,
                cwd=ROOT,
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        deadline = time.monotonic() + 300  # a loaded machine starts workers slowly
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                self.stop()
                raise RuntimeError(f"attest serve stopped: {self.log.read_text()[-2000:]}")
            try:
                if self.request("GET", "/healthz")[0] == 200 and len(self.workers()) == WORKERS:
                    return
            except OSError:
                pass
            time.sleep(0.3)
        self.stop()
        raise RuntimeError(f"attest serve did not answer: {self.log.read_text()[-1000:]}")

    def workers(self) -> list[int]:
        return children(self.process.pid)

    def connection(self) -> http.client.HTTPConnection:
        return http.client.HTTPConnection("127.0.0.1", self.port, timeout=600)

    def request(
        self, method: str, path: str, headers: dict[str, str] | None = None, body: bytes | None = None
    ) -> tuple[int, dict[str, str], bytes]:
        connection = self.connection()
        try:
            connection.request(method, path, body=body, headers=headers or {})
            response = connection.getresponse()
            return response.status, {k.lower(): v for k, v in response.getheaders()}, response.read()
        finally:
            connection.close()

    def stop(self) -> None:
        try:
            os.killpg(self.process.pid, signal.SIGTERM)
            self.process.wait(timeout=60)
        except ProcessLookupError:
            pass
        except subprocess.TimeoutExpired:
            os.killpg(self.process.pid, signal.SIGKILL)
            self.process.wait()


@dataclass
class Visitor:
    """A signed-in browser: its cookies and the CSRF token its pages would carry."""

    cookie: str
    csrf: str

    @property
    def headers(self) -> dict[str, str]:
        return {"Cookie": self.cookie, "X-CSRF-Token": self.csrf}


def sign_in(server: Server, settings: Settings, url: str, user_id: str) -> Visitor:
    """A real session row (as the sign-in pages leave after the second factor) and the CSRF
    cookie the server hands out, with its form token."""
    engine = make_engine(url)
    with session_scope(engine, write=True) as session:
        user = session.get(User, user_id)
        assert user is not None
        token = sessions.start_session(
            session, user, mfa_passed=True, now=utcnow(), timeouts=timeouts(settings)
        )
        session.commit()
    engine.dispose()
    _, headers, _ = server.request("GET", "/healthz")
    name = csrf_cookie_name(settings.secure_cookies)
    match = re.search(rf"{re.escape(name)}=([^;]+)", headers.get("set-cookie", ""))
    if not match:
        raise RuntimeError("no CSRF cookie from /healthz")
    csrf = keyed_hash(Keys.from_settings(settings).csrf, match.group(1))
    return Visitor(f"{session_cookie_name(settings)}={token}; {name}={match.group(1)}", csrf)


# --- wrk ----------------------------------------------------------------------------------------


def wrk(
    server: Server,
    folder: Path,
    endpoint: Endpoint,
    visitor: Visitor,
    threads: int,
    connections: int,
    seconds: float,
) -> dict[str, Any]:
    request = PUT_REQUEST.format(path=endpoint.path) if endpoint.method == "PUT" else ""
    script = folder / f"wrk-{endpoint.name.replace(' ', '-').replace('/', '')}.lua"
    script.write_text(
        LUA.format(method=endpoint.method, cookie=visitor.cookie, csrf=visitor.csrf, request=request)
    )
    done = subprocess.run(  # noqa: S603 - our own command line
        [  # noqa: S607 - wrk from the PATH (deploy/debian-dev.txt)
            "wrk",
            *(
                f"-t{threads}",
                f"-c{connections}",
                f"-d{max(1, round(seconds))}s",
                "--timeout",
                "30s",
                "--latency",
            ),
            *("-s", str(script), f"http://127.0.0.1:{server.port}{endpoint.path}"),
        ],
        capture_output=True,
        text=True,
        check=True,
    )
    line = next(x for x in done.stdout.splitlines() if x.startswith("BENCHJSON "))
    raw = json.loads(line.removeprefix("BENCHJSON "))
    finished = raw["requests"] > 0  # a response slower than the whole run leaves no latency
    return {
        "median_ms": raw["p50_us"] / 1000 if finished else None,
        "p95_ms": raw["p95_us"] / 1000 if finished else None,
        "p99_ms": raw["p99_us"] / 1000 if finished else None,
        "requests_per_s": raw["requests"] / (raw["duration_us"] / 1e6),
        "requests": raw["requests"],
        "non_2xx": raw["non_2xx"],
        "socket_errors": raw["socket_errors"],
    }


# --- big files ------------------------------------------------------------------------------------


def blob(folder: Path, label: str, size: int) -> Path:
    """A file of `size` bytes that sniffs as a PDF (1 MiB of random bytes repeated), made once."""
    path = folder / f"bench-{size}.pdf"
    if not path.exists() or path.stat().st_size != size:
        chunk = secrets.token_bytes(MB)
        with path.open("wb") as out:
            out.write(b"%PDF-1.4\n" + chunk[9:])
            for _ in range(size // MB - 1):
                out.write(chunk)
    return path


def upload(
    server: Server, visitor: Visitor, engagement_id: str, control_id: str, path: Path, title: str
) -> dict[str, Any]:
    """POST the file as the browser's form does (CSRF token the first field), streamed from disk."""
    boundary = "----attestbench" + secrets.token_hex(8)
    fields = [("csrf_token", visitor.csrf), ("title", title), ("kind", "report"), ("control_ids", control_id)]
    head = b"".join(
        f'--{boundary}\r\nContent-Disposition: form-data; name="{n}"\r\n\r\n{v}\r\n'.encode()
        for n, v in fields
    )
    head += (
        f'--{boundary}\r\nContent-Disposition: form-data; name="file"; filename="{path.name}"\r\n'
        "Content-Type: application/pdf\r\n\r\n"
    ).encode()
    tail = f"\r\n--{boundary}--\r\n".encode()
    size = path.stat().st_size
    connection = server.connection()
    with RssWatch(server.workers()) as watch:
        start = time.perf_counter()
        connection.putrequest("POST", f"/engagements/{engagement_id}/evidence")
        for name, value in {
            "Cookie": visitor.cookie,
            "Accept": "application/json",
            "Content-Type": f"multipart/form-data; boundary={boundary}",
            "Content-Length": str(len(head) + size + len(tail)),
        }.items():
            connection.putheader(name, value)
        connection.endheaders()
        connection.send(head)
        with path.open("rb") as source:
            while chunk := source.read(MB):
                connection.send(chunk)
        connection.send(tail)
        response = connection.getresponse()
        body = response.read()
        elapsed = time.perf_counter() - start
    connection.close()
    answer = json.loads(body) if response.status == 201 else {}
    return {
        "status": response.status,
        "seconds": elapsed,
        "mb_per_s": size / MB / elapsed,
        "rss_growth_mb": watch.growth_mb,
        "idle_rss_mb": watch.idle_mb,
        "evidence_id": answer.get("id", ""),
    }


def stream_get(server: Server, visitor: Visitor, path: str) -> dict[str, Any]:
    connection = server.connection()
    received = 0
    with RssWatch(server.workers()) as watch:
        start = time.perf_counter()
        connection.request("GET", path, headers=visitor.headers)
        response = connection.getresponse()
        while chunk := response.read(MB):
            received += len(chunk)
        elapsed = time.perf_counter() - start
    connection.close()
    return {
        "status": response.status,
        "seconds": elapsed,
        "bytes": received,
        "mb_per_s": received / MB / elapsed,
        "rss_growth_mb": watch.growth_mb,
        "idle_rss_mb": watch.idle_mb,
    }


def repeated(server: Server, visitor: Visitor, path: str, runs: int) -> dict[str, Any]:
    """A slow, heavy response fetched `runs` times: median and slowest time, size, memory."""
    samples, growth, status, size = [], 0.0, 0, 0
    for _ in range(runs):
        result = stream_get(server, visitor, path)
        samples.append(result["seconds"] * 1000)
        growth = max(growth, result["rss_growth_mb"])
        status, size = result["status"], result["bytes"]
    return {
        "status": status,
        "median_ms": statistics.median(samples),
        "max_ms": max(samples),
        "bytes": size,
        "rss_growth_mb": growth,
        "runs": runs,
    }


# --- one database at one size ------------------------------------------------------------


def endpoints(built: Built) -> list[Endpoint]:
    e0, control = built.engagement_ids[0], built.answered_control
    submission = built.submission_ids[0]
    return [
        Endpoint("work view", "GET", f"/engagements/{e0}/catalogues/iso27001-2022", "lead"),
        Endpoint("control page", "GET", f"/engagements/{e0}/controls/{control}", "lead"),
        Endpoint("readiness", "GET", f"/api/engagements/{e0}/readiness", "lead"),
        Endpoint("answer save", "PUT", f"/api/engagements/{e0}/responses/{control}", "lead"),
        Endpoint("advisor home", "GET", "/", "advisor"),
        Endpoint("portfolio", "GET", "/portfolio", "advisor"),
        Endpoint("review page", "GET", f"/submissions/{submission}", "advisor"),
        Endpoint("GET /api/engagements", "GET", "/api/engagements", "advisor"),
    ]


def run_one(
    kind: str,
    size_name: str,
    seconds: float,
    big: dict[str, int],
    blobs: Path,
    say: Callable[[str], None],
    heavy_runs: int = 2,
    worker_start_seconds: int = 120,
) -> dict[str, Any]:
    size = SIZES[size_name]
    folder = Path(tempfile.mkdtemp(prefix=f"attest-bench-{kind}-{size_name}-"))
    result: dict[str, Any] = {"database": kind, "size": size_name, "workers": WORKERS}
    result["load_average_at_start"] = os.getloadavg()[0]  # other work on the machine, 1-minute mean
    try:
        with database(kind, folder, size_name) as url, SmtpSink() as sink:
            env = production_env(folder, url, sink.port)
            settings = settings_of(env)
            attest(env, "db", "upgrade")
            engine = make_engine(url)
            built = build(engine, folder / "evidence", size)
            wide = widen(engine, built)
            engine.dispose()
            say(
                f"\n== {kind}, {size_name}: {size.engagements} engagements, {size.suppliers} suppliers, "
                f"{size.advisors} advisors; {sum(built.rows.values()):,} rows and "
                f"{built.rows['evidence']:,} evidence files built in {built.seconds:.1f} s"
            )
            result["data_set"] = {
                "engagements": size.engagements,
                "suppliers": size.suppliers,
                "advisors": size.advisors,
                "rows": built.rows,
                "evidence_bytes": built.evidence_bytes,
                "build_seconds": built.seconds,
                "wide_engagement_controls": wide,
            }
            server = Server(env, folder, worker_start_seconds)
            try:
                e0 = built.engagement_ids[0]
                lead = sign_in(server, settings, url, built.lead_of[built.supplier_of[e0]])
                advisor = sign_in(server, settings, url, built.advisor_ids[0])
                who = {"lead": lead, "advisor": advisor}
                result["endpoints"] = {}
                for endpoint in endpoints(built):
                    visitor = who[endpoint.who]
                    body = (
                        b'{"status": "met", "statement": "First save."}' if endpoint.method == "PUT" else None
                    )
                    headers = {**visitor.headers, "Content-Type": "application/json"}
                    status, _, content = server.request(endpoint.method, endpoint.path, headers, body)
                    row: dict[str, Any] = {"path": endpoint.path, "status": status, "kb": len(content) / 1024}
                    if status >= 400:
                        row["error"] = content[:500].decode(errors="replace")
                        say(f"  {endpoint.name}: {status} {row['error']}")
                    for label, (threads, connections) in CLIENTS.items():
                        row[label] = wrk(server, folder, endpoint, visitor, threads, connections, seconds)
                    result["endpoints"][endpoint.name] = row
                    one, eight = row["1 client"], row["8 clients"]
                    say(
                        f"  {endpoint.name:22} {status} {row['kb']:6.0f} KB"
                        f" | 1 client: median {ms(one['median_ms'])} ms"
                        f"  p95 {ms(one['p95_ms'])}  p99 {ms(one['p99_ms'])}"
                        f"  {one['requests_per_s']:6.0f} req/s"
                        f" | 8 clients: median {ms(eight['median_ms'])}  p99 {ms(eight['p99_ms'])}"
                        f"  {eight['requests_per_s']:6.0f} req/s"
                        + (
                            f"  ({one['non_2xx'] + eight['non_2xx']} non-2xx)"
                            if one["non_2xx"] + eight["non_2xx"]
                            else ""
                        )
                    )
                wide_id = built.engagement_ids[1]
                wide_control = "ISO-A.8.8"
                owner = sign_in(server, settings, url, built.lead_of[built.supplier_of[wide_id]])
                result["files"] = {}
                for label, nbytes in big.items():
                    source = blob(blobs, label, nbytes)
                    up = upload(server, owner, wide_id, wide_control, source, f"Bench upload {label}")
                    down = (
                        stream_get(server, owner, f"/evidence/{up['evidence_id']}/content")
                        if up["evidence_id"]
                        else {}
                    )
                    result["files"][label] = {"upload": up, "download": down}
                    say(
                        f"  {label:6} upload {up['status']} {up['mb_per_s']:7.0f} MB/s,"
                        f" RSS +{up['rss_growth_mb']:.1f} MB"
                        + (
                            f" | download {down['status']} {down['mb_per_s']:7.0f} MB/s,"
                            f" RSS +{down['rss_growth_mb']:.1f} MB"
                            if down
                            else ""
                        )
                    )
                export = repeated(server, owner, f"/engagements/{wide_id}/export.xlsx", heavy_runs + 1)
                export["controls"] = wide
                result["export"] = export
                say(
                    f"  export xlsx ({wide} controls) {export['status']} median {export['median_ms']:.0f} ms,"
                    f" {export['bytes'] / 1024:.0f} KB, RSS +{export['rss_growth_mb']:.1f} MB"
                )
                bundle = stream_get(server, owner, f"/engagements/{wide_id}/evidence.zip")
                result["bundle"] = bundle
                say(
                    f"  evidence bundle {bundle['status']} {bundle['bytes'] / MB:.0f} MB"
                    f" in {bundle['seconds']:.1f} s"
                    f" ({bundle['mb_per_s']:.0f} MB/s), RSS +{bundle['rss_growth_mb']:.1f} MB"
                )
                plan = repeated(server, lead, f"/engagements/{e0}/plan.pdf", heavy_runs)
                result["plan_pdf"] = plan
                say(
                    f"  plan PDF {plan['status']} median {plan['median_ms']:.0f} ms,"
                    f" {plan['bytes'] / 1024:.0f} KB"
                )
                result["server_rss_mb"] = {str(p): rss_kb(p, "VmHWM") / 1024 for p in server.workers()}
            finally:
                server.stop()
            result["access_log_lines"] = sum(1 for _ in server.log.open("rb"))
            start = time.perf_counter()
            done = attest(env, "remind", "--json", check=False)
            elapsed = time.perf_counter() - start
            result["reminder_sweep"] = {
                "seconds": elapsed,
                "messages_delivered": sink.messages,
                "exit_status": done.returncode,
                "stderr": done.stderr[-1000:],
                "result": json.loads(done.stdout) if done.stdout.strip().startswith("{") else done.stdout,
            }
            say(
                f"  reminder sweep over {size.engagements} engagements: {elapsed:.1f} s,"
                f" {sink.messages} mails"
            )
    finally:
        shutil.rmtree(folder, ignore_errors=True)
    result["load_average_at_end"] = os.getloadavg()[0]
    return result


def header(seconds: float, worker_start_seconds: int = 120) -> dict[str, Any]:
    return {
        "commit": git_commit(),
        "date": datetime.now(UTC).isoformat(timespec="seconds"),
        "machine": {
            "cores": os.cpu_count(),
            "python": platform.python_version(),
            "note": "a shared 2-core machine: other work ran beside the benchmark",
        },
        "server": f"attest serve --workers {WORKERS} (ATTEST_ENV=production, JSON access log at info)",
        "worker_start_seconds": worker_start_seconds,
        "wrk": {
            "seconds": seconds,
            "clients": {k: {"threads": t, "connections": c} for k, (t, c) in CLIENTS.items()},
        },
        "runs": [],
    }


def cell(template: str, *path: str) -> Callable[[dict[str, Any]], str]:
    """A table cell: `template` filled from the run's dictionary at `path`."""

    def render(run: dict[str, Any]) -> str:
        value: Any = run
        for key in path:
            value = value[key]
        return template.format(**value)

    return render


def table(report: dict[str, Any]) -> str:
    """Every run side by side, as a Markdown table (the README's Performance section)."""
    runs = report["runs"]
    heads = [f"{r['database']} {r['size']}" for r in runs]
    lines = ["| figure | " + " | ".join(heads) + " |", "|---|" + "---|" * len(runs)]

    def add(label: str, cell: Callable[[dict[str, Any]], str]) -> None:
        values = []
        for r in runs:
            try:
                values.append(cell(r))
            except (KeyError, TypeError, ZeroDivisionError):
                values.append("-")
        lines.append(f"| {label} | " + " | ".join(values) + " |")

    names = list(runs[0].get("endpoints", {})) if runs else []
    for name in names:
        add(
            f"{name}: 1 client median / p95 / p99 ms",
            cell("{median_ms:.1f} / {p95_ms:.1f} / {p99_ms:.1f}", "endpoints", name, "1 client"),
        )
        add(
            f"{name}: 8 clients req/s (p99 ms)",
            cell("{requests_per_s:.0f} ({p99_ms:.0f})", "endpoints", name, "8 clients"),
        )
    for label in runs[0].get("files", {}) if runs else []:
        for way in ("upload", "download"):
            add(
                f"{way} {label}: MB/s (RSS growth MB)",
                cell("{mb_per_s:.0f} (+{rss_growth_mb:.1f})", "files", label, way),
            )
    add(
        "export xlsx (every catalogue): median ms (RSS MB)",
        lambda r: "{median_ms:.0f} (+{rss_growth_mb:.1f})".format(**r["export"]),
    )
    add(
        "evidence bundle: MB in s (RSS MB)",
        lambda r: (
            f"{r['bundle']['bytes'] / MB:.0f} in {r['bundle']['seconds']:.1f}"
            f" (+{r['bundle']['rss_growth_mb']:.1f})"
        ),
    )
    add("plan PDF: median ms", lambda r: f"{r['plan_pdf']['median_ms']:.0f}")
    add(
        "reminder sweep: s (mails)",
        lambda r: f"{r['reminder_sweep']['seconds']:.1f} ({r['reminder_sweep']['messages_delivered']})",
    )
    add("data set build: s", lambda r: f"{r['data_set']['build_seconds']:.1f}")
    return "\n".join(lines)


# Issue 18 item 6: (figure, what is compared, target, at most (True) or at least (False)).
TARGETS: tuple[tuple[str, tuple[str, ...], float, bool], ...] = (
    ("work view median <= 5 ms", ("endpoints", "work view", "1 client", "median_ms"), 5, True),
    ("readiness median <= 5 ms", ("endpoints", "readiness", "1 client", "median_ms"), 5, True),
    ("control page median <= 5 ms", ("endpoints", "control page", "1 client", "median_ms"), 5, True),
    ("answer save median <= 5 ms", ("endpoints", "answer save", "1 client", "median_ms"), 5, True),
    ("advisor home median <= 30 ms", ("endpoints", "advisor home", "1 client", "median_ms"), 30, True),
    ("portfolio median <= 30 ms", ("endpoints", "portfolio", "1 client", "median_ms"), 30, True),
    (
        "work view, 8 clients >= 300 req/s",
        ("endpoints", "work view", "8 clients", "requests_per_s"),
        300,
        False,
    ),
    (
        "control page, 8 clients >= 500 req/s",
        ("endpoints", "control page", "8 clients", "requests_per_s"),
        500,
        False,
    ),
    ("upload 1 GB >= 300 MB/s", ("files", "1 GB", "upload", "mb_per_s"), 300, False),
    ("download 1 GB >= 1024 MB/s", ("files", "1 GB", "download", "mb_per_s"), 1024, False),
    ("upload 1 GB RSS growth < 20 MB", ("files", "1 GB", "upload", "rss_growth_mb"), 20, True),
    ("download 1 GB RSS growth < 20 MB", ("files", "1 GB", "download", "rss_growth_mb"), 20, True),
    ("reminder sweep < 10 s", ("reminder_sweep", "seconds"), 10, True),
    ("export RSS growth < 100 MB (issue 17)", ("export", "rss_growth_mb"), 100, True),
    ("bundle RSS growth < 100 MB (issue 17)", ("bundle", "rss_growth_mb"), 100, True),
)


def targets(report: dict[str, Any]) -> str:
    """Each target against each run: the figure, and met or missed (a Markdown table)."""
    runs = report["runs"]
    lines = [
        "| target | " + " | ".join(f"{r['database']} {r['size']}" for r in runs) + " |",
        "|---|" + "---|" * len(runs),
    ]
    for label, path, limit, at_most in TARGETS:
        cells = []
        for run in runs:
            value: Any = run
            try:
                for key in path:
                    value = value[key]
            except (KeyError, TypeError):
                cells.append("-")
                continue
            if value is None:
                cells.append("none finished: missed")
                continue
            met = value <= limit if at_most else value >= limit
            cells.append(f"{value:.1f} {'met' if met else 'missed'}")
        lines.append(f"| {label} | " + " | ".join(cells) + " |")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> dict[str, Any]:
    parser = argparse.ArgumentParser(prog="python -m bench.scale", description=__doc__.split("\n\n")[0])
    parser.add_argument("--size", choices=("small", "large", "both"), default="both")
    parser.add_argument("--db", choices=("sqlite", "postgres", "both"), default="both")
    parser.add_argument("--seconds", type=float, default=5.0, help="wrk's duration for each figure")
    parser.add_argument(
        "--big-mb", type=int, nargs="*", default=None, help="upload sizes in MiB (default 50 1024)"
    )
    parser.add_argument(
        "--heavy-runs", type=int, default=2, help="times the plan PDF is made (export: one more)"
    )
    parser.add_argument(
        "--worker-start-seconds",
        type=int,
        default=120,
        help="how long uvicorn waits for a worker's first health answer (5: plain attest serve)",
    )
    parser.add_argument("--out", type=Path, default=RESULTS)
    parser.add_argument("--show", type=Path, help="print the tables of a results file, measure nothing")
    args = parser.parse_args(argv)
    if args.show:
        shown: dict[str, Any] = json.loads(args.show.read_text())
        for run in shown["runs"]:  # files written before "none finished" was recorded as null
            for row in run.get("endpoints", {}).values():
                for clients in CLIENTS:
                    if row[clients]["requests"] == 0:
                        row[clients].update(median_ms=None, p95_ms=None, p99_ms=None)
        print(table(shown) + "\n\n" + targets(shown))
        return shown
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))  # stop the server and drop the databases
    if shutil.which("wrk") is None:
        sys.exit("wrk is missing: make system-deps (Debian package wrk)")
    big = BIG_FILES if args.big_mb is None else {f"{n} MB": n * MB for n in args.big_mb}
    kinds = ("sqlite", "postgres") if args.db == "both" else (args.db,)
    sizes = ("small", "large") if args.size == "both" else (args.size,)
    blobs = Path(tempfile.mkdtemp(prefix="attest-bench-blobs-"))
    report = header(args.seconds, args.worker_start_seconds)
    try:
        for kind in kinds:
            for size in sizes:
                report["runs"].append(
                    run_one(
                        kind,
                        size,
                        args.seconds,
                        big,
                        blobs,
                        lambda line: print(line, flush=True),
                        args.heavy_runs,
                        args.worker_start_seconds,
                    )
                )
                args.out.parent.mkdir(parents=True, exist_ok=True)
                args.out.write_text(json.dumps(report, indent=2))  # each run kept as it ends
    finally:
        shutil.rmtree(blobs, ignore_errors=True)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(report, indent=2))
    print("\n" + table(report) + "\n\n" + targets(report))
    print(f"\nwritten to {args.out}")
    return report


if __name__ == "__main__":
    main()
