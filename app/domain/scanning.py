"""Malware scanning of evidence: the states a stored file's scan can be in, and whether a file
in that state may leave the service (OWASP ASVS v5.0.0-5.4.3: files from untrusted sources
are scanned by antivirus; v5.0.0-5.1.1: the behaviour when malware is found is documented).

A scan belongs to the bytes, not to an evidence row: identical bytes are stored once (under
their SHA-256), so every evidence row with those bytes shares one scan.

- `pending`: not yet checked, or the scanner was down or did not answer in time (tried again);
- `clean`: the scanner checked it and found nothing;
- `infected`: the scanner found malware: the file is quarantined and never downloadable,
  whether scanning is still switched on or not;
- `failed`: the scanner could not give a verdict on this file (over its size limit, or an
  error on the stream): refused like a file that has not been checked.

Nothing but a verdict from the scanner is ever `clean`.
"""

from __future__ import annotations

from enum import StrEnum


class ScanState(StrEnum):
    PENDING = "pending"
    CLEAN = "clean"
    INFECTED = "infected"
    FAILED = "failed"


LABELS = {
    ScanState.PENDING: "Being checked for malware",
    ScanState.CLEAN: "Checked: no malware found",
    ScanState.INFECTED: "Malware found: quarantined",
    ScanState.FAILED: "Could not be checked for malware",
}

INFECTED_MESSAGE = (
    "This file was found to contain malware and is quarantined: it cannot be downloaded. "
    "Tell the supplier to upload a clean copy."
)
FAILED_MESSAGE = (
    "This file could not be checked for malware (it may be too large for the scanner), so it "
    "cannot be downloaded. Upload it in smaller parts, or ask your administrator."
)
PENDING_MESSAGE = "This file is still being checked for malware. Try again in a minute."


def label(state: ScanState | None, *, scanning_on: bool) -> str:
    """What a page shows next to the file; no state and scanning off: 'Not checked for malware'."""
    if state is None:
        return LABELS[ScanState.PENDING] if scanning_on else "Not checked for malware"
    return LABELS[state]


def download_refusal(state: ScanState | None, *, scanning_on: bool) -> tuple[str, str] | None:
    """Why a file in `state` may not be downloaded, as (kind, message), kind being
    "quarantined" (infected or not checkable: 403) or "pending" (409); None when it may.

    An infected file is refused even after scanning is switched off. With scanning off, a file
    that was never checked may be downloaded (the installation chose not to scan)."""
    if state is ScanState.INFECTED:
        return "quarantined", INFECTED_MESSAGE
    if not scanning_on or state is ScanState.CLEAN:
        return None
    if state is ScanState.FAILED:
        return "quarantined", FAILED_MESSAGE
    return "pending", PENDING_MESSAGE


def parse_address(address: str) -> str | tuple[str, int]:
    """Where clamd listens (ATTEST_CLAMAV_SOCKET): an absolute Unix socket path such as
    `/run/clamav/clamd.ctl`, or `host:port` for TCP."""
    address = address.strip()
    if not address:
        raise ValueError("empty address")
    if address.startswith("/"):
        return address
    host, sep, port = address.rpartition(":")
    if not sep or not host or not port.isdigit() or not 1 <= int(port) <= 65535:
        raise ValueError("must be an absolute Unix socket path or host:port")
    return host.strip("[]"), int(port)
