"""`attest users reset` as an operator runs it: an enrolled account gets a reset by mail and the
link is never printed; an account never enrolled gets a new invitation, printed and mailed."""

from __future__ import annotations

import json
from pathlib import Path

from tests.test_cli import run

KEY = {"ATTEST_SECRET_KEY": "cli-users-secret-" + "q" * 32}


def test_users_reset_mails_a_reset_for_an_enrolled_account_and_never_prints_the_link(tmp_path: Path) -> None:
    assert run(tmp_path, "db", "upgrade").returncode == 0
    assert run(tmp_path, "orgs", "create", "--name", "Acme Ltd", "--kind", "supplier", **KEY).returncode == 0
    enrolled = ["--org", "Acme Ltd", "--role", "supplier_lead", "--password", "a long scripted passphrase"]
    assert run(tmp_path, "users", "create", "--email", "ann@acme.example", *enrolled, **KEY).returncode == 0
    invited = run(
        tmp_path, "users", "create", "--email", "bob@acme.example", "--org", "Acme Ltd", "--role",
        "supplier_contributor", "--json", **KEY,
    )  # fmt: skip
    assert "--- mail to bob@acme.example" in invited.stderr  # the console mailer prints it
    assert json.loads(invited.stdout)["invitation_url"] in invited.stderr

    reset = run(tmp_path, "users", "reset", "--email", "ann@acme.example", "--json", **KEY)
    assert reset.returncode == 0, reset.stderr
    payload = json.loads(reset.stdout)
    assert payload["purpose"] == "reset" and "invitation_url" not in payload
    assert "/invitations/" not in reset.stdout
    assert "--- mail to ann@acme.example" in reset.stderr and "/invitations/inv_" in reset.stderr

    again = run(tmp_path, "users", "reset", "--email", "bob@acme.example", "--json", **KEY)
    fresh = json.loads(again.stdout)
    assert fresh["purpose"] == "invite" and fresh["invitation_url"].startswith(
        "http://127.0.0.1:8000/invitations/"
    )

    import sqlite3

    database = sqlite3.connect(tmp_path / "var" / "attest.db")
    actions = [
        row[0]
        for row in database.execute(
            "SELECT action FROM audit_event WHERE actor_user_id IS NULL AND address = 'cli' ORDER BY seq"
        )
    ]
    database.close()
    assert "account_reset_requested" in actions and actions.count("user_invited") == 2
