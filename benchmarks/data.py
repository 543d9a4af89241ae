"""Cached benchmark inputs (built once per size, reused by every measurement).

Files live in ``$BENCH_CACHE`` (default ``$TMPDIR/trustmeter-bench``), never in the
checkout: ``items-N.npy`` (the analysis matrix), ``frame-N.csv`` (for the CLI),
``items-N.f64`` (raw float64 for R), ``bench-N.db`` (a campaign of N complete
responses to ``bench-instrument.yaml``) and ``bench-N.parquet`` (that campaign's
item matrix, for the load comparison).
"""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

import numpy as np

from . import synth

SLUG = "bench"


def cache_dir() -> Path:
    d = Path(os.environ.get("BENCH_CACHE") or Path(tempfile.gettempdir()) / "trustmeter-bench")
    d.mkdir(parents=True, exist_ok=True)
    return d


def _atomic(path: Path, write) -> Path:
    tmp = path.with_name(path.name + f".tmp{os.getpid()}")
    write(tmp)
    os.replace(tmp, path)
    return path


def items_path(n: int) -> Path:
    p = cache_dir() / f"items-{n}.npy"
    if not p.exists():
        _atomic(p, lambda t: np.save(open(t, "wb"), synth.item_matrix(n, seed=0)))
    return p


def raw_path(n: int) -> Path:
    """The matrix as raw little-endian float64, row-major (NaN = missing): R's readBin."""
    p = cache_dir() / f"items-{n}.f64"
    if not p.exists():
        _atomic(p, lambda t: np.load(items_path(n)).astype("<f8").tofile(t))
    return p


def load_frame(n: int):
    """The analysis DataFrame: synthetic metadata plus the cached item matrix."""
    import pandas as pd

    x = np.load(items_path(n))
    rng = np.random.default_rng(1)
    cols = {
        "response_id": np.arange(1, n + 1, dtype=np.int64),
        "period": pd.Categorical.from_codes(rng.integers(0, len(synth.PERIODS), n), synth.PERIODS),
        "segment": pd.Categorical.from_codes(
            rng.integers(0, len(synth.SEGMENTS), n), synth.SEGMENTS
        ),
        "duration_s": rng.lognormal(np.log(300), 0.4, n),
    }
    for j, item in enumerate(synth.ITEMS):
        cols[item] = x[:, j]
    del x
    return pd.DataFrame(cols, copy=False)


def csv_path(n: int) -> Path:
    p = cache_dir() / f"frame-{n}.csv"
    if not p.exists():
        _atomic(p, lambda t: load_frame(n).to_csv(t, index=False))
    return p


def db_path(n: int) -> Path:
    """A database with one campaign of ``n`` complete responses (plus ~10% abandoned)."""
    p = cache_dir() / f"bench-{n}.db"
    if not p.exists():

        def build(tmp: Path) -> None:
            from survey.demo import fill_demo
            from survey.storage.db import init_db, open_db

            with open_db(tmp) as db:
                init_db(db)
                inst = synth.instrument()
                fill_demo(db, SLUG, n, seed=0, instrument=inst, periods=list(synth.PERIODS))
                db.execute("PRAGMA wal_checkpoint(TRUNCATE)")
            for suffix in ("-wal", "-shm"):
                Path(str(tmp) + suffix).unlink(missing_ok=True)

        _atomic(p, build)
    else:  # built by an older checkout: bring its schema up to date (no-op when it is)
        from survey.storage import migrations
        from survey.storage.db import open_db

        with open_db(p) as db:
            migrations.apply(db)
    return p


def parquet_path(n: int) -> Path:
    """The campaign's item matrix (float64 columns, NaN = missing) as Parquet."""
    p = cache_dir() / f"bench-{n}.parquet"
    if not p.exists():

        def build(tmp: Path) -> None:
            import pyarrow as pa
            import pyarrow.parquet as pq

            from survey.storage.db import open_db
            from survey.storage.store import load_campaign_frame

            with open_db(db_path(n)) as db:
                df, inst = load_campaign_frame(db, SLUG)
            table = pa.table({i: df[i].to_numpy() for i in inst.item_ids})
            pq.write_table(table, tmp)

        _atomic(p, build)
    return p
