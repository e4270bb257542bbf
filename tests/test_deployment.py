"""The production shape as shipped: the image, the Makefile's system packages, compose.yaml.

There is no Docker engine here, so the image is checked by reading the Dockerfile, and its
health check command is run against a real `attest serve`; compose.yaml is validated by
Debian's docker-compose (`make dev` installs it) and its resolved form read back. The
Makefile's package targets run for real with only the package manager replaced by a
recorder: installing packages is not something a test may do to the machine.
"""

from __future__ import annotations

import http.server
import json
import os
import re
import secrets
import shlex
import shutil
import socket
import sqlite3
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import httpx
import pytest
import yaml

from app.config import Settings
from app.domain import addresses
from tests.conftest import CONTROLS, REPO

ATTEST = str(Path(sys.executable).parent / "attest")
RUNTIME_LIST = REPO / "deploy" / "debian-runtime.txt"
DEV_LIST = REPO / "deploy" / "debian-dev.txt"
# Anything that puts a system package into an image or onto a machine.
INSTALLS_PACKAGES = re.compile(r"\b(apt-get|apt|aptitude)\s+(\S+\s+)*install\b|\bdpkg\s+-i\b|\bapk\s+add\b")


def listed(path: Path) -> list[str]:
    """The packages a list file names: one a line, '#' starts a comment."""
    return [name for line in path.read_text().splitlines() if (name := line.split("#", 1)[0].strip())]


def dockerfile() -> list[tuple[str, str]]:
    """The Dockerfile's instructions as (KEYWORD, arguments), continuation lines joined."""
    instructions: list[tuple[str, str]] = []
    current = ""
    for line in (REPO / "Dockerfile").read_text().splitlines():
        stripped = line.strip()
        if not current and (not stripped or stripped.startswith("#")):
            continue
        if current and stripped.startswith("#"):  # a comment inside a continued instruction
            continue
        current += " " + stripped.removesuffix("\\") if current else stripped.removesuffix("\\")
        if not stripped.endswith("\\"):
            keyword, _, rest = current.strip().partition(" ")
            instructions.append((keyword.upper(), rest.strip()))
            current = ""
    return instructions


def arguments(keyword: str) -> list[str]:
    return [rest for name, rest in dockerfile() if name == keyword]


# --- system packages: one list, read by the Dockerfile and the Makefile ---------------------


def test_the_package_lists_name_packages_and_the_runtime_one_what_weasyprint_loads() -> None:
    runtime, dev = listed(RUNTIME_LIST), listed(DEV_LIST)
    assert all(re.fullmatch(r"[a-z0-9][a-z0-9.+-]+", name) for name in runtime + dev)
    assert {"libpango-1.0-0", "libpangoft2-1.0-0", "fonts-dejavu-core"} <= set(runtime)
    assert {"chromium", "docker-compose"} <= set(dev)
    assert not set(runtime) & set(dev)  # the image gets no test-only package


def test_the_image_installs_exactly_the_runtime_list() -> None:
    copies = [rest.split() for rest in arguments("COPY")]
    targets = [parts[-1] for parts in copies if parts[:-1] == ["deploy/debian-runtime.txt"]]
    assert len(targets) == 1, "the Dockerfile copies deploy/debian-runtime.txt into the image"
    installs = [rest for name, rest in dockerfile() if INSTALLS_PACKAGES.search(rest)]
    assert len(installs) == 1, installs  # one instruction installs system packages ...
    (run,) = installs
    assert run in arguments("RUN")
    assert targets[0] in run  # ... from the copied list, piped to xargs ...
    install = re.search(r"\|[^|&]*\bxargs\b[^|&]*\bapt-get install\b([^|&]*)", run)
    assert install is not None, run
    named = [word for word in install.group(1).split() if not word.startswith("-")]
    assert named == [], f"packages named in the Dockerfile itself: {named}"  # ... and names none
    assert "--no-install-recommends" in install.group(1)
    assert run.index(targets[0]) < run.index("xargs")


def run_package_target(tmp_path: Path, target: str, installed: bool) -> list[list[str]]:
    """Run `make <target>` with dpkg-query answering for every package (`installed` or not) and
    apt-get and sudo recording what they were asked; the apt-get calls, as argument lists."""
    stubs = tmp_path / "stubs"
    stubs.mkdir(exist_ok=True)
    log = tmp_path / f"apt-{target}.log"
    status = "printf 'install ok installed'" if installed else "exit 1"
    scripts = {
        "dpkg-query": f"#!/bin/sh\n{status}\n",
        "apt-get": f'#!/bin/sh\nprintf "%s\\n" "$*" >> {shlex.quote(str(log))}\n',
        "sudo": '#!/bin/sh\nexec "$@"\n',
    }
    for name, body in scripts.items():
        (stubs / name).write_text(body)
        (stubs / name).chmod(0o755)
    env = {**os.environ, "PATH": f"{stubs}{os.pathsep}{os.environ['PATH']}"}
    result = subprocess.run(
        ["make", "--no-print-directory", "-s", target], cwd=REPO, env=env, capture_output=True, text=True
    )
    assert result.returncode == 0, result.stderr
    return [line.split() for line in log.read_text().splitlines()] if log.exists() else []


def installed_by(calls: list[list[str]]) -> list[str]:
    (install,) = [call for call in calls if "install" in call]
    return [word for word in install[install.index("install") + 1 :] if not word.startswith("-")]


def test_make_installs_the_same_lists_and_only_what_is_missing(tmp_path: Path) -> None:
    assert installed_by(run_package_target(tmp_path, "runtime-deps", installed=False)) == listed(RUNTIME_LIST)
    everything = listed(RUNTIME_LIST) + listed(DEV_LIST)
    assert installed_by(run_package_target(tmp_path, "system-deps", installed=False)) == everything
    fresh = tmp_path / "all-installed"
    fresh.mkdir()
    assert run_package_target(fresh, "runtime-deps", installed=True) == []
    assert run_package_target(fresh, "system-deps", installed=True) == []


def test_nothing_else_in_the_makefile_installs_packages() -> None:
    recipes = [
        line
        for line in (REPO / "Makefile").read_text().splitlines()
        if not line.lstrip().startswith("#") and INSTALLS_PACKAGES.search(line)
    ]
    assert len(recipes) == 1 and "$$missing" in recipes[0], recipes
    text = (REPO / "Makefile").read_text()
    assert "RUNTIME_PACKAGES := deploy/debian-runtime.txt" in text
    assert "DEV_PACKAGES := deploy/debian-dev.txt" in text


# --- the image: non-root, a health check that works, no migration in the command -------------


def test_the_image_runs_as_a_non_root_user() -> None:
    users = arguments("USER")
    assert users, "the Dockerfile sets a USER"
    user = users[-1].split(":")[0]
    assert user not in {"root", "0"}
    keywords = [name for name, _ in dockerfile()]
    assert len(keywords) - 1 - keywords[::-1].index("USER") < keywords.index("CMD")


def default_command() -> list[str]:
    (command,) = arguments("CMD")
    value: list[str] = json.loads(command)
    return value


def test_no_replica_migrates_on_start() -> None:
    command = default_command()
    assert command[:2] == ["attest", "serve"]
    assert not arguments("ENTRYPOINT")
    assert "upgrade" not in " ".join(command)


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


def healthcheck_argv(port: int) -> list[str]:
    (healthcheck,) = arguments("HEALTHCHECK")
    options, _, command = healthcheck.partition("CMD ")
    assert options and "--interval=" in options and "--timeout=" in options
    argv: list[str] = json.loads(command)
    served = default_command()
    served_port = served[served.index("--port") + 1]
    assert f"http://127.0.0.1:{served_port}/healthz" in argv[-1]  # the port the CMD serves
    assert argv[0] == "python"
    return [sys.executable, *(part.replace(f":{served_port}/", f":{port}/") for part in argv[1:])]


def test_the_health_check_passes_on_a_serving_replica_and_fails_without_one(tmp_path: Path) -> None:
    port = free_port()
    check = healthcheck_argv(port)
    assert subprocess.run(check, capture_output=True, timeout=30).returncode == 1  # nothing listens
    env = {k: v for k, v in os.environ.items() if not k.startswith("ATTEST_")}
    env.update(ATTEST_CONTROLS_DIR=str(CONTROLS))
    upgrade = subprocess.run([ATTEST, "db", "upgrade"], cwd=tmp_path, env=env, capture_output=True)
    assert upgrade.returncode == 0, upgrade.stderr
    with open(tmp_path / "serve.log", "wb") as log:
        server = subprocess.Popen(
            [ATTEST, "serve", "--host", "127.0.0.1", "--port", str(port)],
            cwd=tmp_path,
            env=env,
            stdout=log,
            stderr=subprocess.STDOUT,
        )
    try:
        deadline = time.monotonic() + 30
        while subprocess.run(check, capture_output=True, timeout=30).returncode != 0:
            assert server.poll() is None, (tmp_path / "serve.log").read_text()
            assert time.monotonic() < deadline, "the health check never passed"
            time.sleep(0.3)
    finally:
        server.terminate()
        server.wait(timeout=30)
    assert subprocess.run(check, capture_output=True, timeout=30).returncode == 1


# --- compose.yaml ---------------------------------------------------------------------------

REQUIRED = re.compile(r"\$\{(ATTEST_[A-Z0-9_]+):\?")


def compose(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    binary = shutil.which("docker-compose")
    if binary is None:
        pytest.fail("docker-compose is not installed: `make dev` installs it (deploy/debian-dev.txt)")
    base = {k: v for k, v in os.environ.items() if not k.startswith("ATTEST_")}
    return subprocess.run(
        [binary, "-f", str(REPO / "compose.yaml"), *args],
        cwd=REPO,
        env={**base, **(env or {})},
        capture_output=True,
        text=True,
        timeout=60,
    )


def operator_values() -> dict[str, str]:
    """What an operator puts in deploy/compose.env."""
    return {
        "ATTEST_BASE_URL": "https://attest.example.gov.uk",
        "ATTEST_SECRET_KEY": secrets.token_urlsafe(48),
        "ATTEST_AUDIT_KEY": secrets.token_urlsafe(48),
        "ATTEST_POSTGRES_PASSWORD": secrets.token_hex(24),
        "ATTEST_S3_ACCESS_KEY": secrets.token_hex(16),
        "ATTEST_S3_SECRET_KEY": secrets.token_hex(32),
        "ATTEST_REDIS_PASSWORD": secrets.token_hex(24),
    }


@pytest.fixture(scope="module")
def resolved() -> dict[str, Any]:
    """compose.yaml as docker-compose resolves it with an operator's values."""
    check = compose("config", "-q", env=operator_values())
    assert check.returncode == 0, check.stderr
    result = compose("config", env=operator_values())
    assert result.returncode == 0, result.stderr
    value: dict[str, Any] = yaml.safe_load(result.stdout)
    return value


def test_docker_compose_config_passes(resolved: dict[str, Any]) -> None:
    assert {
        "web",
        "worker",
        "migrate",
        "postgres",
        "redis",
        "seaweedfs",
        "bucket",
        "mailpit",
        "nginx",
    } <= set(resolved["services"])


def test_compose_refuses_to_start_without_the_secrets() -> None:
    values = operator_values()
    for name in values:
        result = compose("config", "-q", env={k: v for k, v in values.items() if k != name})
        assert result.returncode != 0
        assert name in result.stderr.splitlines()[-1]
    example = compose("--env-file", str(REPO / "deploy" / "compose.env.example"), "config", "-q")
    assert example.returncode != 0  # the example's values are empty until an operator fills them


def test_the_example_env_file_names_every_required_value() -> None:
    required = set(REQUIRED.findall((REPO / "compose.yaml").read_text()))
    assert required == set(operator_values())
    example = (REPO / "deploy" / "compose.env.example").read_text().splitlines()
    assert {line.split("=", 1)[0] for line in example if line and not line.startswith("#")} == required


def test_two_web_replicas_and_a_worker_start_after_one_migration(resolved: dict[str, Any]) -> None:
    services = resolved["services"]
    assert services["web"]["deploy"]["replicas"] == 2
    assert services["migrate"]["command"] == ["attest", "db", "upgrade"]
    assert services["migrate"]["restart"] == "no"
    assert services["worker"]["command"] == ["attest", "worker"]
    for name in ("web", "worker"):
        assert services[name]["depends_on"]["migrate"] == {"condition": "service_completed_successfully"}
        assert services[name]["depends_on"]["postgres"] == {"condition": "service_healthy"}
        assert services[name]["image"] == services["migrate"]["image"]  # one image
    assert "healthcheck" not in services["web"]  # the image's own: GET /healthz
    # A worker serves no HTTP: its check asks the queue whether this worker can reach it.
    assert services["worker"]["healthcheck"]["test"] == ["CMD", "attest", "worker", "--check"]
    for name in ("postgres", "seaweedfs", "nginx"):
        assert services[name]["healthcheck"]["test"][0] == "CMD"
    assert services["nginx"]["depends_on"]["web"] == {"condition": "service_healthy"}


def test_web_and_worker_share_one_redis_queue_that_keeps_its_jobs(resolved: dict[str, Any]) -> None:
    services = resolved["services"]
    redis = services["redis"]
    assert redis["image"].startswith("redis:")  # the official image
    assert "ports" not in redis  # reachable only by the services inside compose
    command = " ".join(redis["command"])
    assert "--appendonly yes" in command  # queued jobs and retries survive a restart
    password = redis["environment"]["REDIS_PASSWORD"]
    assert len(password) >= 32 and redis["environment"]["REDISCLI_AUTH"] == password
    # `config` prints compose's escape ($$): the container's shell expands the variable, so the
    # password is not written into the file's command.
    assert '--requirepass "$$REDIS_PASSWORD"' in command
    assert redis["healthcheck"]["test"] == ["CMD-SHELL", "redis-cli ping | grep -q PONG"]
    for name in ("web", "worker"):
        assert services[name]["depends_on"]["redis"] == {"condition": "service_healthy"}
        url = services[name]["environment"]["ATTEST_QUEUE_URL"]
        assert url == f"redis://:{password}@redis:6379/0"
        settings = Settings(_env_file=None, queue_url=url)
        assert settings.queue_url == url  # the setting's own check accepts it


def test_the_stores_keep_their_data_in_named_volumes(resolved: dict[str, Any]) -> None:
    services = resolved["services"]
    named = set(resolved["volumes"])
    for name, path in (
        ("postgres", "/var/lib/postgresql/data"),
        ("redis", "/data"),
        ("seaweedfs", "/data"),
        ("mailpit", "/data"),
    ):
        mounts = [volume.split(":") for volume in services[name]["volumes"]]
        assert any(source in named and target == path for source, target, *_ in mounts), mounts


def test_the_app_environment_is_complete_and_passes_productions_checks(resolved: dict[str, Any]) -> None:
    fields = {f"ATTEST_{name.upper()}": name for name in Settings.model_fields}
    environment: dict[str, str] = resolved["services"]["web"]["environment"]
    assert set(environment) <= set(fields), set(environment) - set(fields)  # no misspelt setting
    settings = Settings(_env_file=None, **{fields[k]: v for k, v in environment.items()})  # type: ignore[arg-type]
    assert settings.env == "production" and settings.production_problems() == []
    assert settings.effective_database_url.startswith("postgresql+psycopg://attest:")
    assert settings.evidence_backend == "s3" and settings.s3_endpoint_url == "http://seaweedfs:8333"
    assert settings.mail_backend == "smtp" and settings.smtp_host == "mailpit"
    for name in ("worker", "migrate"):
        assert resolved["services"][name]["environment"] == environment
    seaweedfs = resolved["services"]["seaweedfs"]["environment"]
    assert (seaweedfs["AWS_ACCESS_KEY_ID"], seaweedfs["AWS_SECRET_ACCESS_KEY"]) == (
        settings.s3_access_key,
        settings.s3_secret_key,
    )
    postgres = resolved["services"]["postgres"]["environment"]
    assert (
        f":{postgres['POSTGRES_PASSWORD']}@postgres:5432/{postgres['POSTGRES_DB']}" in settings.database_url
    )


def test_only_nginx_is_a_trusted_proxy_and_it_uses_the_shipped_config(resolved: dict[str, Any]) -> None:
    services = resolved["services"]
    nginx = services["nginx"]
    address = nginx["networks"]["edge"]["ipv4_address"]
    settings = Settings(
        _env_file=None, trusted_proxies=services["web"]["environment"]["ATTEST_TRUSTED_PROXIES"]
    )
    assert [str(network) for network in settings.trusted_networks] == [f"{address}/32"]
    assert "edge" in services["web"]["networks"]
    assert "ports" not in services["web"]  # reachable only through nginx
    assert f"{REPO / 'deploy' / 'nginx.conf'}:/etc/nginx/nginx.conf:ro" in nginx["volumes"]
    config = (REPO / "deploy" / "nginx.conf").read_text()
    assert "proxy_set_header X-Forwarded-For $remote_addr;" in config
    assert re.search(r'proxy_set_header Forwarded "for=\$forwarded_for;', config)
    assert "http://web:8000" in config


# --- deploy/nginx.conf in front of a real `attest serve` -------------------------------------

SECRET = "deployment-test-secret-" + "d" * 32
CSRF_COOKIE = "c" * 43


def self_signed(folder: Path) -> None:
    """attest.crt and attest.key for 127.0.0.1, as deploy/tls/ holds them."""
    import datetime

    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "127.0.0.1")])
    now = datetime.datetime.now(datetime.UTC)
    certificate = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5))
        .not_valid_after(now + datetime.timedelta(days=1))
        .sign(key, hashes.SHA256())
    )
    folder.mkdir()
    (folder / "attest.crt").write_bytes(certificate.public_bytes(serialization.Encoding.PEM))
    (folder / "attest.key").write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
        )
    )


def local_nginx_config(root: Path, app_port: int, http_port: int, https_port: int) -> Path:
    """deploy/nginx.conf with only what differs outside compose replaced: the ports it listens
    on, where the certificate and pid file are, and the address of the web replica."""
    replacements = {
        "listen 80;": f"listen 127.0.0.1:{http_port};",
        "listen 443 ssl;": f"listen 127.0.0.1:{https_port} ssl; listen [::1]:{https_port} ssl;",
        "/etc/nginx/tls/": f"{root / 'tls'}/",
        "pid /var/run/nginx.pid;": f"pid {root / 'nginx.pid'};"
        + (" user root;" if os.geteuid() == 0 else ""),
        "http://web:8000": f"http://127.0.0.1:{app_port}",
    }
    config = (REPO / "deploy" / "nginx.conf").read_text()
    for old, new in replacements.items():
        assert old in config, old
        config = config.replace(old, new)
    path = root / "nginx.conf"
    path.write_text(config)
    return path


@contextmanager
def running_nginx(root: Path, app_port: int) -> Iterator[tuple[int, int]]:
    """deploy/nginx.conf, checked with `nginx -t`, then running in front of `app_port`;
    yields its http and https ports."""
    nginx = shutil.which("nginx")
    if nginx is None:
        pytest.fail("nginx is not installed: `make dev` installs it (deploy/debian-dev.txt)")
    if not (root / "tls").exists():
        self_signed(root / "tls")
    http_port, https_port = free_port(), free_port()
    config = local_nginx_config(root, app_port, http_port, https_port)
    checked = subprocess.run([nginx, "-t", "-p", str(root), "-c", str(config)], capture_output=True)
    assert checked.returncode == 0, checked.stderr.decode()
    with open(root / "nginx.log", "wb") as log:
        proxy = subprocess.Popen(
            [nginx, "-p", str(root), "-c", str(config), "-g", "daemon off;"], stdout=log, stderr=log
        )
    try:
        deadline = time.monotonic() + 20
        while True:
            try:
                if httpx.get(f"http://127.0.0.1:{http_port}/nginx-health").status_code == 200:
                    break
            except httpx.TransportError:
                assert proxy.poll() is None and time.monotonic() < deadline, (root / "nginx.log").read_text()
                time.sleep(0.2)
        yield http_port, https_port
    finally:
        proxy.terminate()
        proxy.wait(timeout=10)


class HeaderEcho(http.server.BaseHTTPRequestHandler):
    """An upstream that answers every request with the request's headers as JSON."""

    def do_GET(self) -> None:
        body = json.dumps({name.lower(): value for name, value in self.headers.items()}).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args: object) -> None:
        pass


def test_the_nginx_config_sends_both_headers_naming_the_client_over_ipv4_and_ipv6(tmp_path: Path) -> None:
    echo = http.server.ThreadingHTTPServer(("127.0.0.1", 0), HeaderEcho)
    threading.Thread(target=echo.serve_forever, daemon=True).start()
    try:
        with running_nginx(tmp_path, echo.server_address[1]) as (_, https_port):
            seen = {}
            for source, host in (("127.0.0.5", "127.0.0.1"), ("::1", "[::1]")):
                with httpx.Client(
                    transport=httpx.HTTPTransport(local_address=source, verify=False)
                ) as client:
                    forged = {"X-Forwarded-For": "6.6.6.6", "Forwarded": "for=6.6.6.6"}
                    seen[source] = client.get(f"https://{host}:{https_port}/sign-in", headers=forged).json()
    finally:
        echo.shutdown()
        echo.server_close()
    assert seen["127.0.0.5"]["x-forwarded-for"] == "127.0.0.5"
    assert seen["127.0.0.5"]["forwarded"] == 'for=127.0.0.5;proto=https;host="127.0.0.1"'
    assert seen["::1"]["x-forwarded-for"] == "::1"
    assert seen["::1"]["forwarded"] == 'for="[::1]";proto=https;host="[::1]"'
    assert seen["::1"]["x-forwarded-proto"] == "https"
    nginx_peer = addresses.parse_networks("127.0.0.1")
    for source, headers in seen.items():
        assert (
            addresses.client_address("127.0.0.1", [], nginx_peer, forwarded=[headers["forwarded"]]) == source
        )


def failed_sign_in(base_url: str, source: str, email: str, headers: dict[str, str] | None = None) -> int:
    from app.adapters.crypto import Keys, keyed_hash

    form = {"email": email, "password": "wrong", "csrf_token": keyed_hash(Keys(SECRET).csrf, CSRF_COOKIE)}
    with httpx.Client(
        transport=httpx.HTTPTransport(local_address=source, verify=False),
        cookies={"attest_csrf": CSRF_COOKIE},
    ) as client:
        return client.post(f"{base_url}/sign-in", data=form, headers=headers or {}).status_code


def test_through_the_shipped_nginx_config_the_real_client_is_throttled_and_audited(tmp_path: Path) -> None:
    from app.domain.credentials import ADDRESS_FAILURE_LIMIT
    from tests.test_cli import run, serving

    assert run(tmp_path, "db", "upgrade").returncode == 0
    # nginx reaches the app from 127.0.0.1, its only trusted proxy; clients come from 127.0.0.5-7
    with (
        serving(tmp_path, ATTEST_SECRET_KEY=SECRET, ATTEST_TRUSTED_PROXIES="127.0.0.1") as (direct, _),
        running_nginx(tmp_path, int(direct.rsplit(":", 1)[1])) as (http_port, https_port),
    ):
        assert httpx.get(f"http://127.0.0.1:{http_port}/sign-in").status_code == 301  # to https
        proxied = f"https://127.0.0.1:{https_port}"
        forged = {"X-Forwarded-For": "6.6.6.6", "Forwarded": "for=6.6.6.6"}  # nginx replaces both
        statuses = [
            failed_sign_in(proxied, "127.0.0.5", f"n{n}@example.org", forged)
            for n in range(ADDRESS_FAILURE_LIMIT + 1)
        ]
        assert statuses[-1] == 429 and 429 not in statuses[:ADDRESS_FAILURE_LIMIT]
        assert failed_sign_in(proxied, "127.0.0.7", "other@example.org") == 422  # not nginx's address
        # straight to the app, claiming to be the locked-out client: not believed
        claim = {"Forwarded": "for=127.0.0.5", "X-Forwarded-For": "127.0.0.5"}
        assert failed_sign_in(direct, "127.0.0.6", "direct@example.org", claim) == 422
    database = sqlite3.connect(tmp_path / "var" / "attest.db")
    recorded = [
        row[0] for row in database.execute("SELECT address FROM audit_event WHERE action = 'sign_in'")
    ]
    database.close()
    assert set(recorded) == {"127.0.0.5", "127.0.0.6", "127.0.0.7"}
    assert recorded.count("127.0.0.5") >= ADDRESS_FAILURE_LIMIT
