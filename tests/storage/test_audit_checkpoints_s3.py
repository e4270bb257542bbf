"""Audit checkpoints in the evidence store's S3 bucket, against the real SeaweedFS server of
tests/storage/test_s3_store.py: `attest audit checkpoint` on one node writes the heads of every
chain to the bucket under audit-checkpoints/, and `attest audit verify` on another node, which
has no checkpoint file of its own, catches a chain's tail cut off after it. Also the small named
objects (`put_bytes`, `get_bytes`, `list_names`) both stores now keep."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from app import migrate
from app.adapters.crypto import Keys
from app.adapters.storage import LocalEvidenceStore, S3EvidenceStore
from app.db import make_engine, session_scope
from app.services import audit
from tests.storage.test_s3_store import ACCESS_KEY, REGION, SECRET_KEY, S3Server, make_s3_store, s3_server
from tests.test_cli import run

pytestmark = pytest.mark.xdist_group("seaweedfs")  # the same worker as test_s3_store.py's server
__all__ = ["s3_server"]  # the session's SeaweedFS fixture, used below

SECRET = {"ATTEST_SECRET_KEY": "the-key-the-log-was-written-with-" + "s" * 16}
ORG = "organisation:o1"
ENGAGEMENT = "engagement:e1"


@pytest.fixture
def store(s3_server: S3Server, tmp_path: Path) -> S3EvidenceStore:
    return make_s3_store(s3_server, tmp_path / "spool")


def _round_trip(store: S3EvidenceStore | LocalEvidenceStore) -> None:
    store.put_bytes("audit-checkpoints/b.json", b'{"n": 1}')
    store.put_bytes("audit-checkpoints/a.json", b'{"n": 2}')
    store.put_bytes("other-folder/c.json", b"elsewhere")
    assert store.get_bytes("audit-checkpoints/b.json") == b'{"n": 1}'
    assert store.list_names("audit-checkpoints/") == ["audit-checkpoints/a.json", "audit-checkpoints/b.json"]
    store.put_bytes("audit-checkpoints/b.json", b"replaced")
    assert store.get_bytes("audit-checkpoints/b.json") == b"replaced"
    assert store.list_names("nothing-here/") == []
    with pytest.raises(FileNotFoundError):
        store.get_bytes("audit-checkpoints/none.json")
    for bad in ("objects/" + "a" * 64, "tmp/x", "../x.json", "a/../../x", "nofolder", "a/b/c", "Upper/x"):
        with pytest.raises(ValueError, match="not a name for a stored object"):
            store.put_bytes(bad, b"x")
    with pytest.raises(ValueError, match="not a"):
        store.list_names("audit-checkpoints")  # a folder ends with "/"
    evidence = put_evidence(store)
    assert list(store.keys()) == [evidence]  # named objects are never evidence (nor orphans)


def put_evidence(store: S3EvidenceStore | LocalEvidenceStore) -> str:
    with store.begin(filename="note.txt") as upload:
        upload.write(b"evidence\n")
        return upload.finish().key


def test_named_objects_in_the_bucket(store: S3EvidenceStore) -> None:
    _round_trip(store)
    listed = store.client.list_objects_v2(Bucket=store.bucket, Prefix="audit-checkpoints/")
    assert sorted(item["Key"] for item in listed["Contents"]) == [
        "audit-checkpoints/a.json",
        "audit-checkpoints/b.json",
    ]


def test_named_objects_on_a_local_disk(tmp_path: Path) -> None:
    store = LocalEvidenceStore(tmp_path / "evidence", 1024 * 1024)
    _round_trip(store)
    assert (tmp_path / "evidence" / "audit-checkpoints" / "a.json").read_bytes() == b'{"n": 2}'
    assert list((tmp_path / "evidence" / "tmp").iterdir()) == []  # the temp files were renamed away


def node(
    tmp_path: Path, name: str, database: Path, bucket: str, s3_server: S3Server
) -> tuple[Path, dict[str, str]]:
    """A node's working folder (its own var/, so its own checkpoint file) and environment."""
    folder = tmp_path / name
    folder.mkdir()
    return folder, {
        **SECRET,
        "ATTEST_DATABASE_URL": f"sqlite:///{database}",
        "ATTEST_EVIDENCE_BACKEND": "s3",
        "ATTEST_S3_BUCKET": bucket,
        "ATTEST_S3_ENDPOINT_URL": s3_server.endpoint_url,
        "ATTEST_S3_ACCESS_KEY": ACCESS_KEY,
        "ATTEST_S3_SECRET_KEY": SECRET_KEY,
        "ATTEST_S3_REGION": REGION,
    }


def seed(database: Path) -> None:
    engine = make_engine(f"sqlite:///{database}")
    migrate.upgrade(engine)
    key = Keys(SECRET["ATTEST_SECRET_KEY"]).audit
    with session_scope(engine, write=True) as session:
        for n in range(3):
            audit.record(
                session, key, audit.Who(user_id="u1", org_id="o1"), f"action_{n}", engagement_id="e1"
            )
        audit.record(session, key, audit.Who(user_id="u1", org_id="o1"), "token_created")
        session.commit()
    engine.dispose()


def test_a_checkpoint_in_the_bucket_guards_every_node(
    s3_server: S3Server, store: S3EvidenceStore, tmp_path: Path
) -> None:
    database = tmp_path / "shared.db"
    seed(database)
    first, first_env = node(tmp_path, "node-a", database, store.bucket, s3_server)
    second, second_env = node(tmp_path, "node-b", database, store.bucket, s3_server)

    written = run(first, "audit", "checkpoint", "--json", **first_env)
    assert written.returncode == 0, written.stderr
    payload = json.loads(written.stdout)
    name = payload["object"]
    assert name.startswith("audit-checkpoints/") and name.endswith(".json")
    assert store.list_names("audit-checkpoints/") == [name]
    document = json.loads(store.get_bytes(name))
    assert document["kind"] == "attest-audit-checkpoint" and document["chains"] == payload["chains"]
    assert [(c["chain"], c["seq"]) for c in document["chains"]] == [(ENGAGEMENT, 3), (ORG, 1)]
    assert all(c["key_id"] for c in document["chains"])
    text = run(first, "audit", "checkpoint", **first_env).stdout
    assert (
        f"s3://{store.bucket}/audit-checkpoints/" in text and len(store.list_names("audit-checkpoints/")) == 2
    )

    verified = json.loads(run(second, "audit", "verify", "--json", **second_env).stdout)
    assert verified["ok"] and verified["checkpoints_in_bucket"] == 4  # two checkpoints of two chains
    assert not (second / "var" / "audit-checkpoints.log").exists()  # node B has none of its own

    engine = make_engine(f"sqlite:///{database}")
    with engine.begin() as connection:  # the engagement's last record cut off, head row and all
        connection.exec_driver_sql("DROP TRIGGER audit_event_no_delete")
        connection.exec_driver_sql(f"DELETE FROM audit_event WHERE chain = '{ENGAGEMENT}' AND chain_seq = 3")
        connection.exec_driver_sql(
            "UPDATE audit_head SET seq = 2, hash = (SELECT hash FROM audit_event"
            f" WHERE chain = '{ENGAGEMENT}' AND chain_seq = 2) WHERE chain = '{ENGAGEMENT}'"
        )
    engine.dispose()
    broken = run(second, "audit", "verify", **second_env)
    assert broken.returncode == 1
    assert f"chain {ENGAGEMENT} at position 3: records after position 2 are missing (a checkpoint saw 3)" in (
        broken.stdout
    )


def test_a_stray_object_among_the_checkpoints_stops_verify_naming_it(
    s3_server: S3Server, store: S3EvidenceStore, tmp_path: Path
) -> None:
    database = tmp_path / "shared.db"
    seed(database)
    folder, env = node(tmp_path, "node", database, store.bucket, s3_server)
    store.put_bytes("audit-checkpoints/planted.json", b"not json")
    result = run(folder, "audit", "verify", **env)
    assert result.returncode == 2
    assert result.stderr.strip().startswith(
        "attest: error: could not read the audit checkpoints in the S3 bucket: "
        "audit-checkpoints/planted.json: not an audit checkpoint document"
    )


def test_a_bucket_that_refuses_the_write_fails_the_checkpoint_clearly_after_writing_the_file(
    s3_server: S3Server, store: S3EvidenceStore, tmp_path: Path
) -> None:
    database = tmp_path / "shared.db"
    seed(database)
    folder, env = node(tmp_path, "node", database, store.bucket, s3_server)
    result = run(folder, "audit", "checkpoint", **{**env, "ATTEST_S3_SECRET_KEY": "not-the-secret"})
    assert result.returncode == 2 and "Traceback" not in result.stderr
    assert "could not write the audit checkpoints in the S3 bucket" in result.stderr
    assert "they are in var/audit-checkpoints.log" in result.stderr
    assert len((folder / "var" / "audit-checkpoints.log").read_text().splitlines()) == 2
