"""Largest relative differences between trustmeter's CFA (ML, MLR, FIML, FIML + MLR) and
cfa_robust_reference.json (lavaan 0.6-14, semTools 0.5-6), for README.md's table.

Run from the repository root: ``.venv/bin/python tests/reference/cfa_robust_differences.py``
(a few minutes: it fits the 16 models of tests/test_cfa_robust.py).
"""

from __future__ import annotations

import sys

import numpy as np

sys.path.insert(0, ".")
import tests.analysis.test_cfa_robust as T  # noqa: E402

GROUP = {"ml": "ML listwise", "mlr": "MLR listwise", "fiml": "FIML ML", "fiml_mlr": "FIML MLR"}
worst: dict[str, tuple[float, str]] = {}


def upd(key: str, v: float, where: str) -> None:
    if v is not None and np.isfinite(v) and v > worst.get(key, (-1.0, ""))[0]:
        worst[key] = (v, where)


def rel(a: float, b: float) -> float:
    return abs(a - b) / max(abs(b), 1e-12)


def main() -> None:
    for case in T.DATA:
        for mode in T.MODES:
            res, r = T.fitted(case, mode), T.R[case][mode]
            w, grp, fit = f"{case}/{mode}", GROUP[mode], r["fit"]
            for k in (
                "chisq",
                "cfi",
                "tli",
                "rmsea",
                "loglik",
                "unrestricted_loglik",
                "aic",
                "bic",
                "baseline_chisq",
            ):
                upd(
                    f"{grp}: chisq/cfi/tli/rmsea/logl/aic/bic",
                    rel(getattr(res, k), fit[T.FIT[k]]),
                    w,
                )
            upd(f"{grp}: srmr", rel(res.srmr, fit["srmr"]), w)
            if res.estimator == "mlr":
                for k in ("chisq_scaled", "scaling_factor", "baseline_chisq_scaled"):
                    upd(
                        f"{grp}: scaled chisq, scaling factor",
                        rel(getattr(res, k), fit[T.SCALED[k]]),
                        w,
                    )
                for k in ("cfi_scaled", "tli_scaled", "rmsea_scaled"):
                    upd(f"{grp}: cfi/tli/rmsea scaled", rel(getattr(res, k), fit[T.SCALED[k]]), w)

            if mode != "ml":
                for k, rk in T.ROBUST.items():
                    upd(f"{grp}: cfi/tli/rmsea robust", rel(getattr(res, k), fit[rk]), w)
            th = {(x["lhs"], x["op"], x["rhs"]): x for x in r["parameters"]}
            for row in res.parameters:
                t = th[(row["lhs"], row["op"], row["rhs"])]
                if t["se"]:
                    upd(f"{grp}: SE", rel(row["se"], t["se"]), w)
                    upd(f"{grp}: z", rel(row["z"], t["z"]), w)
                    upd("estimates (all modes)", rel(row["est"], t["est"]), w)
                    upd("std.all (all modes)", rel(row["std_all"], t["std.all"]), w)
            for it, v in r["r2"].items():
                upd("R2 (all modes)", rel(res.r2[it], v), w)
            for f, v in r["compRelSEM"].items():
                upd("compRelSEM (all modes)", rel(res.composite_reliability[f], v), w)
            for f, v in r["AVE"].items():
                upd("AVE (all modes)", rel(res.ave[f], v), w)
            mi = {}
            for x in r["modindices"]:
                mi[(x["lhs"], x["op"], x["rhs"])] = x
                if x["op"] == "~~":
                    mi[(x["rhs"], x["op"], x["lhs"])] = x
            for row in res.modification_indices:
                t = mi[(row["lhs"], row["op"], row["rhs"])]
                if t["mi"] >= 1:
                    upd("MI (rows with MI >= 1)", rel(row["mi"], t["mi"]), w)
                    upd("EPC (rows with MI >= 1)", rel(row["epc"], t["epc"]), w)
    for k in sorted(worst):
        print(f"{k:48s} {worst[k][0]:.1e}  {worst[k][1]}")


if __name__ == "__main__":
    main()
