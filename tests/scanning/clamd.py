"""A real ClamAV daemon for the tests, with an offline signature database made here from the
EICAR test string (no freshclam, no network): one hash signature of the bare file and one body
signature that matches it anywhere (inside a zip member, a docx part, a PDF stream once clamd
has unpacked them).

`clamd_server` (session): one clamd per test worker on a Unix socket in a temporary folder,
with AlertExceedsMax on (a file clamd stops at a limit of its own is reported, never OK) and a
StreamMaxLength of STREAM_MAX_MB. Debian's `clamav-daemon` provides clamd (deploy/debian-dev.txt).
"""

from __future__ import annotations

import hashlib
import io
import shutil
import socket
import subprocess
import time
import zipfile
import zlib
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

# The EICAR anti-virus test file (https://www.eicar.org): harmless, detected by every scanner.
EICAR = rb"X5O!P%@AP[4\PZX54(P^)7CC)7}$EICAR-STANDARD-ANTIVIRUS-TEST-FILE!$H+H*"
SIGNATURE = "Attest.Test.EICAR"
STREAM_MAX_MB = 4
CLAMD = shutil.which("clamd") or "/usr/sbin/clamd"


@dataclass(frozen=True, slots=True)
class Clamd:
    socket: Path
    folder: Path


def write_database(folder: Path) -> None:
    """attest-test.hdb (MD5:size:name of the bare file) and attest-test.ndb (the string anywhere)."""
    folder.mkdir(parents=True, exist_ok=True)
    digest = hashlib.md5(EICAR, usedforsecurity=False).hexdigest()  # the .hdb format is MD5
    (folder / "attest-test.hdb").write_text(f"{digest}:{len(EICAR)}:{SIGNATURE}.File\n")
    (folder / "attest-test.ndb").write_text(f"{SIGNATURE}.Body:0:*:{EICAR.hex()}\n")


def answers(path: Path) -> bool:
    try:
        with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as sock:
            sock.settimeout(2)
            sock.connect(str(path))
            sock.sendall(b"zPING\0")
            return sock.recv(16).startswith(b"PONG")
    except OSError:
        return False


def start_clamd(folder: Path) -> tuple[subprocess.Popen[bytes], Clamd]:
    write_database(folder / "db")
    sock = folder / "clamd.sock"
    config = folder / "clamd.conf"
    config.write_text(
        "\n".join(
            [
                f"DatabaseDirectory {folder / 'db'}",
                f"LocalSocket {sock}",
                f"PidFile {folder / 'clamd.pid'}",
                f"LogFile {folder / 'clamd.log'}",
                "Foreground yes",
                "AlertExceedsMax yes",
                f"StreamMaxLength {STREAM_MAX_MB}M",
                f"MaxFileSize {STREAM_MAX_MB}M",
                f"MaxScanSize {STREAM_MAX_MB * 4}M",
                "ReadTimeout 30",
                "",
            ]
        )
    )
    process = subprocess.Popen([CLAMD, "-c", str(config)], stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    deadline = time.monotonic() + 60
    while not answers(sock):
        if process.poll() is not None or time.monotonic() > deadline:
            process.kill()
            log = (folder / "clamd.log").read_text() if (folder / "clamd.log").exists() else ""
            raise RuntimeError(f"clamd did not start: {log[-2000:]}")
        time.sleep(0.1)
    return process, Clamd(sock, folder)


@pytest.fixture(scope="session")
def clamd_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Clamd]:
    process, server = start_clamd(tmp_path_factory.mktemp("clamd"))
    try:
        yield server
    finally:
        process.terminate()
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()


# --- samples: the test string bare and nested in what an upload accepts ----------------------


def zipped(entries: dict[str, bytes]) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        for name, data in entries.items():
            archive.writestr(zipfile.ZipInfo(name), data)
    return buffer.getvalue()


DOCX_TYPES = (
    b'<?xml version="1.0"?><Types xmlns="http://schemas.openxmlformats.org/package/2006/content-types">'
    b'<Default Extension="rels" ContentType="application/vnd.openxmlformats-package.relationships+xml"/>'
    b'<Override PartName="/word/document.xml" ContentType="application/vnd.openxmlformats-officedocument.'
    b'wordprocessingml.document.main+xml"/></Types>'
)


def docx(text: bytes) -> bytes:
    """A minimal Word document whose body holds `text`."""
    body = b'<?xml version="1.0"?><w:document xmlns:w="http://schemas.openxmlformats.org/wordprocessingml/'
    body += b'2006/main"><w:body><w:p><w:r><w:t>' + text + b"</w:t></w:r></w:p></w:body></w:document>"
    return zipped(
        {"[Content_Types].xml": DOCX_TYPES, "_rels/.rels": b"<Relationships/>", "word/document.xml": body}
    )


def pdf(payload: bytes) -> bytes:
    """A one-page PDF carrying `payload` in a Flate-compressed stream (clamd must inflate it)."""
    stream = zlib.compress(payload)
    objects = [
        b"<< /Type /Catalog /Pages 2 0 R >>",
        b"<< /Type /Pages /Kids [3 0 R] /Count 1 >>",
        b"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 200 200] /Contents 4 0 R >>",
        b"<< /Length %d /Filter /FlateDecode >>\nstream\n" % len(stream) + stream + b"\nendstream",
    ]
    out = bytearray(b"%PDF-1.4\n")
    offsets = []
    for number, body in enumerate(objects, start=1):
        offsets.append(len(out))
        out += b"%d 0 obj\n" % number + body + b"\nendobj\n"
    xref = len(out)
    out += b"xref\n0 %d\n0000000000 65535 f \n" % (len(objects) + 1)
    out += b"".join(b"%010d 00000 n \n" % o for o in offsets)
    out += b"trailer\n<< /Size %d /Root 1 0 R >>\nstartxref\n%d\n%%%%EOF\n" % (len(objects) + 1, xref)
    return bytes(out)


# (name, bytes): the test string bare, zipped (two levels deep), in a docx and in a PDF stream.
INFECTED = [
    ("eicar.txt", EICAR),
    ("evidence-pack.zip", zipped({"inner/pack.zip": zipped({"policy/eicar.txt": EICAR})})),
    ("policy.docx", docx(EICAR)),
    ("report.pdf", pdf(EICAR)),
]
CLEAN = [
    ("notes.txt", b"Nothing to see here.\n"),
    ("evidence-pack.zip", zipped({"policy/notes.txt": b"An ordinary policy.\n"})),
    ("policy.docx", docx(b"An ordinary policy.")),
    ("report.pdf", pdf(b"BT /F1 12 Tf (An ordinary report) Tj ET")),
]
