"""Production hashes passwords with argon2id at the library's recommended cost; only ATTEST_ENV=test
is cheap, and a hash made either way verifies either way."""

from __future__ import annotations

import os
import subprocess
import sys

from app.adapters import crypto as security


def test_production_parameters_are_argon2id_at_recommended_cost() -> None:
    encoded = security.PRODUCTION_HASHER.hash("a long test passphrase")
    assert encoded.startswith("$argon2id$v=19$m=65536,t=3,p=4$")


def test_outside_the_test_environment_the_service_hashes_at_production_cost() -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith("ATTEST_")}
    for value in ("", "development", "production"):
        if value:
            env["ATTEST_ENV"] = value
        out = subprocess.run(
            [sys.executable, "-c", "from app.adapters import crypto; print(crypto.hash_password('pw'))"],
            env=env,
            capture_output=True,
            text=True,
            check=True,
        ).stdout
        assert out.startswith("$argon2id$v=19$m=65536,t=3,p=4$"), value


def test_the_test_hasher_is_cheap_and_both_kinds_verify() -> None:
    cheap = security.TEST_HASHER.hash("pw")
    assert cheap.startswith("$argon2id$v=19$m=8,t=1,p=1$")
    assert security.verify_password(cheap, "pw")
    assert security.verify_password(security.PRODUCTION_HASHER.hash("pw"), "pw")
    assert not security.verify_password(cheap, "wrong")
