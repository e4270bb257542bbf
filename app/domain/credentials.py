"""Credential rules: passwords, one-time codes and sign-in throttling.

- Passwords: at least 12 characters and at most 256, no composition rules or expiry,
  and not one of the commonly used passwords or the account's own email address
  (Cyber Essentials CE-PW-03/CE-PW-04; OWASP ASVS 5.0 V6.2).
- Every sign-in needs a second factor (Schedule 2.4 Annex A1 5.1): a TOTP code from
  an authenticator app (RFC 6238, 30-second steps, one step of clock drift either
  way) that is newer than the last one accepted, so a code cannot be replayed, or
  a single-use recovery code.
- Throttling (CE-PW-02: no more than 10 guesses in 5 minutes): 5 failed steps for an
  account, or 20 from one address, within 15 minutes, refuse further attempts until
  the window has passed. The same answer is given whether or not the account exists.
"""

from __future__ import annotations

from dataclasses import dataclass

MIN_PASSWORD = 12
MAX_PASSWORD = 256
ACCOUNT_FAILURE_LIMIT = 5
ADDRESS_FAILURE_LIMIT = 20
THROTTLE_WINDOW_SECONDS = 15 * 60
TOTP_STEP_SECONDS = 30
TOTP_DRIFT_STEPS = 1
RECOVERY_CODE_COUNT = 10

COMMON_PASSWORDS = frozenset(
    {
        "123456789012",
        "password1234",
        "passwordpassword",
        "qwertyuiopas",
        "111111111111",
        "iloveyou1234",
        "welcome12345",
        "administrator",
        "changeme1234",
        "letmein12345",
        "password123!",
        "qwerty123456",
        "abc123456789",
        "123412341234",
        "monkeymonkey",
        "correcthorsebatterystaple",
        "trustno1trustno1",
        "sunshine1234",
        "football1234",
    }
)


def password_problem(password: str, email: str = "") -> str | None:
    """Why `password` is not acceptable, or None."""
    if len(password) < MIN_PASSWORD:
        return f"Use at least {MIN_PASSWORD} characters (three random words work well)."
    if len(password) > MAX_PASSWORD:
        return f"Use at most {MAX_PASSWORD} characters."
    lowered = password.casefold()
    if lowered in COMMON_PASSWORDS or len(set(lowered)) < 4:
        return "That password is too easy to guess; choose another."
    if email and email.casefold().split("@")[0] in lowered and len(email.split("@")[0]) >= 4:
        return "Do not use your email address in your password."
    return None


def totp_step(unix_time: float) -> int:
    return int(unix_time // TOTP_STEP_SECONDS)


def acceptable_steps(unix_time: float, last_used_step: int) -> list[int]:
    """The time steps a code may belong to now, excluding any already used (no replay)."""
    now = totp_step(unix_time)
    window = range(now - TOTP_DRIFT_STEPS, now + TOTP_DRIFT_STEPS + 1)
    return [step for step in window if step > last_used_step]


@dataclass(frozen=True, slots=True)
class ThrottleState:
    account_failures: int
    address_failures: int

    @property
    def blocked(self) -> bool:
        return (
            self.account_failures >= ACCOUNT_FAILURE_LIMIT or self.address_failures >= ADDRESS_FAILURE_LIMIT
        )
