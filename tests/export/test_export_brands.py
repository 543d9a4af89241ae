"""Brand ratings in the exports (issue 11, item 1, data side): one row per brand rating,
the ``brand`` param column, the anonymous ``respondent`` key shared by one person's
rows, ``brand_position``, and the brands' display names as value labels (sav) and in
the codebook. Every format is read back (pandas, pyreadstat, openpyxl)."""

from __future__ import annotations

import json

import pandas as pd
import pyreadstat
import pytest
from brand_fixtures import BRANDS, brand_campaign
from store_fixtures import small_instrument

from survey import export as ex
from survey.quality import response_quality
from survey.storage import store
from survey.storage.db import connect, init_db, open_db


def _answers(inst, end: str) -> dict[str, int]:
    """Every item answered with its scale's lowest or highest code (checklist: 0/1)."""
    out = {}
    for i in inst.item_ids:
        scale = inst.scale_for(i)
        out[i] = (0 if end == "min" else 1) if scale is None else getattr(scale, end)
    return out


@pytest.fixture(scope="module")
def data(tmp_path_factory):
    """15 people who rate 2 brands each (30 rows), then 3 people started through
    invitations (``start_response`` draws their keys) with the brand from the invitation."""
    d = tmp_path_factory.mktemp("brandexport")
    path = d / "b.db"
    with open_db(path) as db:
        init_db(db)
        inst = small_instrument(d)
        made = brand_campaign(db, inst, "brands", people=15, per_person=2, seed=11)
        c = made["campaign"]
        invs = store.create_invitations(db, "brands", 3, {"brand": "zeta"})
        started = []
        for inv in invs:
            rid = store.start_response(
                db,
                store.get_campaign(db, "brands"),
                language="en",
                direction="ltr",
                params=None,
                item_order=None,
                invitation=inv,
            )
            store.save_page(db, rid, 0, _answers(inst, "min"))
            assert store.complete_response(db, rid, quality=response_quality)
            started.append(rid)
        keys = dict(db.execute("SELECT id, respondent FROM responses").fetchall())
    return {
        "path": path,
        "inst": inst,
        "made": made,
        "campaign": c,
        "started": started,
        "keys": keys,
        "hashes": [store.hash_token(i["token"]) for i in invs],
        "tokens": [i["token"] for i in invs],
        "invitation_ids": [i["id"] for i in invs],
    }


def read_back(path, fmt: str) -> pd.DataFrame:
    if fmt == "csv":
        return pd.read_csv(path, keep_default_na=False, na_values=[""], dtype={"respondent": str})
    if fmt == "json":
        return pd.DataFrame(json.loads(path.read_text(encoding="utf-8")))
    if fmt == "parquet":
        return pd.read_parquet(path)
    if fmt == "xlsx":
        return pd.read_excel(path, sheet_name="data", dtype={"respondent": str})
    if fmt == "sav":
        return pyreadstat.read_sav(path)[0]
    return pyreadstat.read_dta(path)[0]


@pytest.mark.parametrize("fmt", ex.FORMATS)
def test_one_row_per_brand_rating_sharing_the_respondent_key(data, tmp_path, fmt):
    out = ex.export_campaign(data["path"], "brands", fmt, tmp_path / f"b.{fmt}")
    df = read_back(out.path, fmt)
    made = data["made"]
    n_rated = len(made["ids"])
    assert out.rows == len(df) == n_rated + 3
    cols = list(out.columns)
    assert cols[:3] == ["row", "respondent", "campaign"]
    assert cols.index("brand") < cols.index("brand_position") < cols.index("longstring")
    # rows are in response order: the first 30 are the 15 people's 2 ratings each
    got_keys = [str(v) for v in df["respondent"]]
    assert got_keys[:n_rated] == made["respondent"]
    assert got_keys[n_rated:] == [data["keys"][i] for i in data["started"]]
    assert [str(v) for v in df["brand"]] == made["brand"] + ["zeta"] * 3
    per_key = pd.Series(got_keys[:n_rated]).value_counts()
    assert len(per_key) == 15 and (per_key == 2).all()
    # one person's two rows: two different brands, positions 1 and 2
    first = df.iloc[:n_rated].groupby(pd.Series(got_keys[:n_rated]))
    assert (first["brand"].nunique() == 2).all()
    pos = pd.to_numeric(df["brand_position"], errors="coerce")
    assert pos.iloc[:n_rated].tolist() == [float(p) for p in made["position"]]
    assert sorted(set(pos.iloc[:n_rated])) == [1.0, 2.0]
    assert pos.iloc[n_rated:].isna().all()  # the brand came from the invitation
    # the key is no identifier: not a response id, token (hash) or invitation id
    forbidden = {str(i) for i in data["keys"]} | set(data["hashes"]) | set(data["tokens"])
    forbidden |= {str(i) for i in data["invitation_ids"]}
    assert not forbidden & set(got_keys)
    assert all(len(k) == 16 and int(k, 16) >= 0 for k in got_keys)
    raw = out.path.read_bytes()
    for secret in [*data["hashes"], *data["tokens"]]:
        assert secret.encode() not in raw


def test_keys_from_start_response_are_random_and_distinct(data):
    """The keys :func:`store.start_response` drew: 16 hex digits, distinct per person,
    and unrelated to the response id or the invitation."""
    keys = [data["keys"][i] for i in data["started"]]
    assert len(set(keys)) == 3
    for rid, k in zip(data["started"], keys, strict=True):
        assert len(k) == 16 and int(k, 16) >= 0
        assert k not in (str(rid), f"{rid:016x}")


def test_brand_names_are_value_labels_and_in_the_codebook(data, tmp_path):
    names = {b["slug"]: b["names"] for b in BRANDS}
    sav = ex.export_campaign(data["path"], "brands", "sav", tmp_path / "b.sav", language="fa")
    _, meta = pyreadstat.read_sav(sav.path)
    assert meta.variable_value_labels["brand"] == {s: n["fa"] for s, n in names.items()}
    assert meta.column_names_to_labels["respondent"].startswith("پاسخ‌دهنده")
    assert meta.column_names_to_labels["brand_position"]
    cb = json.loads(sav.codebook_json.read_text(encoding="utf-8"))
    var = {v["name"]: v for v in cb["variables"]}
    assert [(v["code"], v["label"]) for v in var["brand"]["values"]] == [
        (s, names[s]) for s in names
    ]
    assert var["respondent"]["label"]["en"] == (
        "Respondent (anonymous key grouping one person's brand ratings)"
    )
    assert var["respondent"]["label"]["fa"] != var["respondent"]["label"]["en"]
    md = sav.codebook_md.read_text(encoding="utf-8")
    assert "acme = آکمه" in md and "zeta = بانک زتا" in md
    # Stata labels numbers only: the dta file carries no label set for the string brand,
    # its codebook has the names
    dta = ex.export_campaign(data["path"], "brands", "dta", tmp_path / "b.dta")
    _, dmeta = pyreadstat.read_dta(dta.path)
    assert "brand" not in dmeta.variable_value_labels
    dvar = {v["name"]: v for v in json.loads(dta.codebook_json.read_text())["variables"]}
    assert [v["code"] for v in dvar["brand"]["values"]] == ["acme", "zeta", "nova"]
    # the xlsx variables sheet lists the names
    xl = ex.export_campaign(data["path"], "brands", "xlsx", tmp_path / "b.xlsx")
    sheet = pd.read_excel(xl.path, sheet_name="variables")
    row = sheet[sheet["variable"] == "brand"].iloc[0]
    assert row["values"] == "acme = Acme; zeta = Zeta Bank; nova = Nova"


def test_campaign_without_brands_keeps_an_unlabelled_respondent_key(tmp_path):
    """No brands: every response has its own key, ``brand_position`` is empty."""
    path = tmp_path / "nb.db"
    with open_db(path) as db:
        init_db(db)
        inst = small_instrument(tmp_path)
        c = store.create_campaign(db, slug="plain", instrument=inst, period="2026-Q4")
        for _ in range(3):
            rid = store.start_response(
                db, c, language="en", direction="ltr", params=None, item_order=None
            )
            store.save_page(db, rid, 0, _answers(inst, "max"))
            assert store.complete_response(db, rid, quality=response_quality)
    out = ex.export_campaign(path, "plain", "csv", tmp_path / "p.csv")
    df = read_back(out.path, "csv")
    assert df["respondent"].nunique() == 3
    assert df["brand_position"].isna().all()
    assert "brand" not in df.columns
    conn = connect(path)
    try:
        assert store.get_campaign(conn, "plain")["brands"] == []
    finally:
        conn.close()
