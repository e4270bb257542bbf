"""Uploaded evidence files: what a file may be called and what it really is.

Names (OWASP ASVS 5.0 5.3.2, 5.4.2). A client's file name is only ever a label for
display and download, never part of a path. `safe_filename` keeps its last path
component (either separator), drops control characters (NUL, CR, LF...), Unicode
format characters (bidi overrides that make "invoice<RLO>fdp.exe" look like
"invoiceexe.pdf", zero-width characters) and lone surrogates, NFC-normalises, strips
leading dots and whitespace (no hidden files, no "..") and trailing dots and
whitespace, collapses runs of whitespace and caps the name at 150 characters
keeping the extension. An empty result becomes "evidence".

Types (ASVS 5.2.2). The media type comes from the content, never from the client's
Content-Type or extension. Allowed: PDF; Word, Excel and PowerPoint (OOXML, and the
legacy OLE2 formats recognised by their streams); Outlook .msg; OpenDocument text,
spreadsheet and presentation; PNG, JPEG, GIF and WebP; plain text, CSV (text named
.csv) and e-mail (text opening with RFC 5322 headers); other zip archives.
Everything else is refused: executables, HTML, SVG, scripts starting "#!",
macro-enabled Office files, OLE2 files that are not Office documents (for example
.msi installers), empty files and unknown binary.

Macro-enabled Office files are recognised two ways, since Office finds a part by its
declared content type, not by its name: by part names (vbaProject.bin, ActiveX
controls, Excel 4 macro sheets) and by every content type declared in
`[Content_Types].xml` (macroEnabled main parts, vbaProject, vbaData, ActiveX, macro
sheets). A `[Content_Types].xml` that cannot be read, is larger than
MAX_CONTENT_TYPES_BYTES, is not well-formed XML or has a DTD (OPC forbids one)
refuses the file; part names are compared case-insensitively, as OPC does. "Text" means the whole file is
UTF-8 without NUL or other binary control bytes (the WHATWG MIME-sniffing set).

Downloads get an extension that matches the sniffed type (`download_name`), so a
script uploaded as "run.ps1" comes back as "run.ps1.txt".
"""

from __future__ import annotations

import codecs
import re
import unicodedata
import xml.parsers.expat
from collections.abc import Callable, Sequence
from typing import NamedTuple

HEAD_BYTES = 8192
MAX_NAME = 150
FALLBACK_NAME = "evidence"
# Limits checked from a zip's end record before its directory is read (ASVS 5.2.3).
MAX_ZIP_ENTRIES = 10_000
MAX_ZIP_DIRECTORY_BYTES = 8 * 1024 * 1024
ZIP_TAIL_BYTES = 22 + 0xFFFF  # end record plus the longest comment
MAX_CONTENT_TYPES_BYTES = 1024 * 1024
CONTENT_TYPES_PART = "[content_types].xml"  # compared lower-cased

PDF = "application/pdf"
DOCX = "application/vnd.openxmlformats-officedocument.wordprocessingml.document"
XLSX = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
PPTX = "application/vnd.openxmlformats-officedocument.presentationml.presentation"
DOC = "application/msword"
XLS = "application/vnd.ms-excel"
PPT = "application/vnd.ms-powerpoint"
MSG = "application/vnd.ms-outlook"
ODT = "application/vnd.oasis.opendocument.text"
ODS = "application/vnd.oasis.opendocument.spreadsheet"
ODP = "application/vnd.oasis.opendocument.presentation"
PNG = "image/png"
JPEG = "image/jpeg"
GIF = "image/gif"
WEBP = "image/webp"
TEXT = "text/plain"
CSV = "text/csv"
EML = "message/rfc822"
ZIP = "application/zip"

# Media type -> extensions a download may keep; the first is the one we add.
EXTENSIONS: dict[str, tuple[str, ...]] = {
    PDF: (".pdf",),
    DOCX: (".docx",),
    XLSX: (".xlsx",),
    PPTX: (".pptx",),
    DOC: (".doc",),
    XLS: (".xls",),
    PPT: (".ppt",),
    MSG: (".msg",),
    ODT: (".odt",),
    ODS: (".ods",),
    ODP: (".odp",),
    PNG: (".png",),
    JPEG: (".jpg", ".jpeg"),
    GIF: (".gif",),
    WEBP: (".webp",),
    TEXT: (".txt", ".text", ".log", ".md", ".json"),
    CSV: (".csv",),
    EML: (".eml",),
    ZIP: (".zip",),
}
ALLOWED_MEDIA_TYPES: frozenset[str] = frozenset(EXTENSIONS)

ZIP_MAGIC = b"PK\x03\x04"
OLE_MAGIC = b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1"
ODF_TYPES = (ODT, ODS, ODP)
OOXML_FOLDERS = (("word/", DOCX), ("xl/", XLSX), ("ppt/", PPTX))
# Stream names that identify legacy Office files inside an OLE2 container.
OLE_STREAMS = (
    ("__properties_version1.0", MSG),
    ("__substg1.0_", MSG),
    ("WordDocument", DOC),
    ("Workbook", XLS),
    ("Book", XLS),
    ("PowerPoint Document", PPT),
)

# Lower-cased fragments of part names and of declared content types that carry macros:
# application/vnd.ms-office.vbaProject, vnd.ms-word.document.macroEnabled.main+xml,
# vnd.ms-excel.sheet.macroEnabled..., vnd.ms-powerpoint.presentation.macroEnabled...,
# vnd.ms-word.vbaData+xml, vnd.ms-office.activeX(+xml), vnd.ms-excel.macrosheet+xml.
MACRO_PART_NAMES = ("vbaproject.bin", "vbaprojectsignature.bin", "vbadata.xml", "/activex/", "macrosheets/")
MACRO_CONTENT_TYPES = ("macroenabled", "vbaproject", "vbadata", "activex", "macrosheet")

_BINARY_BYTES = re.compile(rb"[\x00-\x08\x0b\x0e-\x1a\x1c-\x1f]")
_DROPPED_CATEGORIES = frozenset({"Cc", "Cf", "Cs"})
_MARKUP_TAGS = "!doctype html|html|head|script|iframe|h1|div|font|table|a|style|title|b|body|br|p|svg"
# A text that opens like HTML or SVG (the WHATWG sniffing list, plus <svg) is refused.
_MARKUP_START = re.compile(rb"<(?:" + _MARKUP_TAGS.encode() + rb")[ \t\r\n\f/>]|<!--", re.IGNORECASE)
_HEADER_LINE = re.compile(rb"([!-9;-~]+):[ \t]?")
_MAIL_HEADERS = frozenset(
    b"from to cc subject date received message-id mime-version return-path reply-to delivered-to"
    b" content-type sender x-mailer".split()
)
_MAIL_ANCHORS = frozenset({b"from", b"received", b"date", b"message-id", b"mime-version", b"return-path"})


def safe_filename(name: str) -> str:
    """The label to show and to offer on download for a client's file name; never a path."""
    kept = "".join(ch for ch in name if unicodedata.category(ch) not in _DROPPED_CATEGORIES)
    kept = unicodedata.normalize("NFC", kept)
    kept = kept.replace("\\", "/").rsplit("/", 1)[-1]
    kept = " ".join(kept.split()).lstrip(". ").rstrip(". ")
    return _cap(kept, MAX_NAME) or FALLBACK_NAME


def _cap(name: str, limit: int) -> str:
    if len(name) <= limit:
        return name
    stem, dot, extension = name.rpartition(".")
    if not dot or not stem or len(extension) > 16 or " " in extension:
        return name[:limit].rstrip(". ")
    return stem[: limit - len(extension) - 1].rstrip(". ") + "." + extension


def extension_for(media_type: str) -> str:
    """The extension (with its dot) that a download of this type should end with."""
    return EXTENSIONS[media_type][0]


def download_name(name: str, media_type: str) -> str:
    """The safe name, with the type's extension added unless it already ends with one."""
    safe = safe_filename(name)
    extensions = EXTENSIONS.get(media_type, ())
    if not extensions or safe.lower().endswith(extensions):
        return safe
    return _cap(safe, MAX_NAME - len(extensions[0])) + extensions[0]


class TextProbe:
    """Fed every chunk of a file, says whether all of it is text (see the module rule)."""

    def __init__(self) -> None:
        self._decoder = codecs.getincrementaldecoder("utf-8")("strict")
        self._text = True
        self._seen = False

    def feed(self, chunk: bytes) -> None:
        if not self._text or not chunk:
            return
        self._seen = True
        if _BINARY_BYTES.search(chunk):
            self._text = False
            return
        try:
            self._decoder.decode(chunk)
        except UnicodeDecodeError:
            self._text = False

    def is_text(self) -> bool:
        """True when everything fed so far (and at least one byte) is complete UTF-8 text."""
        if not self._text or not self._seen:
            return False
        try:
            self._decoder.decode(b"", final=True)
        except UnicodeDecodeError:
            self._text = False
        return self._text


def is_zip(head: bytes) -> bool:
    return head.startswith(ZIP_MAGIC)


def is_ole(head: bytes) -> bool:
    return head.startswith(OLE_MAGIC)


class ZipDirectory(NamedTuple):
    entries: int
    size: int


def zip_directory(tail: bytes) -> ZipDirectory | None:
    """Entry count and central-directory size from a zip's last ZIP_TAIL_BYTES bytes."""
    at = tail.rfind(b"PK\x05\x06")
    if at < 0 or len(tail) < at + 22:
        return None
    entries = int.from_bytes(tail[at + 10 : at + 12], "little")
    size = int.from_bytes(tail[at + 12 : at + 16], "little")
    return ZipDirectory(entries, size)


def zip_directory_acceptable(directory: ZipDirectory | None) -> bool:
    """Whether a zip's directory is small enough to read (0xFFFF entries means zip64: refused)."""
    return (
        directory is not None
        and directory.entries <= MAX_ZIP_ENTRIES
        and directory.size <= MAX_ZIP_DIRECTORY_BYTES
    )


def ole_entry_names(read_at: Callable[[int, int], bytes], *, max_sectors: int = 256) -> list[str] | None:
    """Names in an OLE2 (Compound File) directory, read through `read_at(offset, length)`.

    Follows the directory's sector chain through the FAT sectors listed in the header
    (enough for directories in the first ~7 MiB of a 512-byte-sector file). Returns
    None when the structure is malformed.
    """
    header = read_at(0, 512)
    if len(header) < 512 or not is_ole(header):
        return None
    shift = int.from_bytes(header[30:32], "little")
    if shift not in (9, 12):
        return None
    sector_size = 1 << shift
    per_fat_sector = sector_size // 4
    difat = [int.from_bytes(header[76 + 4 * i : 80 + 4 * i], "little") for i in range(109)]
    names: list[str] = []
    sector = int.from_bytes(header[48:52], "little")
    seen: set[int] = set()
    while sector < 0xFFFFFFFA:
        if sector in seen or len(seen) >= max_sectors:
            return None
        seen.add(sector)
        data = read_at((sector + 1) * sector_size, sector_size)
        if len(data) < sector_size:
            return None
        for start in range(0, sector_size, 128):
            entry = data[start : start + 128]
            length = int.from_bytes(entry[64:66], "little")
            if entry[66] in (1, 2, 5) and 2 <= length <= 64:
                names.append(entry[: length - 2].decode("utf-16-le", "replace"))
        index = sector // per_fat_sector
        fat_sector = difat[index] if index < len(difat) else 0xFFFFFFFF
        if fat_sector >= 0xFFFFFFFA:
            return None
        link = read_at((fat_sector + 1) * sector_size + (sector % per_fat_sector) * 4, 4)
        if len(link) < 4:
            return None
        sector = int.from_bytes(link, "little")
    return names


def sniff_media_type(
    head: bytes,
    *,
    filename: str = "",
    text: bool | None = None,
    zip_names: Sequence[str] | None = None,
    ole_names: Sequence[str] | None = None,
    content_types: Sequence[bytes] | None = (),
) -> str | None:
    """The allowed media type that the content really is, or None to refuse it.

    `head` is the first HEAD_BYTES bytes. `text` says whether the whole file is text
    (see TextProbe); None judges from `head`, which is then the whole file. For a zip
    pass its entry names and for an OLE2 file its directory names (None when they
    could not be read or the archive is too large to list: refused); for a zip also
    the contents of each entry named [Content_Types].xml in any case (None when one
    could not be read or is too large: refused). `filename` only tells CSV from plain
    text.
    """
    if head.startswith(b"%PDF-"):
        return PDF
    if head.startswith(b"\x89PNG\r\n\x1a\n"):
        return PNG
    if head.startswith(b"\xff\xd8\xff"):
        return JPEG
    if head.startswith((b"GIF87a", b"GIF89a")):
        return GIF
    if head.startswith(b"RIFF") and head[8:12] == b"WEBP":
        return WEBP
    if is_ole(head):
        return _ole_type(ole_names)
    if is_zip(head):
        return _zip_type(head, zip_names, content_types)
    if text is None:
        probe = TextProbe()
        probe.feed(head)
        text = probe.is_text()
    return _text_type(head, filename) if text else None


def _ole_type(names: Sequence[str] | None) -> str | None:
    for prefix, media_type in OLE_STREAMS:
        if names and any(name.startswith(prefix) for name in names):
            return media_type
    return None


def is_content_types_part(name: str) -> bool:
    return name.lower().lstrip("/") == CONTENT_TYPES_PART


def declared_content_types(document: bytes) -> list[str] | None:
    """Every attribute value of a [Content_Types].xml (its Default and Override types);
    None when it is not well-formed XML or declares a DTD or entities."""
    values: list[str] = []
    parser = xml.parsers.expat.ParserCreate()

    def element(_name: str, attributes: dict[str, str]) -> None:
        values.extend(attributes.values())

    def refuse(*_args: object) -> None:
        raise ValueError("a DTD in [Content_Types].xml")

    parser.StartElementHandler = element
    parser.StartDoctypeDeclHandler = refuse
    parser.EntityDeclHandler = refuse
    try:
        parser.Parse(document, True)
    except (xml.parsers.expat.ExpatError, ValueError):
        return None
    return values


def has_macros(names: Sequence[str], content_types: Sequence[bytes] | None) -> bool:
    """Whether an OOXML package carries macros or ActiveX, by part name or declared type."""
    if any(fragment in name.lower() for name in names for fragment in MACRO_PART_NAMES):
        return True
    if content_types is None:
        return True  # a [Content_Types].xml that could not be read: assume the worst
    for document in content_types:
        declared = declared_content_types(document)
        if declared is None:
            return True
        if any(fragment in value.lower() for value in declared for fragment in MACRO_CONTENT_TYPES):
            return True
    return False


def _zip_type(head: bytes, names: Sequence[str] | None, content_types: Sequence[bytes] | None) -> str | None:
    if not names:
        return None
    if has_macros(names, content_types):
        return None  # macro-enabled Office file
    if names[0] == "mimetype" and head[26:30] == b"\x08\x00\x00\x00" and head[30:38] == b"mimetype":
        stored = head[8:10] == b"\x00\x00"
        for media_type in ODF_TYPES:
            value = media_type.encode()
            if (
                stored
                and head[38 : 38 + len(value)] == value
                and head[18:22] == len(value).to_bytes(4, "little")
            ):
                return media_type
    if any(is_content_types_part(name) for name in names):
        for folder, media_type in OOXML_FOLDERS:
            if any(name.startswith(folder) for name in names):
                return media_type
    return ZIP


def _text_type(head: bytes, filename: str) -> str | None:
    start = head.removeprefix(b"\xef\xbb\xbf").lstrip(b" \t\r\n\x0c")
    if start.startswith(b"#!") or _MARKUP_START.match(start):
        return None
    if start[:5].lower() == b"<?xml" and any(tag in head.lower() for tag in (b"<svg", b"<html", b"xhtml")):
        return None
    if _looks_like_mail(start):
        return EML
    return CSV if filename.lower().endswith(".csv") else TEXT


def _looks_like_mail(text: bytes) -> bool:
    names: set[bytes] = set()
    lines = text.split(b"\n")
    for line in lines[:-1] if len(lines) > 1 else lines:
        line = line.rstrip(b"\r")
        if not line:
            break
        if line[:1] in (b" ", b"\t") and names:
            continue  # a folded header continues
        match = _HEADER_LINE.match(line)
        if not match:
            return False
        names.add(match.group(1).lower())
    return len(names & _MAIL_HEADERS) >= 2 and bool(names & _MAIL_ANCHORS)
