"""Issue 17 item 2: column choices remembered per organisation. A person's column choices that
find every column are kept for their supplier organisation and the sheet's set of headings; the
next dry run of a sheet with those headings (in any order, in any of the organisation's
engagements) uses them, on the page as "Columns as chosen last time" with the choices pre-filled
and changeable; another organisation never sees them. SQLite and PostgreSQL."""

from __future__ import annotations

from fastapi import FastAPI
from fastapi.testclient import TestClient

from app.domain.catalogue import Library
from app.models import ImportMapping
from tests.api.test_import_answers import answers, count, send
from tests.factories import make_engagement, make_org, make_person, sign_in

SHEET = "Item,Outcome,Notes\n{id},met,Done\n"


def supplier_with_two_engagements(app: FastAPI) -> tuple[TestClient, list[str], list[str]]:
    engine = app.state.engine
    buyer, supplier = make_org(engine, "buyer"), make_org(engine, "supplier")
    lead = make_person(engine, app.state.keys, "supplier_lead", supplier)
    first, second = make_engagement(engine, buyer, supplier), make_engagement(engine, buyer, supplier)
    library: Library = app.state.library
    catalogue = library.catalogue("cps-security-policy")
    assert catalogue is not None
    return sign_in(app, TestClient(app), lead), [first.id, second.id], [c.id for c in catalogue.controls][:3]


def test_choices_are_remembered_for_the_organisation_and_the_same_headings(app: FastAPI) -> None:
    client, (first, second), ids = supplier_with_two_engagements(app)
    body = SHEET.format(id=ids[0]).encode()
    unknown = send(client, first, body, dry_run=True).json()
    assert set(unknown["mapping_problems"]) == {"control_id", "status"} and not unknown["remembered"]

    wrong = send(client, first, body, dry_run=True, column_control_id="Item", column_status="Verdict")
    assert "Verdict" in wrong.json()["mapping_problems"]["status"]
    assert count(app, ImportMapping) == 0  # choices that do not find every column are not kept

    chosen = send(client, first, body, dry_run=True, column_control_id="Item", column_status="Outcome")
    assert chosen.json()["changes"] == 1 and chosen.json()["remembered"] is False
    assert count(app, ImportMapping) == 1
    assert answers(app, first) == {}  # a dry run still writes no answer

    # The same headings in another order, in the organisation's other engagement: no choices sent.
    reordered = f"notes,OUTCOME,item\nDone,not met,{ids[1]}\n".encode()
    again = send(client, second, reordered, dry_run=True).json()
    assert again["remembered"] is True and again["mapping_problems"] == {}
    assert again["mapping"] == {"control_id": "Item", "status": "Outcome"}
    assert [(r["control_id"], r["answer"]["status"]) for r in again["rows"]] == [(ids[1], "not_met")]

    # Other headings are another layout: nothing remembered for them.
    other = send(client, second, f"Item,Outcome,Owner notes\n{ids[1]},met,x\n".encode(), dry_run=True).json()
    assert other["remembered"] is False and set(other["mapping_problems"]) == {"control_id", "status"}

    # Choices sent replace the remembered ones whole: a statement alone finds no control column.
    partial = send(client, second, reordered, column_statement="notes")
    assert partial.status_code == 422 and answers(app, second) == {}
    done = send(
        client, second, reordered, column_control_id="item", column_status="OUTCOME", column_statement="notes"
    )
    assert done.status_code == 200, done.text
    assert answers(app, second)[ids[1]][:2] == ("not_met", "Done")
    latest = send(client, first, body, dry_run=True).json()  # the import kept its choices too
    assert latest["remembered"] is True
    assert latest["mapping"] == {"control_id": "item", "status": "OUTCOME", "statement": "notes"}
    assert latest["rows"][0]["answer"]["statement"] == "Done"
    assert count(app, ImportMapping) == 1


def test_another_organisation_never_sees_the_choices(app: FastAPI) -> None:
    client, (first, _), ids = supplier_with_two_engagements(app)
    body = SHEET.format(id=ids[0]).encode()
    send(client, first, body, dry_run=True, column_control_id="Item", column_status="Outcome")
    other_client, (elsewhere, _), _ = supplier_with_two_engagements(app)
    theirs = send(other_client, elsewhere, body, dry_run=True).json()
    assert theirs["remembered"] is False and set(theirs["mapping_problems"]) == {"control_id", "status"}
    assert theirs["mapping"] == {}


def test_the_page_shows_the_columns_chosen_last_time_pre_filled(app: FastAPI) -> None:
    client, (first, second), ids = supplier_with_two_engagements(app)
    body = SHEET.format(id=ids[0]).encode()
    url = f"/engagements/{first}/import/check"
    chosen = client.post(
        url, data={"column_control_id": "Item", "column_status": "Outcome"}, files={"file": ("a.csv", body)}
    )
    assert chosen.status_code == 200 and "Columns as chosen last time" not in chosen.text
    page = client.post(f"/engagements/{second}/import/check", files={"file": ("a.csv", body)})
    assert page.status_code == 200
    assert "Columns as chosen last time" in page.text and 'id="columns-remembered"' in page.text
    assert '<option value="Item" selected>Item</option>' in page.text
    assert '<option value="Outcome" selected>Outcome</option>' in page.text
    assert "1 answer would change" in page.text and 'id="confirm-import"' in page.text
    assert '<input type="hidden" name="column_status" value="Outcome">' in page.text
    sha = page.text.split('name="sha256" value="')[1].split('"')[0]
    done = client.post(
        f"/engagements/{second}/import",
        data={"sha256": sha, "column_control_id": "Item", "column_status": "Outcome"},
        files={"x": ("", b"")},
    )
    assert done.status_code == 200 and "1 answer imported." in done.text
    assert answers(app, second)[ids[0]][:2] == ("met", "")
