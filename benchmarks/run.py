"""``make bench``: run every benchmark, print a table, write ``benchmarks/results.json``.

``BENCH_SCALE`` picks the sizes: ``full`` (default; 10k/100k/1M responses, about
half an hour on 2 cores), ``small`` or ``tiny`` (the smoke test). ``BENCH_ONLY``
(comma-separated: ``analysis,load,export,web,web_exports``) runs a subset and updates those
sections in an existing results file of the same scale; ``BENCH_OUT`` sets the JSON
path; ``BENCH_CACHE`` the folder of the generated inputs (default
``$TMPDIR/trustmeter-bench``, about 1.5 GB at full scale); ``BENCH_EXPORT_ONCE``
(e.g. ``chunk,sav``) limits the export formats measured once after the csv rounds.

Every measurement runs in a fresh subprocess (:mod:`benchmarks.worker`). A task and
its baseline are interleaved (A, B, A, B, ...) and repeated; the table shows
medians and ratios to the baseline measured in the same run (the median of the
per-round ratios), because the machine is shared and its load varies.
"""

from __future__ import annotations

import json
import os
import platform
import shutil
import statistics
import subprocess
import sys
import time
from datetime import UTC, datetime
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent

SCALES = {
    # analysis sizes, repeats per size, db rows (load/export), repeats, web seconds, rounds
    "full": {
        "analysis": [10_000, 100_000, 1_000_000],
        "analysis_repeats": 3,
        "memory": True,
        "db_rows": 1_000_000,
        "db_repeats": 3,
        "web_seconds": 20,
        "web_rounds": 3,
        "web_warmup": 3,
        "third_party_max": 1_000_000,
        "cli_max": 100_000,
    },
    "small": {
        "analysis": [10_000, 100_000],
        "analysis_repeats": 2,
        "memory": True,
        "db_rows": 100_000,
        "db_repeats": 2,
        "web_seconds": 8,
        "web_rounds": 2,
        "web_warmup": 2,
        "third_party_max": 100_000,
        "cli_max": 10_000,
    },
    "tiny": {
        "analysis": [2_000],
        "analysis_repeats": 1,
        "memory": False,
        "db_rows": 2_000,
        "db_repeats": 1,
        "web_seconds": 1.5,
        "web_rounds": 1,
        "web_warmup": 0,
        "third_party_max": 0,
        "cli_max": 0,
    },
}
TARGETS = {
    "analysis_vs_floor": 5.0,  # full pipeline within 5x the numpy covariance (100k, 1M)
    "analysis_peak_vs_data": 2.0,  # peak memory within 2x the data matrix
    "load_vs_parquet": 3.0,
    "export_csv_vs_sqlite3": 1.5,
    # peak RSS growth of an export within 2x that of one chunk (read + framed); the
    # writers' own buffers (openpyxl's, Arrow's row group) are inside this figure
    "export_peak_vs_chunk": 2.0,
    "web_vs_framework": 0.5,  # >= 50% of the trivial endpoint's request rate
    "web_p99_ms": 50.0,
}


def worker(task: str, n: int, memory: bool = False) -> dict:
    cmd = [sys.executable, "-m", "benchmarks.worker", task, str(n)]
    if memory:
        cmd.append("--memory")
    out = subprocess.run(
        cmd, cwd=ROOT, capture_output=True, text=True, env={**os.environ, "PYTHONPATH": str(ROOT)}
    )
    if out.returncode != 0:
        return {"task": task, "n": n, "error": out.stderr.strip().splitlines()[-1:]}
    return json.loads(out.stdout.strip().splitlines()[-1])


def interleaved(tasks: list[str], n: int, repeats: int, baseline: str) -> dict:
    """Run ``tasks`` round-robin ``repeats`` times; medians and per-round ratios."""
    runs: dict[str, list[dict]] = {t: [] for t in tasks}
    for _ in range(repeats):
        for t in tasks:
            runs[t].append(worker(t, n))
            print(
                f"  {t} n={n}: "
                + (
                    f"{runs[t][-1]['wall']:.3f} s"
                    if "wall" in runs[t][-1]
                    else f"error {runs[t][-1]['error']}"
                ),
                flush=True,
            )
    out = {}
    for t, rs in runs.items():
        ok = [r for r in rs if "wall" in r]
        if not ok:
            out[t] = {"error": rs[-1].get("error")}
            continue
        pairs = [
            (a, b)
            for a, b in zip(rs, runs[baseline], strict=True)
            if "wall" in a and "wall" in b and b["wall"] > 0 and b["cpu"] > 0
        ]
        ratios = [a["wall"] / b["wall"] for a, b in pairs]
        cpu_ratios = [a["cpu"] / b["cpu"] for a, b in pairs]
        out[t] = {
            "wall_median": statistics.median(r["wall"] for r in ok),
            "cpu_median": statistics.median(r["cpu"] for r in ok),
            "walls": [r["wall"] for r in ok],
            "ratio_to_baseline": statistics.median(ratios) if ratios else None,
            "cpu_ratio_to_baseline": statistics.median(cpu_ratios) if cpu_ratios else None,
            "maxrss_mb": max(r["maxrss_mb"] for r in ok),
            "extra": ok[-1].get("extra"),
        }
        growth = [r["peak_growth_mb"] for r in ok if r.get("peak_growth_mb") is not None]
        if growth:
            out[t]["peak_growth_mb"] = max(growth)
    return out


def have_r() -> bool:
    if not shutil.which("Rscript"):
        return False
    probe = subprocess.run(
        [
            "Rscript",
            "--vanilla",
            "-e",
            "for (p in c('psych','lavaan','GPArotation','jsonlite')) "
            "if (!requireNamespace(p, quietly=TRUE)) quit(status=1)",
        ],
        capture_output=True,
    )
    return probe.returncode == 0


def bench_analysis(cfg: dict) -> dict:
    r_ok = have_r()
    res: dict = {"r_available": r_ok, "sizes": {}}
    for n in cfg["analysis"]:
        print(f"analysis n={n}", flush=True)
        tasks = ["analysis.floor", "analysis.trustmeter"]
        if n <= cfg["third_party_max"]:
            tasks.append("analysis.pingouin_fa_semopy")
            if r_ok:
                tasks.append("analysis.R")
        if n <= cfg["cli_max"]:
            tasks.append("analysis.cli")
        size = interleaved(tasks, n, cfg["analysis_repeats"], "analysis.floor")
        if cfg["memory"]:
            for t in ("analysis.floor", "analysis.trustmeter", "analysis.pingouin_fa_semopy"):
                if t in size and "error" not in size[t]:
                    m = worker(t, n, memory=True)
                    size[t]["peak_mb"] = m.get("peak_mb")
        size["data_mb"] = n * 30 * 8 / 2**20
        res["sizes"][str(n)] = size
    return res


def bench_load(cfg: dict) -> dict:
    n = cfg["db_rows"]
    print(f"load n={n}", flush=True)
    from benchmarks import data

    data.parquet_path(n)  # builds the database too
    return {
        "n": n,
        "tasks": interleaved(
            ["load.parquet", "load.matrix", "load.frame"], n, cfg["db_repeats"], "load.parquet"
        ),
    }


EXPORT_ONCE = (
    "export.chunk",
    "export.careless",
    "export.sav",
    "export.dta",
    "export.parquet",
    "export.json",
    "export.xlsx",
    "export.xlsx_readback",
)


def bench_export(cfg: dict) -> dict:
    n = cfg["db_rows"]
    print(f"export n={n}", flush=True)
    if not shutil.which("sqlite3"):
        return {"n": n, "skipped": "sqlite3 command not found (apt-get install sqlite3)"}
    from benchmarks import data

    data.db_path(n)
    tasks = interleaved(
        ["export.sqlite3_cli", "export.csv"], n, cfg["db_repeats"], "export.sqlite3_cli"
    )
    # the other formats are slower: once each, against the sqlite3 median. Memory: the
    # peak RSS growth during the call (peak_growth_mb) against that of reading and
    # building one chunk of rows (export.chunk), the baseline of the 2x target
    base = tasks["export.sqlite3_cli"]
    once = EXPORT_ONCE
    if "BENCH_EXPORT_ONCE" in os.environ:  # e.g. "chunk": a quick rerun of the csv rounds
        wanted = {f"export.{x.strip()}" for x in os.environ["BENCH_EXPORT_ONCE"].split(",")}
        once = tuple(t for t in EXPORT_ONCE if t in wanted)
    for t in once:
        if t == "export.xlsx_readback" and "wall_median" not in tasks.get("export.xlsx", {}):
            tasks[t] = {"error": "export.xlsx failed"}
            continue
        r = worker(t, n)
        print(
            f"  {t} n={n}: "
            + (
                f"{r['wall']:.3f} s, peak growth {r.get('peak_growth_mb', float('nan')):.0f} MiB"
                if "wall" in r
                else f"error {r.get('error')}"
            ),
            flush=True,
        )
        if "wall" in r and "wall_median" in base:
            tasks[t] = {
                "wall_median": r["wall"],
                "cpu_median": r["cpu"],
                "walls": [r["wall"]],
                "ratio_to_baseline": r["wall"] / base["wall_median"],
                "cpu_ratio_to_baseline": r["cpu"] / base["cpu_median"],
                "maxrss_mb": r["maxrss_mb"],
                "peak_growth_mb": r.get("peak_growth_mb"),
                "extra": r.get("extra"),
            }
        else:
            tasks[t] = {"error": r.get("error")}
    chunk = tasks.get("export.chunk", {}).get("peak_growth_mb")
    for r in tasks.values():
        if chunk and r.get("peak_growth_mb") is not None:
            r["peak_vs_chunk"] = r["peak_growth_mb"] / chunk
    return {"n": n, "chunk_rows": _chunk_rows(), "tasks": tasks}


def _chunk_rows() -> int:
    from survey.export.core import CHUNK_ROWS

    return CHUNK_ROWS


def bench_web(cfg: dict) -> dict:
    from benchmarks import web

    print(f"web: {web.CONCURRENCY} clients, {web.WORKERS} gunicorn workers", flush=True)
    rounds: list[dict] = []
    with web.Servers() as s:
        if cfg["web_warmup"]:  # first requests compile templates, open connections
            web.load(s.trivial_port, cfg["web_warmup"], "trivial")
            web.load(s.survey_port, cfg["web_warmup"], "survey")
        for _ in range(cfg["web_rounds"]):
            t = web.load(s.trivial_port, cfg["web_seconds"], "trivial", server_pid=s.trivial.pid)
            v = web.load(s.survey_port, cfg["web_seconds"], "survey", server_pid=s.survey.pid)
            floors = {
                name: web.load(
                    s.floor_ports[name],
                    cfg["web_seconds"],
                    "survey",
                    slug="floor",
                    server_pid=s.floors[name].pid,
                )
                for name in s.floor_ports
            }
            rounds.append(
                {
                    "trivial": t,
                    "survey": v,
                    **floors,
                    "ratio_requests": v["requests_per_s"] / t["requests_per_s"],
                    **{
                        f"ratio_{name}": f["requests_per_s"] / t["requests_per_s"]
                        for name, f in floors.items()
                    },
                    # other work on the machine inflates both; recorded with each round
                    "loadavg_after": os.getloadavg(),
                }
            )
            print(
                f"  trivial {t['requests_per_s']:.0f} req/s, survey {v['requests_per_s']:.0f} "
                f"req/s ({v['completed_per_s']:.1f} responses/s), p99 {v['p99_ms']:.0f} ms, "
                f"server CPU {v['server_cpu_ms_per_request']:.2f} / "
                f"{t['server_cpu_ms_per_request']:.2f} ms per request, "
                f"load {os.getloadavg()[0]:.1f}",
                flush=True,
            )
            print(
                "  floors: "
                + ", ".join(
                    f"{name} {f['requests_per_s']:.0f} req/s (p99 {f['p99_ms']:.0f} ms, "
                    f"server CPU {f['server_cpu_ms_per_request']:.2f} ms per request)"
                    for name, f in floors.items()
                ),
                flush=True,
            )
        storage = web.storage_ceiling(s.db)

    def med(kind: str, key: str):
        vals = [r[kind][key] for r in rounds if r[kind].get(key) is not None]
        return statistics.median(vals) if vals else None

    keys = (
        "requests_per_s",
        "completed_per_s",
        "p50_ms",
        "p99_ms",
        "client_cpu_ms_per_request",
        "server_cpu_ms_per_request",
        "errors",
    )
    return {
        "concurrency": web.CONCURRENCY,
        "workers": web.WORKERS,
        "seconds_per_run": cfg["web_seconds"],
        "rounds": rounds,
        "trivial": {k: med("trivial", k) for k in keys},
        "survey": {k: med("survey", k) for k in keys},
        **{name: {k: med(name, k) for k in keys} for name in web.FLOORS},
        "ratio_requests": statistics.median(r["ratio_requests"] for r in rounds),
        **{
            f"ratio_{name}": statistics.median(r[f"ratio_{name}"] for r in rounds)
            for name in web.FLOORS
        },
        "storage_ceiling": storage,
    }


def bench_web_exports(cfg: dict) -> dict:
    from benchmarks import exports_live

    n = cfg["db_rows"]
    print(
        f"respondents during exports: {exports_live.CLIENTS} clients, "
        f"{exports_live.EXPORTS} {exports_live.FORMAT} exports of {n:,} rows",
        flush=True,
    )
    r = exports_live.measure(n, cfg["web_seconds"])
    for k in ("baseline", "during_exports"):
        v = r[k]
        print(
            f"  {k}: {v['requests_per_s']:.0f} req/s, p50 {v['p50_ms']:.0f} ms, "
            f"p99 {v['p99_ms']:.0f} ms, errors {v['errors']}",
            flush=True,
        )
    print(
        f"  export worker CPU in the window {r['export_worker_cpu_s_in_window']} s "
        f"({r['export_worker_and_children_cpu_s_in_window']} s with its children); jobs "
        + ", ".join(f"{p['state_after']} {p['rows_done_after']}" for p in r["export_progress"]),
        flush=True,
    )
    return r


def machine() -> dict:
    import numpy

    cpu = ""
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    mem = ""
    try:
        mem = subprocess.run(["free", "-h"], capture_output=True, text=True).stdout
    except OSError:
        pass
    return {
        "nproc": os.cpu_count(),
        "cpu": cpu,
        "free": mem,
        "python": platform.python_version(),
        "numpy": numpy.__version__,
        "platform": platform.platform(),
        "loadavg_start": os.getloadavg(),
    }


def table(res: dict) -> str:
    rows = [("benchmark", "size", "median", "ratio", "target", "met")]

    def add(name, size, value, ratio, target, met):
        rows.append((name, size, value, ratio, target, met))

    a = res.get("analysis")
    if a:
        for n, size in a["sizes"].items():
            data_mb = size["data_mb"]
            for t, label in (
                ("analysis.floor", "numpy covariance (floor)"),
                ("analysis.trustmeter", "trustmeter analyze (DataFrame)"),
                ("analysis.cli", "trustmeter analyze (CLI on CSV)"),
                ("analysis.pingouin_fa_semopy", "pingouin+factor_analyzer+semopy"),
                ("analysis.R", "R psych+lavaan (inside R)"),
            ):
                r = size.get(t)
                if r is None:
                    continue
                if "error" in r:
                    add(label, n, "error", "", "", "")
                    continue
                wall = r["wall_median"]
                ratio = (
                    f"{r['ratio_to_baseline']:.1f}x (cpu {r['cpu_ratio_to_baseline']:.1f}x)"
                    if t != "analysis.floor"
                    else "1"
                )
                if t == "analysis.R" and r.get("extra"):  # R's own timing, without start-up
                    wall = r["extra"]["wall"]
                    ratio = f"{wall / size['analysis.floor']['wall_median']:.1f}x"
                target = met = ""
                if t == "analysis.trustmeter" and int(n) >= 100_000:
                    target = f"<= {TARGETS['analysis_vs_floor']:g}x"
                    met = "yes" if r["ratio_to_baseline"] <= TARGETS["analysis_vs_floor"] else "NO"
                add(label, n, f"{wall:.3f} s", ratio, target, met)
                if r.get("peak_mb") is not None:
                    pr = r["peak_mb"] / data_mb
                    ok = pr <= TARGETS["analysis_peak_vs_data"]
                    add(
                        f"  peak memory ({label.split(' (')[0]})",
                        n,
                        f"{r['peak_mb']:.0f} MiB",
                        f"{pr:.1f}x data",
                        f"<= {TARGETS['analysis_peak_vs_data']:g}x"
                        if t == "analysis.trustmeter"
                        else "",
                        ("yes" if ok else "NO") if t == "analysis.trustmeter" else "",
                    )
    ld = res.get("load")
    if ld:
        for t, label in (
            ("load.parquet", "Parquet -> matrix (pyarrow)"),
            ("load.matrix", "SQLite -> matrix (load_campaign_matrix)"),
            ("load.frame", "SQLite -> frame (load_campaign_frame)"),
        ):
            r = ld["tasks"].get(t, {})
            if "error" in r or not r:
                add(label, ld["n"], "error", "", "", "")
                continue
            ratio = r["ratio_to_baseline"]
            target = met = ""
            if t == "load.matrix":
                target = f"<= {TARGETS['load_vs_parquet']:g}x"
                met = "yes" if ratio <= TARGETS["load_vs_parquet"] else "NO"
            add(
                label,
                ld["n"],
                f"{r['wall_median']:.2f} s",
                f"{ratio:.1f}x (cpu {r['cpu_ratio_to_baseline']:.1f}x)",
                target,
                met,
            )
    ex = res.get("export")
    if ex and "tasks" in ex:
        for t, label in (
            ("export.sqlite3_cli", "sqlite3 -csv (same SELECT)"),
            ("export.chunk", "one chunk read + framed (memory baseline)"),
            ("export.careless", "careless screening (stale cache only)"),
            ("export.csv", "export csv"),
            ("export.sav", "export sav"),
            ("export.dta", "export dta"),
            ("export.parquet", "export parquet"),
            ("export.json", "export json"),
            ("export.xlsx", "export xlsx"),
            ("export.xlsx_readback", "xlsx read back (openpyxl read-only)"),
        ):
            r = ex["tasks"].get(t, {})
            if not r:  # not measured in this run (BENCH_EXPORT_ONCE)
                continue
            if "error" in r:
                add(label, ex["n"], "error", "", "", "")
                continue
            ratio = r["ratio_to_baseline"]
            target = met = ""
            if t == "export.csv":
                target = f"<= {TARGETS['export_csv_vs_sqlite3']:g}x"
                met = "yes" if ratio <= TARGETS["export_csv_vs_sqlite3"] else "NO"
            add(
                label,
                ex["n"],
                f"{r['wall_median']:.2f} s, {r['maxrss_mb']:.0f} MiB RSS",
                f"{ratio:.2f}x (cpu {r['cpu_ratio_to_baseline']:.2f}x)",
                target,
                met,
            )
            if r.get("peak_growth_mb") is not None and t not in ("export.sqlite3_cli",):
                pv = r.get("peak_vs_chunk")
                is_export = t.startswith("export.") and t.split(".")[1] in (
                    "csv",
                    "sav",
                    "dta",
                    "parquet",
                    "json",
                    "xlsx",
                )
                limit = TARGETS["export_peak_vs_chunk"]
                add(
                    "  peak RSS growth",
                    "",
                    f"{r['peak_growth_mb']:.0f} MiB",
                    f"{pv:.1f}x chunk" if pv is not None and t != "export.chunk" else "",
                    f"<= {limit:g}x chunk" if is_export else "",
                    ("yes" if pv <= limit else "NO") if is_export and pv is not None else "",
                )
    w = res.get("web")
    if w:
        t, s = w["trivial"], w["survey"]
        add(
            "trivial Flask endpoint (ceiling)",
            f"{w['concurrency']} clients",
            f"{t['requests_per_s']:.0f} req/s",
            "1",
            "",
            "",
        )
        ok = w["ratio_requests"] >= TARGETS["web_vs_framework"]
        add(
            "survey flow requests",
            f"{w['concurrency']} clients",
            f"{s['requests_per_s']:.0f} req/s",
            f"{w['ratio_requests']:.2f}x",
            f">= {TARGETS['web_vs_framework']:g}x",
            "yes" if ok else "NO",
        )
        add("survey complete responses", "", f"{s['completed_per_s']:.1f} /s", "", "", "")
        add(
            "survey latency p50 / p99",
            "",
            f"{s['p50_ms']:.0f} / {s['p99_ms']:.0f} ms",
            "",
            f"p99 < {TARGETS['web_p99_ms']:g} ms",
            "yes" if s["p99_ms"] < TARGETS["web_p99_ms"] else "NO",
        )
        add(
            "trivial latency p50 / p99", "", f"{t['p50_ms']:.0f} / {t['p99_ms']:.0f} ms", "", "", ""
        )
        for name, label in (
            ("floor", "floor: named stack, no product"),
            ("floor_prerendered", "floor, pages prerendered"),
            ("floor_bare", "floor: bare Werkzeug, prerendered"),
            ("floor_bare_no_fsync", "same, no fsync per commit"),
        ):
            f = w.get(name)
            if f:
                add(
                    label,
                    f"{w['concurrency']} clients",
                    f"{f['requests_per_s']:.0f} req/s, p99 {f['p99_ms']:.0f} ms",
                    f"{w[f'ratio_{name}']:.2f}x",
                    "",
                    "",
                )
        st = w["storage_ceiling"]
        if "per_response_responses_per_s" in st:
            add(
                "sqlite-utils insert (storage ceiling)",
                "1 txn/response",
                f"{st['per_response_responses_per_s']:.0f} resp/s",
                "",
                "",
                "",
            )
            add(
                "sqlite-utils insert_all (bulk)",
                "1 txn",
                f"{st['bulk_responses_per_s']:.0f} resp/s",
                "",
                "",
                "",
            )
    we = res.get("web_exports")
    if we:
        b, d = we["baseline"], we["during_exports"]
        add(
            "respondent latency p50 / p99, no export",
            f"{we['clients']} clients",
            f"{b['p50_ms']:.0f} / {b['p99_ms']:.0f} ms",
            "1",
            "",
            "",
        )
        add(
            f"same, {we['exports']} {we['format']} exports running",
            f"{we['n']:,} rows each",
            f"{d['p50_ms']:.0f} / {d['p99_ms']:.0f} ms",
            f"{we['p50_ratio']:.2f}x / {we['p99_ratio']:.2f}x",
            "",
            "",
        )
    widths = [max(len(str(r[i])) for r in rows) for i in range(6)]
    lines = [
        "  ".join(str(c).ljust(wd) for c, wd in zip(r, widths, strict=True)).rstrip() for r in rows
    ]
    lines.insert(1, "  ".join("-" * wd for wd in widths))
    return "\n".join(lines)


def main() -> dict:
    scale = os.environ.get("BENCH_SCALE", "full")
    if scale not in SCALES:
        raise SystemExit(f"BENCH_SCALE must be one of {', '.join(SCALES)}, not {scale!r}")
    cfg = SCALES[scale]
    only = [
        s
        for s in os.environ.get("BENCH_ONLY", "analysis,load,export,web,web_exports").split(",")
        if s
    ]
    out_path = Path(os.environ.get("BENCH_OUT") or HERE / "results.json")
    res: dict = {
        "scale": scale,
        "started": datetime.now(UTC).isoformat(timespec="seconds"),
        "machine": machine(),
        "targets": TARGETS,
    }
    if "BENCH_ONLY" in os.environ and out_path.exists():  # rerun of some sections: update
        old = json.loads(out_path.read_text(encoding="utf-8"))
        if old.get("scale") == scale:
            res = {**old, "targets": TARGETS}
            res.setdefault("reruns", []).append({"sections": only, **machine()})
    start_load = os.getloadavg()
    t0 = time.perf_counter()
    for name, fn in (
        ("analysis", bench_analysis),
        ("load", bench_load),
        ("export", bench_export),
        ("web", bench_web),
        ("web_exports", bench_web_exports),
    ):
        if name in only:
            res[name] = fn(cfg)
            res["machine"][f"loadavg_after_{name}"] = os.getloadavg()
    res["seconds"] = time.perf_counter() - t0
    res["table"] = table(res)
    out_path.write_text(json.dumps(res, indent=2, default=str) + "\n", encoding="utf-8")
    print()
    print(res["table"])
    # this run's own start (a BENCH_ONLY rerun keeps the first run's machine record)
    print(f"\nload average at start {start_load}; written {out_path}")
    return res


if __name__ == "__main__":
    main()
