"""``trustmeter response show ID`` and ``trustmeter response delete ID --reason`` on a
real database: what is shown (no token), what is erased (checked in SQLite), the audit
entry, and clear errors for bad input."""

from __future__ import annotations

import json

import pytest
from click.testing import CliRunner

from survey import cli
from survey.storage import audit, item_states, store
from survey.storage.db import open_db


@pytest.fixture
def answered(tmp_path):
    """A database with campaign acme and one complete invited response (with an open text)."""
    path = str(tmp_path / "r.db")
    assert CliRunner().invoke(cli.main, ["init", "--db", path]).exit_code == 0
    with open_db(path) as db:
        c = store.create_campaign(
            db, slug="acme", instrument="customer-trust", period="2026-Q4", params=("segment",)
        )
        [inv] = store.create_invitations(db, "acme", 1)
        inst = store.campaign_instrument(db, c)
        rid = store.start_response(
            db,
            c,
            language="en",
            direction="ltr",
            params={"segment": "loyal"},
            item_order=None,
            invitation=inv,
        )
        for k in range(5):  # the pages before the follow-up and the open text
            ids = [i for i in inst.page_item_ids(inst.pages[k]) if i in inst.item_ids]
            store.save_page(
                db, rid, k, {i: inst.scale_for(i).min if inst.scale_for(i) else 0 for i in ids}
            )
        item_states.set_not_shown(db, rid, ["REC_RESOLVED", "REC_HANDLING"])
        item_states.save_texts(db, rid, {"OPEN_REASON": "fair prices"})
        assert store.complete_response(db, rid)
    return path, rid, inv["token"]


def run(*args, code=0):
    result = CliRunner().invoke(cli.main, list(args))
    assert result.exit_code == code, result.output
    return result


def test_show(answered):
    path, rid, token = answered
    out = run("response", "show", str(rid), "--db", path).output
    assert f"response {rid}: campaign acme" in out and "via invitation" in out
    assert "segment=loyal" in out and "fair prices" in out
    assert "REC_RESOLVED\tnot shown" in out
    assert token not in out
    data = json.loads(run("response", "show", str(rid), "--json", "--db", path).output)
    states = {a["item"]: a["state"] for a in data["items"]}
    assert states["REC_HANDLING"] == "not shown" and states["OPEN_REASON"] == "answered"
    assert token not in json.dumps(data)


def test_delete(answered):
    path, rid, token = answered
    run("response", "delete", str(rid), "--db", path, code=2)  # --reason is required
    bad = run("response", "delete", str(rid), "--reason", "   ", "--db", path, code=2)
    assert "give a reason" in bad.output
    out = run(
        "response", "delete", str(rid), "--reason", "erasure request #12", "--db", path
    ).output
    assert f"response {rid} of campaign acme erased" in out
    with open_db(path) as db:
        for table in ("responses", "text_answers", "item_states", "response_completions"):
            col = "id" if table == "responses" else "response_id"
            assert (
                db.execute(f"SELECT count(*) FROM {table} WHERE {col} = ?", [rid]).fetchone()[0]
                == 0
            ), table
        inst = store.campaign_instrument(db, store.get_campaign(db, "acme"))
        table = store.answers_table(db, inst)
        assert db.execute(f'SELECT count(*) FROM "{table}"').fetchone()[0] == 0
        inv = store.find_invitation(db, token)
        assert inv["response_id"] is None and inv["used_at"] is not None
        [entry] = audit.entries(db, action="response.delete")
        assert (
            entry["user"].startswith("cli:") and entry["details"]["reason"] == "erasure request #12"
        )
    missing = run("response", "delete", str(rid), "--reason", "again", "--db", path, code=1)
    assert f"no response {rid}" in missing.output and "Traceback" not in missing.output
    gone = run("response", "show", str(rid), "--db", path, code=1)
    assert "Error:" in gone.output and "Traceback" not in gone.output


@pytest.mark.parametrize("arg", ["0", "-1", "abc", "1.5"])
def test_bad_ids_are_usage_errors(answered, arg):
    path, _, _ = answered
    result = run("response", "show", arg, "--db", path, code=2)
    assert "Traceback" not in result.output
