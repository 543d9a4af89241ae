"""The web report's filters: plain GET parameters (bookmarkable), applied to the figures."""

from __future__ import annotations

from admin_support import (  # noqa: F401 (fixtures)
    AdminClient,
    accounts_fixture,
    fast_kdf_fixture,
)

from survey import demo
from survey.reporting.periodic import build_report
from survey.storage.db import open_db


def test_filters_are_get_parameters_and_change_the_figures(app, accounts):
    with open_db(app.config["DATABASE"]) as db:
        demo.fill_demo(db, "demo", 700, seed=5)
        periods = demo.last_quarters(4)
        fa = build_report(db, ["demo"], period=periods[2], language="fa").to_dict()
        every = build_report(db, ["demo"], period=periods[2]).to_dict()
    viewer = AdminClient(app.test_client())
    viewer.login("viewer")
    page = viewer.page(f"/admin/reports/demo?period={periods[2]}&language=fa&segment=segment")
    assert page.status == 200
    text = page.text
    n_fa = fa["index"][periods[2]]["trust_index"]["n"]
    assert n_fa < every["index"][periods[2]]["trust_index"]["n"]
    assert f"{periods[2]}: {fa['quality'][periods[2]]['analysed']} responses analysed" in text
    # the form shows the choices made, and the downloads keep them
    assert f'<option value="{periods[2]}" selected>' in page.html
    assert '<option value="fa" selected>' in page.html
    assert "language=fa" in page.html and "/report.json?" in page.html
    # unknown values are ignored, not a 500
    assert viewer.page("/admin/reports/demo?period=1999-Q1&language=xx&segment=%0A").status == 200


def test_web_report_opens_with_the_summary_and_shows_drivers_and_benchmark(app, accounts):
    with open_db(app.config["DATABASE"]) as db:
        demo.fill_demo(db, "demo", 900, seed=6)
        rep = build_report(db, ["demo"], segment="segment").to_dict()
    viewer = AdminClient(app.test_client())
    viewer.login("viewer")
    page = viewer.page("/admin/reports/demo?segment=segment")
    text = page.text
    assert rep["key_findings"] and rep["key_findings"][0] in text
    assert text.index("Summary") < text.index("Trust Index by period")
    assert "What drives trust" in text and "Fix first" in text
    assert "Brand benchmark: segment" in text
    assert "REL " not in text.split("Dimensions", 1)[1][:400]  # names, not codes
