"""The pure rules of malware scanning (app.domain.scanning) and its one setting: what may be
downloaded in each state, and which clamd addresses ATTEST_CLAMAV_SOCKET accepts."""

from __future__ import annotations

import pytest
from pydantic import ValidationError

from app.config import Settings
from app.domain.scanning import (
    FAILED_MESSAGE,
    INFECTED_MESSAGE,
    PENDING_MESSAGE,
    ScanState,
    download_refusal,
    label,
    parse_address,
)


@pytest.mark.parametrize(
    ("state", "on", "expected"),
    [
        (ScanState.CLEAN, True, None),
        (ScanState.INFECTED, True, ("quarantined", INFECTED_MESSAGE)),
        (ScanState.FAILED, True, ("quarantined", FAILED_MESSAGE)),
        (ScanState.PENDING, True, ("pending", PENDING_MESSAGE)),
        (None, True, ("pending", PENDING_MESSAGE)),  # never scanned, scanning on: not yet
        (ScanState.INFECTED, False, ("quarantined", INFECTED_MESSAGE)),  # quarantine outlives the switch
        (ScanState.PENDING, False, None),
        (ScanState.FAILED, False, None),
        (None, False, None),
    ],
)
def test_only_a_clean_verdict_releases_a_file_while_scanning_is_on(
    state: ScanState | None, on: bool, expected: tuple[str, str] | None
) -> None:
    assert download_refusal(state, scanning_on=on) == expected


def test_labels_say_what_a_person_can_act_on() -> None:
    assert label(None, scanning_on=False) == "Not checked for malware"
    assert label(None, scanning_on=True) == "Being checked for malware"
    assert label(ScanState.INFECTED, scanning_on=False) == "Malware found: quarantined"


@pytest.mark.parametrize(
    ("text", "address"),
    [
        ("/run/clamav/clamd.ctl", "/run/clamav/clamd.ctl"),
        ("127.0.0.1:3310", ("127.0.0.1", 3310)),
        ("clamav.internal:3310", ("clamav.internal", 3310)),
        ("[::1]:3310", ("::1", 3310)),
    ],
)
def test_a_socket_path_or_host_and_port_is_an_address(text: str, address: object) -> None:
    assert parse_address(text) == address


@pytest.mark.parametrize("text", ["clamd.ctl", "localhost", "localhost:0", "localhost:99999", ":3310", "h:p"])
def test_anything_else_is_refused_by_the_setting_with_its_name(text: str) -> None:
    with pytest.raises(ValueError, match="Unix socket path or host:port"):
        parse_address(text)
    with pytest.raises(ValidationError, match="clamav_socket"):
        Settings(_env_file=None, clamav_socket=text)  # type: ignore[call-arg]


def test_scanning_is_off_unless_an_address_is_set() -> None:
    assert Settings(_env_file=None).clamav_socket == ""  # type: ignore[call-arg]
