"""One measurement in a fresh process: ``python -m benchmarks.worker TASK N [--memory]``.

Prints one JSON line: ``wall`` and ``cpu`` seconds of the measured call only (the
input is loaded first and not timed), ``maxrss_mb`` (peak RSS of the process),
``peak_growth_mb`` (the peak RSS during the call less the RSS at its start, Linux's
VmHWM reset just before the call) and,
with ``--memory``, ``peak_mb``: the peak of memory *allocated during the call*
(tracemalloc, which numpy and pandas report to), run apart from the timed runs
because tracing slows Python code down.
"""

from __future__ import annotations

import json
import resource
import subprocess
import sys
import time
import tracemalloc
from collections.abc import Callable
from pathlib import Path

import numpy as np

from . import data, synth

HERE = Path(__file__).resolve().parent
TASKS: dict[str, Callable[[int], Callable[[], dict | None]]] = {}


def task(name: str):
    def register(f):
        TASKS[name] = f
        return f

    return register


# ----- analysis ------------------------------------------------------------------
@task("analysis.floor")
def _floor(n: int):
    x = np.load(data.items_path(n))

    def run():
        c = x[~np.isnan(x).any(axis=1)]
        np.cov(c, rowvar=False)

    return run


@task("analysis.trustmeter")
def _analyze(n: int):
    import factor_analyzer  # noqa: F401

    import analysis.cfa  # noqa: F401  (imported lazily by analyze: not timed, as for R)
    from analysis.report import analyze

    df = data.load_frame(n)
    inst = synth.instrument()

    def run():
        r = analyze(df, inst, segment="segment", period="period")
        return {
            "n_complete": r.n_complete,
            "cfi": r.cfa.cfi,
            "kmo": r.kmo.overall,
            "alpha_ABL": r.reliability.dimensions["ABL"].alpha,
            "n_excluded": r.n_excluded,
        }

    return run


@task("analysis.cli")
def _cli(n: int):
    path = data.csv_path(n)
    yaml = synth.INSTRUMENT_YAML
    out = data.cache_dir() / f"cli-{n}.json"
    exe = str(Path(sys.executable).with_name("trustmeter"))

    def run():
        subprocess.run(
            [
                exe,
                "analyze",
                str(path),
                "--instrument",
                str(yaml),
                "--segment",
                "segment",
                "--period",
                "period",
                "--json",
                str(out),
            ],
            check=True,
            stdout=subprocess.DEVNULL,
        )

    return run


def _reverse_keyed(x: np.ndarray) -> np.ndarray:
    x = x.copy()
    for j, item in enumerate(synth.ITEMS):
        if int(item[-1]) in synth.REVERSED:
            x[:, j] = 8 - x[:, j]
    return x


@task("analysis.pingouin_fa_semopy")
def _third_party(n: int):
    import warnings

    import factor_analyzer as fa  # imports are not timed (nor R's library() calls)
    import pandas as pd
    import pingouin
    import semopy

    x = np.load(data.items_path(n))

    def run():
        times = {}
        t = time.perf_counter()
        df = pd.DataFrame(_reverse_keyed(x), columns=list(synth.ITEMS))
        complete = df.dropna()
        times["prepare"] = time.perf_counter() - t
        t = time.perf_counter()
        for d in synth.DIMS:
            pingouin.cronbach_alpha(df[[f"{d}{j}" for j in range(1, 7)]], nan_policy="listwise")
        times["alpha (pingouin)"] = time.perf_counter() - t
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            t = time.perf_counter()
            fa.calculate_kmo(complete)
            times["kmo (factor_analyzer)"] = time.perf_counter() - t
            t = time.perf_counter()
            fa.calculate_bartlett_sphericity(complete)
            times["bartlett (factor_analyzer)"] = time.perf_counter() - t
            t = time.perf_counter()
            fa.FactorAnalyzer(n_factors=5, method="minres", rotation="oblimin").fit(complete)
            times["efa (factor_analyzer)"] = time.perf_counter() - t
            t = time.perf_counter()
            desc = "\n".join(
                f"{d} =~ " + " + ".join(f"{d}{j}" for j in range(1, 7)) for d in synth.DIMS
            )
            model = semopy.Model(desc)
            model.fit(complete)
            semopy.calc_stats(model)
            times["cfa (semopy)"] = time.perf_counter() - t
        return {"parts": times}

    return run


@task("analysis.R")
def _r(n: int):
    path = data.raw_path(n)

    def run():
        out = subprocess.run(
            [
                "Rscript",
                "--vanilla",
                str(HERE / "bench.R"),
                str(path),
                str(n),
                str(len(synth.ITEMS)),
            ],
            check=True,
            capture_output=True,
            text=True,
        )
        return json.loads(out.stdout.strip().splitlines()[-1])

    return run


# ----- loading from the database -------------------------------------------------
@task("load.frame")
def _load_frame(n: int):
    from survey.storage.db import open_db
    from survey.storage.store import load_campaign_frame

    path = data.db_path(n)

    def run():
        with open_db(path) as db:
            df, inst = load_campaign_frame(db, data.SLUG)
        return {"rows": len(df)}

    return run


@task("load.matrix")
def _load_matrix(n: int):
    from survey.storage.db import open_db
    from survey.storage.store import load_campaign_matrix

    path = data.db_path(n)

    def run():
        with open_db(path) as db:
            x, ids, items = load_campaign_matrix(db, data.SLUG)
        return {"rows": int(x.shape[0]), "shape": list(x.shape)}

    return run


@task("load.parquet")
def _load_parquet(n: int):
    import pyarrow.parquet as pq

    path = data.parquet_path(n)

    def run():
        t = pq.read_table(path)
        x = np.column_stack([c.to_numpy() for c in t.columns])
        return {"rows": int(x.shape[0]), "shape": list(x.shape)}

    return run


# ----- export --------------------------------------------------------------------
def _warm_careless(path) -> None:
    """Fill the careless-exclusions cache (not timed): an export computes the screening
    only when the campaign's data changed since the last one (:mod:`survey.storage.
    careless_cache`); ``export.careless`` measures that computation on its own."""
    from survey.export.core import careless_ids
    from survey.storage import exports
    from survey.storage.db import open_db

    with open_db(path) as db:
        careless_ids(db, exports.select(db, [data.SLUG], None))


def _export(fmt: str):
    def make(n: int):
        from survey.export import export_campaign

        path = data.db_path(n)
        out = data.cache_dir() / f"export-{n}.{fmt}"
        _warm_careless(path)

        def run():
            r = export_campaign(path, data.SLUG, fmt, out)
            return {"rows": r.rows, "bytes": out.stat().st_size}

        return run

    return make


for _fmt in ("csv", "sav", "dta", "xlsx", "parquet", "json"):
    TASKS[f"export.{_fmt}"] = _export(_fmt)


@task("export.careless")
def _careless(n: int):
    """The careless screening of an export when the cache is stale (first export after
    new responses): packed answers read once, screened one period at a time."""
    from analysis.headline import careless_exclusions
    from survey.storage import careless_cache, exports
    from survey.storage.db import open_db

    path = data.db_path(n)

    def run():
        with open_db(path) as db:
            sel = exports.select(db, [data.SLUG], None)
            n_excluded = 0
            for frame in careless_cache.period_frames(db, sel.campaigns, sel.inst, sel.table):
                n_excluded += int(careless_exclusions(frame, sel.inst).sum())
        return {"excluded": n_excluded}

    return run


@task("export.chunk")
def _chunk(n: int):
    """The memory baseline of the exports: reading one chunk of rows (``CHUNK_ROWS``)
    and building its export frame, as every export does for each chunk."""
    from survey.export import core
    from survey.storage import exports
    from survey.storage.db import open_db

    path = data.db_path(n)
    _warm_careless(path)

    def run():
        with open_db(path) as db, exports.snapshot(db):
            sel = exports.select(db, [data.SLUG], None)
            columns = core.build_columns(sel.inst, sel.params)
            careless = core.careless_ids(db, sel)
            with exports.read_batches(db, sel, core.CHUNK_ROWS) as batches:
                batch = next(iter(batches))
                frame = core._chunk_frame(batch, 0, sel, columns, careless)
            return {
                "rows": len(frame),
                "frame_mb": float(frame.memory_usage(deep=True).sum()) / 2**20,
                "batch_mb": batch.nbytes / 2**20,
            }

    return run


@task("export.xlsx_readback")
def _xlsx_readback(n: int):
    """Read the xlsx that ``export.xlsx`` wrote with openpyxl in read-only mode."""
    from openpyxl import load_workbook

    path = data.cache_dir() / f"export-{n}.xlsx"

    def run():
        wb = load_workbook(path, read_only=True)
        try:
            rows = sum(1 for _ in wb["data"].iter_rows(values_only=True)) - 1
        finally:
            wb.close()
        return {"rows": rows}

    return run


def sqlite3_select(n: int) -> str:
    """The export's rows as plain SQL: responses + campaign + answers, complete only."""
    from survey.storage.db import open_db
    from survey.storage.store import answers_table_name

    inst = synth.instrument()
    with open_db(data.db_path(n)) as db:
        params = db.execute("SELECT params FROM campaigns WHERE slug = ?", [data.SLUG]).fetchone()[
            0
        ]
    params = json.loads(params)
    return (
        "SELECT c.slug AS campaign, r.period, r.language, r.direction, r.duration_s, "
        "r.longstring, r.irv, r.attention_passed, r.flags, r.na_items, "
        + "".join(f"json_extract(r.params, '$.{p}') AS {p}, " for p in params)
        + ", ".join(f'a."{i}"' for i in inst.item_ids)
        + f" FROM responses r JOIN campaigns c ON c.id = r.campaign_id LEFT JOIN "
        f'"{answers_table_name(inst)}" a ON a.response_id = r.id '
        f"WHERE c.slug = '{data.SLUG}' AND r.status = 'complete' ORDER BY r.id;"
    )


@task("export.sqlite3_cli")
def _sqlite3_cli(n: int):
    path = data.db_path(n)
    out = data.cache_dir() / f"export-{n}.sqlite3.csv"
    sql = sqlite3_select(n)

    def run():
        with open(out, "wb") as f:
            subprocess.run(
                ["sqlite3", "-readonly", "-csv", "-header", str(path), sql], check=True, stdout=f
            )
        return {"bytes": out.stat().st_size}

    return run


# ----- main ----------------------------------------------------------------------
def _children_cpu() -> float:
    r = resource.getrusage(resource.RUSAGE_CHILDREN)
    return r.ru_utime + r.ru_stime


def _proc_status_mb(field: str) -> float | None:
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith(field + ":"):
                return int(line.split()[1]) / 1024  # kB
    except OSError:
        pass
    return None


def _reset_peak_rss() -> bool:
    """Reset the kernel's peak-RSS mark (VmHWM) of this process (Linux >= 4.0)."""
    try:
        Path("/proc/self/clear_refs").write_text("5")
    except OSError:
        return False
    return True


def measure(name: str, n: int, memory: bool = False) -> dict:
    run = TASKS[name](n)
    if memory:
        tracemalloc.start()
    rss0 = _proc_status_mb("VmRSS")
    reset = _reset_peak_rss()
    cpu0, child0 = time.process_time(), _children_cpu()
    t0 = time.perf_counter()
    extra = run()
    wall = time.perf_counter() - t0
    cpu = time.process_time() - cpu0 + _children_cpu() - child0
    out = {
        "task": name,
        "n": n,
        "wall": wall,
        "cpu": cpu,
        "maxrss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
    }
    hwm = _proc_status_mb("VmHWM")
    if reset and rss0 is not None and hwm is not None:
        # peak RSS during the call (the mark was reset just before it) less the RSS at
        # its start: what the call itself needed, without imports and input preparation
        out["rss_before_mb"] = rss0
        out["peak_rss_mb"] = hwm
        out["peak_growth_mb"] = max(hwm - rss0, 0.0)
    if memory:
        out["peak_mb"] = tracemalloc.get_traced_memory()[1] / 2**20
        tracemalloc.stop()
    if extra:
        out["extra"] = extra
    return out


def main(argv: list[str]) -> None:
    name, n = argv[0], int(argv[1])
    print(json.dumps(measure(name, n, memory="--memory" in argv)))


if __name__ == "__main__":
    main(sys.argv[1:])
