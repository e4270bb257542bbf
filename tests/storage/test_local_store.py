"""The local evidence store on a real temporary folder."""

from __future__ import annotations

import hashlib
import io
import os
import random
import stat
import time
import zipfile
from collections.abc import Iterator
from pathlib import Path

import pytest

from app.adapters.storage import EmptyFile, LocalEvidenceStore, StoredObject, TooLarge, make_store
from app.config import ConfigError, Settings
from app.domain import files
from tests.domain.test_files import PDF, make_odf, make_ole, make_ooxml

MIB = 1024 * 1024


def uneven_chunks(data: bytes) -> Iterator[bytes]:
    sizes = [1, 7, 65_536, 100_003, 3, 8_191, 8_193, 1_000_000]
    position = 0
    index = 0
    while position < len(data):
        size = sizes[index % len(sizes)]
        yield data[position : position + size]
        position += size
        index += 1


def put(store: LocalEvidenceStore, data: bytes, filename: str = "") -> StoredObject:
    with store.begin(filename=filename) as upload:
        for chunk in uneven_chunks(data):
            upload.write(chunk)
        return upload.finish()


def listing(folder: Path) -> list[Path]:
    return sorted(path for path in folder.rglob("*") if path.is_file())


@pytest.fixture
def store(tmp_path: Path) -> LocalEvidenceStore:
    return LocalEvidenceStore(tmp_path / "evidence", max_bytes=8 * MIB)


def test_round_trip_is_byte_identical(store: LocalEvidenceStore) -> None:
    data = PDF + random.Random(7).randbytes(3 * MIB + 123)
    stored = put(store, data, "report.pdf")
    assert stored == StoredObject(key=hashlib.sha256(data).hexdigest(), size=len(data), media_type=files.PDF)
    chunks = list(store.open(stored.key))
    assert b"".join(chunks) == data
    assert max(len(chunk) for chunk in chunks) == 64 * 1024
    assert store.exists(stored.key)
    assert store.size(stored.key) == len(data)
    assert store.hash_of(stored.key) == stored.key
    assert listing(store.tmp_dir) == []


def test_objects_live_under_their_digest_and_are_read_only(store: LocalEvidenceStore) -> None:
    stored = put(store, b"hello\n")
    path = store.root / "objects" / stored.key[:2] / stored.key[2:4] / stored.key
    assert listing(store.objects_dir) == [path]
    assert stat.S_IMODE(path.stat().st_mode) == 0o440


def test_identical_bytes_are_stored_once(store: LocalEvidenceStore) -> None:
    first = put(store, b"same evidence\n", "a.txt")
    second = put(store, b"same evidence\n", "b.csv")
    assert first.key == second.key
    assert (first.media_type, second.media_type) == (files.TEXT, files.CSV)
    assert list(store.keys()) == [first.key]
    assert len(listing(store.objects_dir)) == 1
    assert listing(store.tmp_dir) == []


def test_the_object_appears_only_when_finish_returns(store: LocalEvidenceStore) -> None:
    data = b"%PDF-1.4\n" + b"x" * 200_000
    key = hashlib.sha256(data).hexdigest()
    with store.begin() as upload:
        upload.write(data[:100_000])
        temp = listing(store.tmp_dir)
        assert len(temp) == 1 and temp[0].name.startswith("upload-")
        upload.write(data[100_000:])
        assert upload.size == len(data)
        assert upload.head == data[: files.HEAD_BYTES]
        assert not store.exists(key)
        assert upload.sniff() == files.PDF  # sniffing is done on the fsynced temp file
        assert listing(store.objects_dir) == []
        assert temp[0].stat().st_size == len(data)
        stored = upload.finish()
    assert stored.key == key
    assert listing(store.tmp_dir) == []
    assert listing(store.objects_dir) == [store.path_for(key)]


def test_limit_plus_one_byte_is_too_large_and_leaves_nothing(tmp_path: Path) -> None:
    store = LocalEvidenceStore(tmp_path / "evidence", max_bytes=1000)
    exactly = put(store, b"a" * 1000)
    assert exactly.size == 1000
    upload = store.begin()
    upload.write(b"b" * 600)
    with pytest.raises(TooLarge) as raised:
        upload.write(b"b" * 401)
    assert raised.value.limit == 1000
    assert listing(store.tmp_dir) == []
    assert list(store.keys()) == [exactly.key]
    with pytest.raises(RuntimeError):
        upload.write(b"more")
    with pytest.raises(RuntimeError):
        upload.finish()


def test_too_large_inside_the_context_manager(tmp_path: Path) -> None:
    store = LocalEvidenceStore(tmp_path / "evidence", max_bytes=10)
    with pytest.raises(TooLarge), store.begin() as upload:
        upload.write(b"0123456789")
        upload.write(b"!")
    assert listing(store.root) == []


def test_abort_leaves_nothing(store: LocalEvidenceStore) -> None:
    upload = store.begin()
    upload.write(b"half an upload")
    upload.abort()
    upload.abort()  # twice is fine
    assert listing(store.root) == []


def test_an_error_or_a_missing_finish_in_the_context_manager_aborts(store: LocalEvidenceStore) -> None:
    with pytest.raises(ConnectionError), store.begin() as upload:
        upload.write(b"the client went away")
        raise ConnectionError
    with store.begin() as upload:
        upload.write(b"never finished")
    assert listing(store.root) == []


def test_a_refused_type_can_be_aborted_before_anything_is_stored(store: LocalEvidenceStore) -> None:
    with store.begin(filename="invoice.pdf") as upload:
        upload.write(b"MZ\x90\x00" + bytes(100))
        assert upload.sniff() is None
        with pytest.raises(RuntimeError):
            upload.write(b"no writes after sniffing")
        upload.abort()
    assert listing(store.root) == []


def test_a_refused_type_that_is_finished_anyway_is_stored_without_a_type(store: LocalEvidenceStore) -> None:
    stored = put(store, b"<html><script>alert(1)</script></html>", "page.txt")
    assert stored.media_type is None
    assert store.exists(stored.key)


@pytest.mark.parametrize(
    ("data", "expected"),
    [
        (make_ooxml("word", "document.xml"), files.DOCX),
        (make_ooxml("xl", "workbook.xml", "xl/vbaProject.bin"), None),
        (make_odf(files.ODS), files.ODS),
        (make_ole("__substg1.0_0037001F", "__properties_version1.0"), files.MSG),
        (make_ole("Workbook"), files.XLS),
        (b"Date: Tue, 2 Jan 2024 09:00:00 +0000\nFrom: a@example.org\n\nhi\n", files.EML),
    ],
)
def test_containers_are_sniffed_from_the_stored_file(
    store: LocalEvidenceStore, data: bytes, expected: str | None
) -> None:
    assert put(store, data).media_type == expected


def test_a_docm_whose_vba_part_has_another_name_is_refused_from_the_stored_file(
    store: LocalEvidenceStore,
) -> None:
    from tests.domain.test_files import MACROS_BY_CONTENT_TYPE

    for _label, data in MACROS_BY_CONTENT_TYPE:
        assert put(store, data, "board-pack.docx").media_type is None


def test_a_huge_content_types_part_is_refused(store: LocalEvidenceStore) -> None:
    padding = b"<!-- " + b"x" * files.MAX_CONTENT_TYPES_BYTES + b" -->"
    types = b'<?xml version="1.0"?><Types xmlns="urn:x">' + padding + b"</Types>"
    assert put(store, make_ooxml("word", "document.xml", content_types=types)).media_type is None


def test_text_is_judged_on_the_whole_file_not_just_the_head(store: LocalEvidenceStore) -> None:
    text = b"line of text\n" * 2000
    assert put(store, text).media_type == files.TEXT
    assert put(store, text + b"\x00binary tail").media_type is None


def test_a_zip_with_too_many_entries_is_refused_without_listing_it(store: LocalEvidenceStore) -> None:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        for number in range(files.MAX_ZIP_ENTRIES + 1):
            archive.writestr(f"{number}", b"")
    assert put(store, buffer.getvalue()).media_type is None


def test_a_corrupt_zip_is_refused(store: LocalEvidenceStore) -> None:
    docx = make_ooxml("word", "document.xml")
    assert put(store, docx[: len(docx) // 2]).media_type is None


def test_hash_of_detects_a_corrupted_object(store: LocalEvidenceStore) -> None:
    stored = put(store, b"signed policy v1\n" * 1000)
    assert store.hash_of(stored.key) == stored.key
    path = store.path_for(stored.key)
    path.chmod(0o640)
    with path.open("r+b") as handle:
        handle.seek(5000)
        handle.write(b"X")
    assert store.hash_of(stored.key) != stored.key


def test_a_damaged_object_of_the_wrong_size_is_replaced_by_a_new_upload(store: LocalEvidenceStore) -> None:
    data = b"board minutes\n" * 100
    stored = put(store, data)
    path = store.path_for(stored.key)
    path.chmod(0o640)
    path.write_bytes(data[:10])
    put(store, data)
    assert store.hash_of(stored.key) == stored.key
    assert stat.S_IMODE(path.stat().st_mode) == 0o440


def test_a_failed_finish_leaves_no_temp_file(store: LocalEvidenceStore) -> None:
    data = b"cannot be put in place\n"
    blocker = store.path_for(hashlib.sha256(data).hexdigest())
    blocker.mkdir(parents=True)  # a directory where the object should go
    upload = store.begin()
    upload.write(data)
    with pytest.raises(OSError):
        upload.finish()
    assert listing(store.tmp_dir) == []


def test_keys_lists_objects_only(store: LocalEvidenceStore) -> None:
    keys = {put(store, f"evidence {number}\n".encode()).key for number in range(5)}
    (store.objects_dir / "zz").mkdir()
    (store.objects_dir / "zz" / "stray.txt").write_text("not an object")
    (store.objects_dir / "README").write_text("not an object either")
    assert set(store.keys()) == keys
    assert list(store.keys()) == sorted(keys)


def test_delete(store: LocalEvidenceStore) -> None:
    stored = put(store, b"withdrawn\n")
    store.delete(stored.key)
    assert not store.exists(stored.key)
    store.delete(stored.key)  # already gone: fine
    assert list(store.keys()) == []


def test_missing_objects(store: LocalEvidenceStore) -> None:
    key = hashlib.sha256(b"never stored").hexdigest()
    assert not store.exists(key)
    with pytest.raises(FileNotFoundError):
        store.open(key)
    with pytest.raises(FileNotFoundError):
        store.size(key)


@pytest.mark.parametrize(
    "key",
    ["../../etc/passwd", "", "A" * 64, "a" * 63, "a" * 65, "a" * 64 + "\n", "../" + "a" * 61, "g" * 64],
)
def test_keys_that_are_not_digests_are_refused(store: LocalEvidenceStore, key: str) -> None:
    for call in (store.open, store.exists, store.size, store.delete, store.hash_of, store.path_for):
        with pytest.raises(ValueError):
            call(key)


def test_clean_tmp_removes_only_stale_uploads(store: LocalEvidenceStore) -> None:
    stale = store.tmp_dir / "upload-crashed"
    stale.write_bytes(b"left by a crash")
    an_hour_ago = time.time() - 3600
    os.utime(stale, (an_hour_ago, an_hour_ago))
    with store.begin() as upload:
        upload.write(b"in progress")
        assert store.stale_tmp(older_than_seconds=600) == ["upload-crashed"]
        assert store.clean_tmp(older_than_seconds=600) == ["upload-crashed"]
        assert len(listing(store.tmp_dir)) == 1
        upload.finish()
    assert listing(store.tmp_dir) == []


def age(path: Path, seconds_ago: float) -> None:
    moment = time.time() - seconds_ago
    os.utime(path, (moment, moment))


def test_entries_give_each_object_its_last_stored_time(store: LocalEvidenceStore) -> None:
    old, new = put(store, b"stored long ago\n"), put(store, b"stored now\n")
    age(store.path_for(old.key), 7200)
    times = dict(store.entries())
    assert set(times) == {old.key, new.key}
    assert times[old.key] < time.time() - 7000 < time.time() - 10 < times[new.key]


def test_remove_orphan_removes_only_objects_older_than_the_cutoff(store: LocalEvidenceStore) -> None:
    old, young = put(store, b"left by a crash\n"), put(store, b"about to be committed\n")
    age(store.path_for(old.key), 7200)
    cutoff = time.time() - 3600
    assert store.remove_orphan(young.key, cutoff=cutoff) is False
    assert store.remove_orphan(old.key, cutoff=cutoff) is True
    assert store.remove_orphan(old.key, cutoff=cutoff) is False  # already gone
    assert list(store.keys()) == [young.key]
    assert listing(store.tmp_dir) == []


def test_storing_bytes_that_are_already_there_makes_the_object_young(store: LocalEvidenceStore) -> None:
    stored = put(store, b"an orphan, then uploaded again\n")
    age(store.path_for(stored.key), 7200)
    put(store, b"an orphan, then uploaded again\n")
    assert store.path_for(stored.key).stat().st_mtime > time.time() - 60
    assert store.remove_orphan(stored.key, cutoff=time.time() - 3600) is False


def test_an_upload_that_claims_the_orphan_during_its_removal_keeps_it(
    store: LocalEvidenceStore, monkeypatch: pytest.MonkeyPatch
) -> None:
    data = b"claimed in the middle of the sweep\n"
    stored = put(store, data)
    path = store.path_for(stored.key)
    age(path, 7200)
    real_replace = os.replace
    moves = []

    def replace_after_a_claim(source: Path, target: Path) -> None:
        if not moves:
            os.utime(source)  # an upload of the same bytes refreshes it just before the move
        moves.append(Path(target))
        real_replace(source, target)

    monkeypatch.setattr("app.adapters.storage.local.os.replace", replace_after_a_claim)
    assert store.remove_orphan(stored.key, cutoff=time.time() - 3600) is False
    assert moves == [store.tmp_dir / f"upload-orphan-{stored.key}", path]  # moved aside and back
    assert store.hash_of(stored.key) == stored.key
    assert listing(store.tmp_dir) == []


def test_an_empty_upload_is_refused_as_empty(store: LocalEvidenceStore) -> None:
    with store.begin(filename="blank.pdf") as upload:
        with pytest.raises(EmptyFile, match="The file is empty"):
            upload.sniff()
        with pytest.raises(EmptyFile):
            upload.finish()
    assert listing(store.root) == []


def test_make_store_chooses_the_local_store_by_default(tmp_path: Path) -> None:
    settings = Settings(_env_file=None, evidence_dir=tmp_path / "ev", max_upload_mb=3)
    store = make_store(settings)
    assert isinstance(store, LocalEvidenceStore)
    assert store.max_bytes == 3 * MIB
    assert store.root == tmp_path / "ev"


def test_make_store_refuses_unknown_backends_and_s3_without_a_bucket(tmp_path: Path) -> None:
    settings = Settings(_env_file=None, evidence_dir=tmp_path / "ev")
    with pytest.raises(ConfigError, match="ATTEST_EVIDENCE_BACKEND"):
        make_store(settings.model_copy(update={"evidence_backend": "ftp"}))
    with pytest.raises(ConfigError, match="ATTEST_S3_BUCKET"):
        make_store(settings.model_copy(update={"evidence_backend": "s3", "s3_bucket": ""}))
