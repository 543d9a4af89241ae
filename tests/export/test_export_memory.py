"""Streamed exports run in constant memory: the peak RSS an export adds (measured in a
fresh process, Linux's peak-RSS mark reset just before the call) is about the same for
4x the rows. A positive control runs the same measurement with every chunk kept (as a
writer holding all rows would), and the check fails on it: it can tell the two apart.

``make bench`` measures the same at 1,000,000 rows (benchmarks/README.md).
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from survey import demo
from survey.storage.db import init_db, open_db

ROOT = Path(__file__).resolve().parents[2]
SMALL, LARGE, CHUNK = 10_000, 40_000, 2_500

MEASURE = r"""
import json, sys
from pathlib import Path
from survey.export import core, export_campaign
from survey.export.core import careless_ids
from survey.storage import exports
from survey.storage.db import open_db

db, slug, fmt, out, chunk, hold = sys.argv[1:7]
kept = []
if hold == "1":  # the positive control: every chunk's rows and frame kept to the end
    build = core._chunk_frame
    core._chunk_frame = lambda rows, *a: kept.append((rows, build(rows, *a))) or kept[-1][1]

def status(field):
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1]) / 1024

# imports and lazy imports of the writers, on a small campaign; the careless screening
# of the measured campaign (cached by data version, as after any earlier export)
export_campaign(db, "warm", fmt, out + ".warm", chunk_rows=int(chunk))
kept.clear()
with open_db(db) as conn:
    careless_ids(conn, exports.select(conn, [slug], None))
before = status("VmRSS")
Path("/proc/self/clear_refs").write_text("5")  # reset the peak-RSS mark (VmHWM)
r = export_campaign(db, slug, fmt, out, chunk_rows=int(chunk))
print(json.dumps({"rows": r.rows, "growth_mb": status("VmHWM") - before,
                  "constant_memory": r.constant_memory}))
"""


@pytest.fixture(scope="module")
def sizes(tmp_path_factory):
    if not Path("/proc/self/clear_refs").exists():
        pytest.skip("needs Linux's /proc/self/clear_refs to reset the peak RSS")
    path = tmp_path_factory.mktemp("memory") / "m.db"
    with open_db(path) as db:
        init_db(db)
        demo.fill_demo(db, "warm", 300, seed=1)
        demo.fill_demo(db, "small", SMALL, seed=2)
        demo.fill_demo(db, "large", LARGE, seed=3)
    return path


def _growth(db: Path, slug: str, fmt: str, tmp: Path, hold: bool = False) -> dict:
    run = subprocess.run(
        [
            sys.executable,
            "-c",
            MEASURE,
            str(db),
            slug,
            fmt,
            str(tmp / f"{slug}.{fmt}"),
            str(CHUNK),
            "1" if hold else "0",
        ],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert run.returncode == 0, run.stderr[-2000:]
    return json.loads(run.stdout.strip().splitlines()[-1])


def _constant(small: dict, large: dict) -> bool:
    # 4x the rows: a writer holding every row needs about 4x the memory; allow 25% and
    # 8 MiB of allocator noise
    return large["growth_mb"] <= 1.25 * small["growth_mb"] + 8


@pytest.mark.parametrize("fmt", ["csv", "parquet", "json", "sav", "dta"])
def test_streamed_formats_use_the_same_memory_for_4x_the_rows(sizes, tmp_path, fmt):
    small = _growth(sizes, "small", fmt, tmp_path)
    large = _growth(sizes, "large", fmt, tmp_path)
    assert small["rows"] == SMALL and large["rows"] == LARGE and large["constant_memory"]
    assert _constant(small, large), (small, large)


def test_the_check_fails_when_every_chunk_is_kept(sizes, tmp_path):
    small = _growth(sizes, "small", "csv", tmp_path, hold=True)
    large = _growth(sizes, "large", "csv", tmp_path, hold=True)
    assert large["rows"] == LARGE
    assert not _constant(small, large), (small, large)


POOL = """
import sys
import pyarrow as pa
from survey.export.core import export_campaign
export_campaign(sys.argv[1], "warm", "parquet", sys.argv[2])
print(pa.default_memory_pool().backend_name)
"""


@pytest.mark.parametrize("env_pool", [None, "mimalloc"])
def test_exports_use_the_system_allocator_unless_told(sizes, tmp_path, env_pool):
    """Arrow's default allocator keeps freed chunks' pages: exports switch to the C
    library's (parquet's peak at 1M rows 132 -> 100 MiB); ARROW_DEFAULT_MEMORY_POOL wins."""
    import os

    env = {k: v for k, v in os.environ.items() if k != "ARROW_DEFAULT_MEMORY_POOL"}
    if env_pool:
        env["ARROW_DEFAULT_MEMORY_POOL"] = env_pool
    run = subprocess.run(
        [sys.executable, "-c", POOL, str(sizes), str(tmp_path / "w.parquet")],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert run.returncode == 0, run.stderr[-2000:]
    assert run.stdout.split()[-1] == (env_pool or "system")
