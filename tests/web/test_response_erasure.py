"""Issue 11, item 4: one response viewed and erased from the researcher pages.

A contact answers through the personal link of an e-mail invitation, with a webhook
subscribed (so a copy of the scores waits in the outbox); an admin opens the response
from the campaign page and erases it with a reason. Then SQLite holds no trace of its
answers, the contact is no longer linked to anything, the invitation stays used (its
link says "already answered", and the contact is never reminded), and the audit log has
the reason without the token or the address.
"""

from __future__ import annotations

from datetime import timedelta

import pytest
from admin_support import (  # noqa: F401 (fixtures)
    AdminClient,
    accounts_fixture,
    admin_client_fixture,
    fast_kdf_fixture,
)
from conftest import Respondent, parse_page

from survey.storage import audit, contacts, store, webhooks
from survey.storage.packing import quote

EMAIL = "erase.me@example.org"


@pytest.fixture
def answered(app, campaign, db):
    """(response id, token, contact) of a completed response through a contact's link."""
    campaign()
    contacts.import_contacts(
        db,
        "acme",
        [
            {
                "line": 2,
                "email": EMAIL,
                "name": "Erase Me",
                "language": "en",
                "params": {"segment": "loyal"},
            }
        ],
    )
    webhooks.add_webhook(db, "acme", "https://hooks.example.org/trust")
    db.conn.commit()
    [contact] = contacts.list_contacts(db, "acme")
    token = contacts.invitation_token(contacts.app_key(db), contact["id"])
    person = Respondent(app.test_client(), seed=5)
    final = person.walk(f"/i/{token}")
    assert "Thank you!" in final.text
    [rid] = [r[0] for r in db.execute("SELECT id FROM responses").fetchall()]
    return rid, token, contact


def traces(db, rid: int) -> dict[str, int]:
    """Rows that refer to response ``rid`` in every table with a response_id column, plus
    the responses row and the outbox copies of its completion event."""
    out = {}
    for (name,) in db.execute("SELECT name FROM sqlite_master WHERE type = 'table'").fetchall():
        cols = {r[1] for r in db.execute(f"PRAGMA table_info({quote(name)})").fetchall()}
        if "response_id" in cols:
            out[name] = db.execute(
                f"SELECT count(*) FROM {quote(name)} WHERE response_id = ?", [rid]
            ).fetchone()[0]
    out["responses"] = db.execute("SELECT count(*) FROM responses WHERE id = ?", [rid]).fetchone()[
        0
    ]
    out["outbox response.completed"] = db.execute(
        "SELECT count(*) FROM outbox WHERE kind = 'webhook' AND idempotency_key LIKE "
        "'evt\\_response.completed:%' ESCAPE '\\'"
    ).fetchone()[0]
    return out


def test_view_and_erase_one_response(app, accounts, answered, db):
    rid, token, contact = answered
    inst = store.campaign_instrument(db, store.get_campaign(db, "acme"))
    answers_table = store.answers_table(db, inst)
    before = traces(db, rid)
    assert before["responses"] == 1 and before[answers_table] == 1
    assert before["invitations"] == 1 and before["response_completions"] == 1
    assert before["outbox response.completed"] == 1
    saved = store.get_response(db, rid)

    ac = AdminClient(app.test_client())
    ac.login("admin")
    campaign_page = ac.page("/admin/campaigns/acme")
    assert 'href="/admin/campaigns/acme/responses"' in campaign_page.html
    listing = ac.page("/admin/campaigns/acme/responses")
    assert f'href="/admin/campaigns/acme/responses/{rid}"' in listing.html
    page = ac.page(f"/admin/campaigns/acme/responses/{rid}")
    assert page.status == 200
    for item_id in inst.item_ids:  # every item, with its code where answered
        assert f'<th scope="row">{item_id}</th>' in page.html
    some = next(i for i in inst.item_ids if saved["answers"].get(i) is not None)
    assert inst.item(some).text["en"] in page.text
    assert "loyal" in page.text and "invitation" in page.text
    assert token not in page.html and EMAIL not in page.html and "Erase Me" not in page.html
    assert ac.page("/admin/campaigns/acme/responses?id=abc").status == 200
    assert (
        ac.get(f"/admin/campaigns/acme/responses?id={rid}")
        .headers["Location"]
        .endswith(f"/responses/{rid}")
    )
    assert ac.get("/admin/campaigns/acme/responses/999999").status_code == 404

    url = f"/admin/campaigns/acme/responses/{rid}/delete"
    # a reason and the confirmation are required; nothing is deleted without them
    r = ac.post(url, {"reason": "", "confirm": "y"}, token_from=url.rsplit("/", 1)[0])
    assert r.status_code == 400
    r = ac.post(url, {"reason": "erasure request 2026-12-01"}, token_from=url.rsplit("/", 1)[0])
    assert r.status_code == 400
    assert traces(db, rid)["responses"] == 1

    r = ac.post(
        url,
        {"reason": "erasure  request\n2026-12-01", "confirm": "y"},
        token_from=url.rsplit("/", 1)[0],
    )
    assert r.status_code == 302
    assert r.headers["Location"].endswith("/admin/campaigns/acme/responses")

    after = traces(db, rid)
    assert all(n == 0 for n in after.values()), after
    inv = db.execute(
        "SELECT response_id, used_at FROM invitations WHERE id = ?", [contact["invitation_id"]]
    ).fetchone()
    assert inv[0] is None and inv[1] is not None  # unlinked, still used
    # the contact is not linked to any response any more
    assert (
        db.execute(
            "SELECT count(*) FROM contacts k JOIN invitations i "
            "ON i.id = k.invitation_id JOIN responses r ON r.invitation_id = i.id "
            "OR r.id = i.response_id"
        ).fetchone()[0]
        == 0
    )
    assert db.execute("SELECT count(*) FROM responses").fetchone()[0] == 0

    [entry] = audit.entries(db, action="response.delete")
    assert entry["user"] == "admin" and entry["target"] == "acme"
    assert entry["details"]["reason"] == "erasure request 2026-12-01"
    assert entry["details"]["response_id"] == rid
    every_entry = str(audit.entries(db, limit=1000))
    assert token not in every_entry and EMAIL not in every_entry

    # the personal link now says "already answered", and cannot start again
    person = Respondent(app.test_client())
    again = person.get(f"/i/{token}")
    assert again.status == 200 and "already answered" in again.text
    posted = parse_page(app.test_client().post(f"/i/{token}", data={"consent": "y"}))
    assert posted.status in (400, 409)
    assert db.execute("SELECT count(*) FROM responses").fetchone()[0] == 0
    # and the contact is never reminded
    db.execute(
        "UPDATE contacts SET invited_at = '2026-01-01T00:00:00+00:00', "
        "last_sent_at = '2026-01-01T00:00:00+00:00'"
    )
    db.conn.commit()
    assert contacts.queue_reminders(db, "acme", after=timedelta(0)) == 0
    assert contacts.contact_completed(db, contacts.get_contact(db, contact["id"]))


def test_only_admins_erase_and_researchers_view(app, accounts, answered, db):
    rid, _, _ = answered
    url = f"/admin/campaigns/acme/responses/{rid}"
    for role, view, erase in (("viewer", 403, 403), ("researcher", 200, 403)):
        ac = AdminClient(app.test_client())
        ac.login(role)
        assert ac.get(url).status_code == view, role
        r = ac.client.post(
            url + "/delete",
            data={"csrf_token": ac.token("/admin/login"), "reason": "x", "confirm": "y"},
            environ_base=ac.environ,
        )
        assert r.status_code == erase, role
    assert traces(db, rid)["responses"] == 1
    ac = AdminClient(app.test_client())
    ac.login("researcher")
    assert "Erase this response" not in ac.page(url).text


def test_a_response_of_another_campaign_is_not_found(app, accounts, answered, campaign):
    rid, _, _ = answered
    campaign("other")
    ac = AdminClient(app.test_client())
    ac.login("admin")
    assert ac.get(f"/admin/campaigns/other/responses/{rid}").status_code == 404
    r = ac.client.post(
        f"/admin/campaigns/other/responses/{rid}/delete",
        data={"csrf_token": ac.token("/admin/login"), "reason": "x", "confirm": "y"},
        environ_base=ac.environ,
    )
    assert r.status_code == 404
