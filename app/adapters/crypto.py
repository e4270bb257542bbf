"""Cryptographic adapters: password hashing, secret encryption, tokens, TOTP, HMACs.

Everything keyed derives its key from ATTEST_SECRET_KEY (the audit chain's from
ATTEST_AUDIT_KEY when set) with HKDF and a purpose label, so no two purposes share a key;
earlier secrets (ATTEST_PREVIOUS_SECRET_KEYS, ATTEST_PREVIOUS_AUDIT_KEYS) are read with, never
written with, so either key can be rotated (`Keys`).
"""

from __future__ import annotations

import base64
import functools
import hashlib
import hmac
import os
import secrets
from collections.abc import Iterable, Sequence
from typing import TYPE_CHECKING

import pyotp
from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError
from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

from app.domain.credentials import RECOVERY_CODE_COUNT, TOTP_STEP_SECONDS, acceptable_steps

if TYPE_CHECKING:
    from app.config import Settings

PRODUCTION_HASHER = PasswordHasher()  # argon2id with the library's current recommended parameters
# Under ATTEST_ENV=test only: the cheapest argon2id the library accepts, so a test person costs
# microseconds instead of half a second. Verification reads the parameters from the stored hash,
# so a hash made with either hasher verifies with either; only the cost of making one differs.
TEST_HASHER = PasswordHasher(time_cost=1, memory_cost=8, parallelism=1)
_hasher = TEST_HASHER if os.environ.get("ATTEST_ENV") == "test" else PRODUCTION_HASHER


@functools.cache
def _dummy_hash() -> str:
    """Made on first use, not at import: every `attest` command would otherwise pay one
    production-cost hash (about 0.17 s) before doing anything."""
    return _hasher.hash("attest-dummy-password-for-timing")


def derive_key(secret_key: str, purpose: str) -> bytes:
    hkdf = HKDF(algorithm=hashes.SHA256(), length=32, salt=b"attest", info=purpose.encode())
    return hkdf.derive(secret_key.encode())


def hash_password(password: str) -> str:
    return _hasher.hash(password)


def verify_password(password_hash: str | None, password: str) -> bool:
    """Constant work whether or not there is a hash, so timing reveals no account."""
    try:
        return _hasher.verify(password_hash or _dummy_hash(), password) and bool(password_hash)
    except (VerificationError, InvalidHashError):
        return False


def encrypt(key: bytes, plaintext: str) -> str:
    nonce = secrets.token_bytes(12)
    sealed = AESGCM(key).encrypt(nonce, plaintext.encode(), None)
    return base64.urlsafe_b64encode(nonce + sealed).decode()


def decrypt(key: bytes, token: str) -> str:
    raw = base64.urlsafe_b64decode(token.encode())
    return AESGCM(key).decrypt(raw[:12], raw[12:], None).decode()


def new_token(prefix: str) -> str:
    """A bearer secret with at least 256 random bits, e.g. `att_...`."""
    return f"{prefix}_{secrets.token_urlsafe(32)}"


def sha256_hex(value: str) -> str:
    return hashlib.sha256(value.encode()).hexdigest()


def keyed_hash(key: bytes, value: str) -> str:
    return hmac.new(key, value.encode(), hashlib.sha256).hexdigest()


def new_totp_secret() -> str:
    return pyotp.random_base32(length=32)


def totp_uri(secret: str, email: str) -> str:
    return pyotp.TOTP(secret).provisioning_uri(name=email, issuer_name="Attest")


def totp_code(secret: str, unix_time: float) -> str:
    return pyotp.TOTP(secret).at(int(unix_time))


def match_totp(secret: str, code: str, unix_time: float, last_step: int) -> int | None:
    """The time step `code` belongs to, if it is valid now and newer than `last_step`."""
    code = code.strip().replace(" ", "")
    if not (code.isdigit() and len(code) == 6):
        return None
    totp = pyotp.TOTP(secret)
    for step in acceptable_steps(unix_time, last_step):
        if hmac.compare_digest(totp.at(step * TOTP_STEP_SECONDS), code):
            return step
    return None


def new_recovery_codes() -> list[str]:
    alphabet = "abcdefghjkmnpqrstuvwxyz23456789"
    return [
        "-".join("".join(secrets.choice(alphabet) for _ in range(4)) for _ in range(3))
        for _ in range(RECOVERY_CODE_COUNT)
    ]


def normalise_recovery_code(code: str) -> str:
    return code.strip().lower().replace(" ", "")


def split_keys(value: str) -> tuple[str, ...]:
    """A comma-separated list of keys (ATTEST_PREVIOUS_*_KEYS), blanks dropped, order kept."""
    return tuple(part.strip() for part in value.split(",") if part.strip())


def _unique(keys: Iterable[bytes]) -> tuple[bytes, ...]:
    return tuple(dict.fromkeys(keys))


class Keys:
    """Purpose-bound keys derived from the secret key (and the audit key, if one is set).

    The current keys write; `previous` secrets (newest first) are only read with, so the secret
    can be rotated: a TOTP key sealed under an old secret still opens (and `attest keys
    rotate-secret` seals it again under the current one), a recovery code hashed under an old
    secret still verifies, a CSRF token made under an old secret is still accepted. The audit
    chain's key is `audit_key` if set, else derived from the secret; `previous_audit` lists the
    audit keys earlier records may have been written under (newest first).

    Before key rotation existed, a set ATTEST_AUDIT_KEY replaced the secret for every purpose,
    so the audit key is also read with (never written with) for the other purposes: TOTP keys
    sealed then still open."""

    def __init__(
        self,
        secret_key: str,
        *,
        previous: Sequence[str] = (),
        audit_key: str = "",
        previous_audit: Sequence[str] = (),
    ) -> None:
        self.totp = derive_key(secret_key, "totp-secret-encryption")
        self.recovery = derive_key(secret_key, "recovery-codes")
        self.csrf = derive_key(secret_key, "csrf")
        self.audit = derive_key(audit_key or secret_key, "audit-chain")
        readers = [*previous, *([audit_key] if audit_key else [])]
        self.previous_totp = self._others(self.totp, readers, "totp-secret-encryption")
        self.previous_recovery = self._others(self.recovery, readers, "recovery-codes")
        self.previous_csrf = self._others(self.csrf, readers, "csrf")
        # An earlier audit key: one named as such, else the secret's own audit key (in use until
        # ATTEST_AUDIT_KEY was set), else those of earlier secrets.
        audit_sources = [*previous_audit, *([secret_key] if audit_key else []), *previous]
        self.previous_audit = self._others(self.audit, audit_sources, "audit-chain")

    @staticmethod
    def _others(current: bytes, secrets_: Iterable[str], purpose: str) -> tuple[bytes, ...]:
        return tuple(key for key in _unique(derive_key(s, purpose) for s in secrets_) if key != current)

    @classmethod
    def from_settings(cls, settings: Settings, secret_key: str | None = None) -> Keys:
        """The installation's keys: ATTEST_SECRET_KEY (or `secret_key`, e.g. the kept file's),
        ATTEST_AUDIT_KEY and their previous values."""
        secret = secret_key if secret_key is not None else settings.resolved_secret_key()
        return cls(
            secret,
            previous=split_keys(settings.previous_secret_keys),
            audit_key=settings.audit_key,
            previous_audit=split_keys(settings.previous_audit_keys),
        )

    @property
    def totp_keys(self) -> tuple[bytes, ...]:
        """The keys a stored TOTP key may be sealed under, the current one first."""
        return (self.totp, *self.previous_totp)

    @property
    def recovery_keys(self) -> tuple[bytes, ...]:
        return (self.recovery, *self.previous_recovery)

    @property
    def csrf_keys(self) -> tuple[bytes, ...]:
        return (self.csrf, *self.previous_csrf)


class UndecryptableSecret(Exception):
    """A stored TOTP key opens with neither the current secret key nor any previous one."""


def open_sealed(keys: Sequence[bytes], token: str) -> tuple[str, int]:
    """The plaintext of `token` and the index in `keys` of the key that opened it (0: the
    current one); UndecryptableSecret if none does."""
    for index, key in enumerate(keys):
        try:
            return decrypt(key, token), index
        except (InvalidTag, ValueError):
            continue
    raise UndecryptableSecret(
        "this TOTP key was sealed under a secret key that is neither ATTEST_SECRET_KEY nor in "
        "ATTEST_PREVIOUS_SECRET_KEYS; put the old secret key back in ATTEST_PREVIOUS_SECRET_KEYS"
    )
