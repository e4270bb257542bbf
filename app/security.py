"""Cryptographic adapters: password hashing, secret encryption, tokens, TOTP, HMACs.

Everything keyed derives its key from ATTEST_SECRET_KEY with HKDF and a purpose label,
so one setting rotates them all and no two purposes share a key.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import secrets

import pyotp
from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

from app.domain.credentials import RECOVERY_CODE_COUNT, TOTP_STEP_SECONDS, acceptable_steps

_hasher = PasswordHasher()  # argon2id with the library's current recommended parameters
_DUMMY_HASH = _hasher.hash("attest-dummy-password-for-timing")


def derive_key(secret_key: str, purpose: str) -> bytes:
    hkdf = HKDF(algorithm=hashes.SHA256(), length=32, salt=b"attest", info=purpose.encode())
    return hkdf.derive(secret_key.encode())


def hash_password(password: str) -> str:
    return _hasher.hash(password)


def verify_password(password_hash: str | None, password: str) -> bool:
    """Constant work whether or not there is a hash, so timing reveals no account."""
    try:
        return _hasher.verify(password_hash or _DUMMY_HASH, password) and bool(password_hash)
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


class Keys:
    """Purpose-bound keys derived from the secret key."""

    def __init__(self, secret_key: str) -> None:
        self.totp = derive_key(secret_key, "totp-secret-encryption")
        self.recovery = derive_key(secret_key, "recovery-codes")
        self.audit = derive_key(secret_key, "audit-chain")
        self.csrf = derive_key(secret_key, "csrf")
