"""The web export form neutralises formula-looking text by default (OWASP CSV
injection) and offers to keep it raw (issue 14)."""

from __future__ import annotations

import csv
import io
import re
import zipfile

import pytest
from admin_support import (  # noqa: F401 (fixtures)
    AdminClient,
    accounts_fixture,
    fast_kdf_fixture,
)

from survey.storage import audit, store
from survey.storage.db import open_db
from survey.worker import Worker

EVIL = '=HYPERLINK("http://example.invalid","x")'


@pytest.fixture
def researcher(app, accounts):
    ac = AdminClient(app.test_client())
    assert ac.login("researcher").status_code == 302
    with open_db(app.config["DATABASE"]) as db:
        c = store.create_campaign(
            db, slug="inj", instrument="customer-trust", period="P1", params=["segment"]
        )
        for value in (EVIL, "@SUM(A1)", "plain"):
            rid = store.start_response(
                db, c, language="en", direction="ltr", params={"segment": value}, item_order=None
            )
            store.save_page(db, rid, 0, {"REL1": 3})
            assert store.complete_response(db, rid)
    return ac


def export(ac, data):
    """Queue the export, run the worker, download the archive (the export is a job)."""
    r = ac.post("/admin/campaigns/inj/export", data, token_from="/admin/campaigns/inj")
    assert r.status_code == 303, r.status_code
    job_url = r.headers["Location"]
    with open_db(ac.client.application.config["DATABASE"]) as db:
        Worker(db, kinds=["export"]).run(until_idle=True, wait_retries=False)
    m = re.search(r'href="([^"]+/download)"', ac.get(job_url).text)
    assert m
    return ac.get(m.group(1))


def exported_segments(response) -> list[str]:
    try:
        assert response.status_code == 200, response.data[:500]
        body = response.data
    finally:
        response.close()
    with zipfile.ZipFile(io.BytesIO(body)) as z:
        name = next(n for n in z.namelist() if n.endswith(".csv"))
        return [r["segment"] for r in csv.DictReader(io.StringIO(z.read(name).decode()))]


def test_export_form_offers_raw_formulas(researcher):
    page = researcher.page("/admin/campaigns/inj")
    assert 'name="raw_formulas"' in page.html


def test_web_export_neutralises_by_default_and_keeps_raw_on_request(app, researcher):
    data = {"format": "csv", "period": "", "language": "en"}
    got = exported_segments(export(researcher, data))
    assert got == ["'" + EVIL, "'@SUM(A1)", "plain"]
    got = exported_segments(export(researcher, {**data, "raw_formulas": "y"}))
    assert got == [EVIL, "@SUM(A1)", "plain"]
    with open_db(app.config["DATABASE"]) as db:
        rows = audit.entries(db, limit=10, action="export")
    assert sorted(r["details"]["raw_formulas"] for r in rows) == [False, True]
