"""Exports and reports on the researcher side."""

from __future__ import annotations

import csv
import hashlib
import io
import json
import re
import tempfile
import zipfile
from datetime import UTC, datetime, timedelta

import pyreadstat
import pytest
from admin_support import (  # noqa: F401 (fixtures)
    AdminClient,
    accounts_fixture,
    error_text,
    fast_kdf_fixture,
)

from survey import demo
from survey.export import FORMATS
from survey.reporting import periodic
from survey.storage import audit, store
from survey.storage.db import open_db
from survey.worker import Worker

PERIODS = ["2026-Q3", "2026-Q4"]


@pytest.fixture
def filled(app, invitations):
    """Campaign ``demo`` with 120 complete synthetic responses over two periods, and
    two unused invitations (whose tokens must never appear in an export)."""
    with open_db(app.config["DATABASE"]) as db:
        demo.fill_demo(db, "demo", 120, seed=7, periods=PERIODS)
        counts = {
            p: db.execute(
                "SELECT COUNT(*) FROM responses WHERE period = ? AND status = 'complete'", [p]
            ).fetchone()[0]
            for p in PERIODS
        }
    return {"counts": counts, "tokens": invitations("demo", 2)}


@pytest.fixture
def researcher(app, accounts):
    ac = AdminClient(app.test_client())
    assert ac.login("researcher").status_code == 302
    return ac


def audit_rows(app, action):
    with open_db(app.config["DATABASE"]) as db:
        return audit.entries(db, limit=1000, action=action)


def export(ac, **data):
    """Start an export like a researcher: POST the form (the export is queued), see the
    job page refresh itself, run the background worker, follow the page's download link.
    Returns the download, or the POST's response when the form is refused."""
    r = ac.post("/admin/campaigns/demo/export", data, token_from="/admin/campaigns/demo")
    if r.status_code != 303:
        return r
    return finish_export(ac, r.headers["Location"])


def finish_export(ac, job_url: str):
    queued = ac.get(job_url)
    assert queued.status_code == 200
    assert re.search(r'<meta http-equiv="refresh" content="\d+">', queued.text)
    with open_db(ac.client.application.config["DATABASE"]) as db:
        Worker(db, kinds=["export"]).run(until_idle=True, wait_retries=False)
    done = ac.get(job_url)
    assert done.status_code == 200 and "http-equiv" not in done.text, done.text
    m = re.search(r'href="([^"]+/download)"', done.text)
    assert m, error_text(done)
    return ac.get(m.group(1))


def unzip(response) -> dict[str, bytes]:
    with zipfile.ZipFile(io.BytesIO(response.data)) as z:
        return {name: z.read(name) for name in z.namelist()}


def test_export_form_on_the_campaign_page(researcher, filled):
    page = researcher.page("/admin/campaigns/demo")
    assert {"format", "period", "language"} <= set(page.labels)
    assert re.search(r"<option (selected )?value=\"\">All periods</option>", page.html)
    for p in PERIODS:
        assert f'<option value="{p}">{p}</option>' in page.html
    for fmt in FORMATS:
        assert re.search(f'<option (selected )?value="{fmt}">', page.html)


def test_csv_export_zip(app, researcher, filled, monkeypatch, tmp_path):
    work = tmp_path / "tmp"
    work.mkdir()
    monkeypatch.setattr(tempfile, "tempdir", str(work))  # to see what is left behind
    r = export(researcher, format="csv", period="", language="en")
    assert r.status_code == 200 and r.mimetype == "application/zip"
    assert r.headers["Content-Disposition"] == "attachment; filename=demo-csv.zip"
    assert r.headers["Cache-Control"] == "no-store"
    files = unzip(r)
    r.close()
    assert set(files) == {
        "demo.csv",
        "demo.csv.codebook.md",
        "demo.csv.codebook.json",
        "demo.csv.manifest.json",
    }
    rows = list(csv.DictReader(io.StringIO(files["demo.csv"].decode("utf-8"))))
    total = sum(filled["counts"].values())
    assert len(rows) == total == 120
    manifest = json.loads(files["demo.csv.manifest.json"])
    assert manifest["rows"] == total and manifest["format"] == "csv"
    assert manifest["sha256"] == hashlib.sha256(files["demo.csv"]).hexdigest()
    assert manifest["filters"]["periods"] is None
    codebook = json.loads(files["demo.csv.codebook.json"])
    assert codebook and b"# " in files["demo.csv.codebook.md"]
    # no identifiers: no response ids, timestamps, tokens or their hashes
    header = set(rows[0])
    assert not header & {
        "response_id",
        "id",
        "started_at",
        "completed_at",
        "invitation_id",
        "token",
        "token_sha256",
    }
    assert {"row", "period", "trust_index"} <= header
    blob = b"".join(files.values())
    for token in filled["tokens"]:
        assert token.encode() not in blob
        assert store.hash_token(token).encode() not in blob
    # the temporary export folder and zip are gone
    assert list(work.iterdir()) == []
    (entry,) = audit_rows(app, "export")
    assert entry["user"] == "researcher" and entry["target"] == "demo"
    assert entry["details"] == {
        "job": 1,
        "format": "csv",
        "periods": "all",
        "language": "en",
        "rows": total,
        "sha256": manifest["sha256"],
        "raw_formulas": False,
    }


def test_export_one_period_in_spss_with_russian_labels(app, researcher, filled):
    r = export(researcher, format="sav", period="2026-Q3", language="ru")
    assert r.status_code == 200
    files = unzip(r)
    r.close()
    assert set(files) >= {"demo-2026-Q3.sav", "demo-2026-Q3.sav.manifest.json"}
    manifest = json.loads(files["demo-2026-Q3.sav.manifest.json"])
    assert manifest["filters"]["periods"] == ["2026-Q3"] and manifest["label_language"] == "ru"
    assert manifest["sha256"] == hashlib.sha256(files["demo-2026-Q3.sav"]).hexdigest()
    with tempfile.NamedTemporaryFile(suffix=".sav") as f:
        f.write(files["demo-2026-Q3.sav"])
        f.flush()
        df, meta = pyreadstat.read_sav(f.name)
    assert len(df) == filled["counts"]["2026-Q3"] == manifest["rows"]
    assert set(df["period"]) == {"2026-Q3"}
    assert meta.column_names_to_labels["period"] == "Период"
    (entry,) = audit_rows(app, "export")
    assert entry["details"]["periods"] == ["2026-Q3"] and entry["details"]["format"] == "sav"
    assert entry["details"]["rows"] == filled["counts"]["2026-Q3"]


@pytest.mark.parametrize("fmt", ["xlsx", "dta", "parquet", "json"])
def test_every_format_is_a_zip_with_a_matching_manifest(researcher, filled, fmt):
    r = export(researcher, format=fmt, period="2026-Q4", language="en")
    assert r.status_code == 200
    files = unzip(r)
    r.close()
    name = f"demo-2026-Q4.{fmt}"
    manifest = json.loads(files[f"{name}.manifest.json"])
    assert manifest["rows"] == filled["counts"]["2026-Q4"]
    assert manifest["sha256"] == hashlib.sha256(files[name]).hexdigest()


@pytest.mark.parametrize(
    "data, message",
    [
        ({"format": "exe", "period": "", "language": "en"}, "Not a valid choice"),
        ({"format": "csv", "period": "1999-Q1", "language": "en"}, "Not a valid choice"),
        ({"format": "csv", "period": "", "language": "de"}, "Not a valid choice"),
    ],
)
def test_export_errors(app, researcher, filled, data, message):
    r = export(researcher, **data)
    assert r.status_code == 400 and message in error_text(r)
    assert audit_rows(app, "export") == []


def test_viewer_cannot_export(app, accounts, filled):
    viewer = AdminClient(app.test_client())
    viewer.login("viewer")
    r = viewer.post(
        "/admin/campaigns/demo/export", {"format": "csv", "language": "en"}, token_from="/admin/"
    )
    assert r.status_code == 403 and audit_rows(app, "export") == []


# ----- reports ------------------------------------------------------------------------------
def test_report_page_and_downloads_for_a_viewer(app, accounts, filled):
    viewer = AdminClient(app.test_client())
    viewer.login("viewer")
    page = viewer.page("/admin/reports/demo")
    assert page.status == 200 and page.scripts == 0
    with open_db(app.config["DATABASE"]) as db:
        rep = periodic.build_report(db, ["demo"])
    assert rep.headline() in page.text
    assert page.html.count("<svg") >= 3
    assert not re.search(r"\sstyle\s*=", page.html)  # the CSP allows no inline style
    assert '<th scope="row">2026-Q4</th>' in page.html
    r = viewer.get("/admin/reports/demo/report.json")
    assert r.status_code == 200 and r.mimetype == "application/json"
    assert "attachment" in r.headers["Content-Disposition"]
    assert json.loads(r.data) == json.loads(json.dumps(rep.to_dict()))
    r = viewer.get("/admin/reports/demo/report.html")
    assert r.status_code == 200 and r.mimetype == "text/html"
    assert (
        r.headers["Content-Disposition"] == 'attachment; filename="trust-report-demo-2026-Q4.html"'
    )
    assert r.get_data(as_text=True) == periodic.render_html(rep)
    entries = audit_rows(app, "report.download")
    assert [(e["user"], e["details"]["format"]) for e in entries] == [
        ("viewer", "html"),
        ("viewer", "json"),
    ]


def test_small_segments_are_never_shown(app, accounts):
    with open_db(app.config["DATABASE"]) as db:
        demo.fill_demo(db, "tiny", 20, seed=3, periods=["2026-Q4"])
    viewer = AdminClient(app.test_client())
    viewer.login("viewer")
    page = viewer.page("/admin/reports/tiny")
    assert page.status == 200
    assert "suppressed" in page.text
    with open_db(app.config["DATABASE"]) as db:
        rep = periodic.build_report(db, ["tiny"])
    assert rep.to_dict()["index"]["2026-Q4"]["trust_index"] == {"suppressed": True}
    ti_row = re.search(r'<th scope="row">2026-Q4</th>(.*?)</tr>', page.html, re.S).group(1)
    assert "suppressed" in ti_row and not re.search(r"\d+\.\d", ti_row)


def test_report_of_a_campaign_without_answers(app, accounts, campaign):
    campaign("acme")
    viewer = AdminClient(app.test_client())
    viewer.login("viewer")
    page = viewer.page("/admin/reports/acme")
    assert page.status == 200 and "No report yet" in page.text
    r = viewer.get("/admin/reports/acme/report.html")
    assert r.status_code == 302 and r.headers["Location"] == "/admin/reports/acme"
    assert audit_rows(app, "report.download") == []


# ----- exports as background jobs ---------------------------------------------------------
def test_export_job_page_progress_expiry_and_cleanup(app, researcher, filled, monkeypatch):
    from survey.export import jobs
    from survey.storage import export_jobs

    r = researcher.post(
        "/admin/campaigns/demo/export",
        {"format": "csv", "period": "", "language": "en"},
        token_from="/admin/campaigns/demo",
    )
    assert r.status_code == 303
    job_url = r.headers["Location"]
    page = researcher.get(job_url)
    assert "Waiting for the background worker" in error_text(page)
    assert '<meta http-equiv="refresh" content="2">' in page.text
    assert "<script" not in page.text and "style=" not in page.text
    # the campaign page lists it
    assert re.search(r'href="[^"]*/exports/1">#1</a>', researcher.get("/admin/campaigns/demo").text)
    db_path = app.config["DATABASE"]
    with open_db(db_path) as db:
        export_jobs.start(db, 1)
        export_jobs.progress(db, 1, 50, 120)  # what the worker writes after a chunk
    assert "Exporting: 50 of 120 rows (41%)" in error_text(researcher.get(job_url))
    with open_db(db_path) as db:
        Worker(db, kinds=["export"]).run(until_idle=True, wait_retries=False)
        job = export_jobs.get(db, 1)
    assert job["state"] == "done" and job["rows_done"] == job["rows_total"] == 120
    folder = jobs.exports_dir(db_path)
    path = folder / job["file_name"]
    assert path.is_file() and (path.stat().st_mode & 0o777) == 0o600
    assert [p.name for p in folder.iterdir()] == [job["file_name"]]  # no work files left
    done = error_text(researcher.get(job_url))
    assert "Finished: 120 rows" in done and "Kept until" in done
    # another campaign's URL does not reach this job
    assert researcher.get("/admin/campaigns/nope/exports/1").status_code == 404
    assert researcher.get("/admin/campaigns/demo/exports/99").status_code == 404
    # time is up: the worker's periodic task deletes the file, the page says so
    with open_db(db_path) as db:
        assert jobs.delete_expired(db) == 0  # not yet
        later = datetime.now(UTC) + timedelta(days=2)
        monkeypatch.setattr(
            export_jobs, "datetime", type("T", (), {"now": staticmethod(lambda tz=None: later)})
        )
        assert jobs.delete_expired(db) == 1
        assert export_jobs.get(db, 1)["state"] == "expired"
    assert not path.exists()
    assert "has been deleted" in error_text(researcher.get(job_url))
    assert researcher.get(job_url + "/download").status_code == 404


def test_viewer_cannot_see_export_jobs(app, accounts, researcher, filled):
    r = researcher.post(
        "/admin/campaigns/demo/export",
        {"format": "csv", "period": "", "language": "en"},
        token_from="/admin/campaigns/demo",
    )
    viewer = AdminClient(app.test_client())
    viewer.login("viewer")
    assert viewer.get(r.headers["Location"]).status_code == 403
    assert viewer.get(r.headers["Location"] + "/download").status_code == 403


def test_failed_export_job_says_why(app, researcher, filled, monkeypatch):
    from survey.export import jobs

    def broken(*a, **kw):
        raise OSError("disk full")

    monkeypatch.setattr(jobs, "export_campaign", broken)
    r = researcher.post(
        "/admin/campaigns/demo/export",
        {"format": "csv", "period": "", "language": "en"},
        token_from="/admin/campaigns/demo",
    )
    with open_db(app.config["DATABASE"]) as db:
        Worker(db, kinds=["export"]).run(until_idle=True, wait_retries=False)
    page = researcher.get(r.headers["Location"])
    assert "The export failed: disk full" in error_text(page)
    assert "http-equiv" not in page.text
