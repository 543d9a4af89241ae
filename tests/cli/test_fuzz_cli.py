"""Fuzzing the ``trustmeter`` command line (hypothesis + click's CliRunner): every
argument of ``init``, ``campaign create``, ``invite``, ``demo``, ``export``,
``analyze``, ``instrument validate`` and ``report`` gets wrong types, unicode (RTL
marks, NUL, lone surrogates as from undecodable argv bytes), injection strings,
missing files and directories.

A command may succeed (0), refuse with ``Error: ...`` (1) or with usage text (2),
but never end in an unhandled exception, and the database stays consistent.
Generated paths are relative and run inside a temporary folder.
"""

from __future__ import annotations

import os
import sqlite3
import tempfile
import traceback
from pathlib import Path

import pytest
from click.testing import CliRunner
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st

from survey.cli import main
from survey.storage import store
from survey.storage.db import open_db

SETTINGS = settings(
    max_examples=40,
    deadline=None,
    derandomize=True,
    database=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture],
)

INJECTION = [
    "'; DROP TABLE campaigns; --",
    '"; DROP TABLE responses; --',
    "1 OR 1=1",
    "<script>alert(1)</script>",
    '"><img src=x onerror=alert(1)>',
    "{{7*7}}",
    "$(touch pwned)",
    "`touch pwned`",
    "%s%n",
    "\u202eacme",
    "\u200facme",
    "acme\x00",
    "\x00",
    "\udcff\udcfe",
    "a\udc80b",
    "💥",
    "٣",
    "-",
    "--",
    "--help",
    "-h",
    " ",
    "",
    "a" * 5000,
    "NaN",
    "inf",
    "-1",
    "0",
    "1e309",
    "99999999999999999999",
]
word = st.one_of(st.sampled_from(INJECTION), st.text(max_size=30))
PATHS = [
    "out.csv",
    "out.html",
    "out.json",
    "nosuchdir/out.csv",
    "..",
    ".",
    "",
    " ",
    "a\x00b",
    "\udcff.csv",
    "dir-exists",
    "readonly/x.csv",
    "x" * 300,
]
path = st.one_of(
    st.sampled_from(PATHS),
    st.text(alphabet=st.characters(exclude_characters="/\\"), min_size=1, max_size=20),
)
YAMLS = [
    "",
    "{",
    "[" * 2000,
    "a: &a [*a]",
    "- " * 3000 + "x",
    "id: x\nversion: 1",
    "\x00\x01",
    "!!python/object/apply:os.system ['echo pwned']",
    "x: " + "1" * 10000,
    "\ufeffid: t\n",
    "a: b\n" * 2000,
]


@pytest.fixture(scope="module")
def workdir(tmp_path_factory):
    """A database with an empty campaign ``acme`` and a small demo campaign ``demo``."""
    base = tmp_path_factory.mktemp("fuzzcli")
    db = base / "t.db"
    runner = CliRunner()
    for args in (
        ["init", "--db", str(db)],
        [
            "campaign",
            "create",
            "--db",
            str(db),
            "--instrument",
            "customer-trust",
            "--slug",
            "acme",
            "--period",
            "2026-Q4",
            "--param",
            "segment",
        ],
        ["demo", "--db", str(db), "--slug", "demo", "--n", "60", "--seed", "1"],
    ):
        result = runner.invoke(main, args)
        assert result.exit_code == 0, result.output
    (base / "dir-exists").mkdir()
    (base / "readonly").mkdir(mode=0o500)
    return base


def run(workdir: Path, args: list[str], files: dict[str, str] | None = None):
    """Invoke ``trustmeter args`` in a fresh folder; check it ended cleanly."""
    here = os.getcwd()
    with tempfile.TemporaryDirectory(dir=workdir) as folder:
        os.chdir(folder)
        try:
            for name, text in (files or {}).items():
                Path(name).write_text(text, encoding="utf-8", errors="surrogateescape")
            Path("dir-exists").mkdir()
            result = CliRunner().invoke(main, args)
        finally:
            os.chdir(here)
    event(f"{args[0]}: exit {result.exit_code}")
    exc = result.exception
    if exc is not None and not isinstance(exc, SystemExit):
        tb = "".join(traceback.format_exception(exc))
        raise AssertionError(f"trustmeter {args!r} raised:\n{tb}")
    assert result.exit_code in (0, 1, 2), result.exit_code
    if result.exit_code == 1 and args[:2] == ["instrument", "validate"]:
        assert result.output.strip(), "validate names each file's problems"  # file: problem
    elif result.exit_code == 1:
        assert "Error:" in result.output, result.output[-500:]
    elif result.exit_code == 2:
        assert "Usage:" in result.output or "Error:" in result.output, result.output[-500:]
    assert "Traceback" not in result.output
    check_database(workdir / "t.db")
    return result


def check_database(db_path: Path) -> None:
    raw = sqlite3.connect(db_path)
    try:
        assert raw.execute("PRAGMA integrity_check").fetchall() == [("ok",)]
        assert raw.execute("PRAGMA foreign_key_check").fetchall() == []
    finally:
        raw.close()
    with open_db(db_path) as db:
        for c in store.list_campaigns(db):
            assert store.SLUG_RE.match(c["slug"]), c["slug"]
            assert all(store.PARAM_RE.match(p) for p in c["params"]), c["params"]
        for (inv_params,) in db.execute("SELECT params FROM invitations"):
            assert "\x00" not in inv_params


def options(draw, spec: dict[str, st.SearchStrategy]) -> list[str]:
    """Some of the options in ``spec`` (name -> value strategy), in random order."""
    names = draw(st.lists(st.sampled_from(sorted(spec)), max_size=len(spec) + 1))
    out: list[str] = []
    for name in names:
        out += [name, draw(spec[name])]
    return out


# ----- init, campaign create, invite, instrument validate, export --------------------------
@st.composite
def quick_commands(draw, db: str):
    which = draw(st.sampled_from(["init", "campaign", "invite", "validate", "export"]))
    files: dict[str, str] = {}
    if which == "init":
        args = ["init", "--db", draw(st.one_of(path, st.just(db)))]
    elif which == "campaign":
        args = ["campaign", "create", "--db", db] + options(
            draw,
            {
                "--instrument": st.one_of(
                    st.sampled_from(
                        ["customer-trust", "customer-trust@1.0.0", "customer-trust@9", "inst.yaml"]
                    ),
                    word,
                ),
                "--slug": st.one_of(
                    st.sampled_from(["acme", "new-one", "Bad Slug", "a" * 70]), word
                ),
                "--period": st.one_of(st.sampled_from(["2026-Q4", "2026", "x\ny"]), word),
                "--param": st.one_of(
                    st.sampled_from(["segment", "lang", "status", "a-b", "_x"]), word
                ),
                "--language": st.one_of(st.sampled_from(["en", "fa", "de", "EN"]), word),
                "--opens": st.one_of(
                    st.sampled_from(
                        ["2026-01-01", "2026-13-45", "yesterday", "2026-01-01T00:00:00+99:00"]
                    ),
                    word,
                ),
                "--closes": st.one_of(st.sampled_from(["2025-01-01", "2099-12-31"]), word),
                "--min-segment-n": st.one_of(st.sampled_from(["0", "-5", "30", "1e3"]), word),
                "--title": word,
            },
        )
        files["inst.yaml"] = draw(st.sampled_from(YAMLS))
    elif which == "invite":
        args = ["invite", "--db", db, draw(st.one_of(st.sampled_from(["acme", "demo"]), word))]
        args += [
            "--count",
            draw(st.one_of(st.integers(-3, 5).map(str), st.sampled_from(["abc", "1.5", "", "٣"]))),
        ]
        args += options(
            draw,
            {
                "--param": st.one_of(
                    st.sampled_from(
                        ["segment=loyal", "segment=", "=x", "other=1", "segment=<b>", "segment"]
                    ),
                    word,
                ),
                "--base-url": word,
            },
        )
    elif which == "validate":
        names = draw(
            st.lists(
                st.sampled_from(["a.yaml", "b.yaml", "missing.yaml", "dir-exists", "\udcff.yaml"]),
                min_size=1,
                max_size=3,
            )
        )
        for name in names:
            if name in ("a.yaml", "b.yaml"):
                files[name] = draw(st.one_of(st.sampled_from(YAMLS), st.text(max_size=200)))
        args = ["instrument", "validate", *names]
    else:
        args = [
            "export",
            *draw(
                st.lists(st.one_of(st.sampled_from(["demo", "acme"]), word), min_size=0, max_size=2)
            ),
            "--db",
            db,
        ]
        args += options(
            draw,
            {
                "--format": st.one_of(
                    st.sampled_from(["csv", "xlsx", "sav", "dta", "parquet", "json", "CSV", "exe"]),
                    word,
                ),
                "-o": path,
                "--period": st.one_of(st.sampled_from(["2026-Q4", "nope"]), word),
                "--language": st.one_of(st.sampled_from(["en", "ru", "fa", "xx"]), word),
            },
        )
    return args, files


@given(data=st.data())
@SETTINGS
def test_fuzzed_quick_commands(workdir, data):
    args, files = data.draw(quick_commands(str(workdir / "t.db")))
    run(workdir, args, files)


# ----- demo ---------------------------------------------------------------------------------
@given(data=st.data())
@settings(SETTINGS, max_examples=15)
def test_fuzzed_demo(workdir, data):
    args = ["demo", "--db", str(workdir / "t.db")] + options(
        data.draw,
        {
            "--slug": st.one_of(st.sampled_from(["demo", "demo2", "acme", "Bad!"]), word),
            "--n": st.one_of(st.integers(-2, 12).map(str), st.sampled_from(["abc", "", "1.5"])),
            "--seed": st.one_of(st.integers().map(str), word),
            "--instrument": st.one_of(st.sampled_from(["customer-trust", "nope"]), word),
        },
    )
    if "--n" not in args:
        args += ["--n", "5"]  # keep it quick (the default is 3000)
    run(workdir, args)


# ----- analyze and report ----------------------------------------------------------------
CSVS = [
    "",
    "a,b\n1,2\n",
    "\x00\x00",
    "HON1,HON2\n<script>,x\n",
    "response_id\n" + "1\n" * 5,
    "HON1\n" + "9\n" * 50,
]


@given(data=st.data())
@settings(SETTINGS, max_examples=15)
def test_fuzzed_analyze_and_report(workdir, data):
    db = str(workdir / "t.db")
    files: dict[str, str] = {}
    if data.draw(st.booleans()):
        target = data.draw(
            st.one_of(
                st.sampled_from(["acme", "data.csv", "missing.csv", "dir-exists", "demo"]), word
            )
        )
        files["data.csv"] = data.draw(st.sampled_from(CSVS))
        args = ["analyze", target, "--db", db] + options(
            data.draw,
            {
                "--instrument": st.one_of(st.sampled_from(["customer-trust", "inst.yaml"]), word),
                "--group": word,
                "--segment": word,
                "--period": word,
                "--json": path,
                "--html": path,
                "--efa-extraction": st.sampled_from(["minres", "ml", "pca"]),
                "--n-factors": st.one_of(st.integers(-1, 50).map(str), word),
                "--min-segment-n": st.integers(-1, 10**6).map(str),
                "--min-items": st.one_of(st.integers(-1, 60).map(str), word),
                "--seed": st.one_of(st.integers().map(str), word),
            },
        )
        files["inst.yaml"] = data.draw(st.sampled_from(YAMLS))
    else:
        args = ["report", "--db", db] + options(
            data.draw,
            {
                "--campaign": st.one_of(st.sampled_from(["acme", "nope"]), word),
                "--period": st.one_of(st.sampled_from(["2026-Q4", "2025-Q1"]), word),
                "--segment": st.one_of(st.sampled_from(["segment", "language", "lang"]), word),
                "--html": path,
                "--json": path,
                "--min-segment-n": st.one_of(st.integers(-1, 10**6).map(str), word),
            },
        )
    run(workdir, args, files)
