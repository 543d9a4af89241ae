"""Plain-language findings of the periodic report, produced from its numbers.

* :func:`priority` - the priority matrix: each dimension's importance (its LMG share
  of the explained variance of a key outcome, :mod:`analysis.drivers`) against its
  current score; "fix first" are the dimensions more important than average (share
  above ``1/p`` of R²) whose score is below the average of the dimension scores.
* :func:`key_findings` - three to five sentences for a manager: the Trust Index and
  its change (significant or not), % trusting with its definition, what drives the
  key outcome and what scores lowest (dimensions within ``NEAR_PP`` percentage points
  of the largest share are named together as driving it about equally), the largest
  change in reported incidents, and
  the brand ranking with whether brand comparisons are supported.

Every sentence is built from the figures of the report; a figure that is suppressed
or missing leaves its sentence out (or says so).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from ._result import fmt, fmt_p

NEAR_PP = 2.0  # shares within this many points of the largest count as "about equal"

QUADRANTS = {
    (True, True): "fix first",  # important, weak
    (True, False): "maintain",  # important, strong
    (False, True): "monitor",  # less important, weak
    (False, False): "lower priority",  # less important, strong
}


def _ok(x: Any) -> bool:
    return isinstance(x, Mapping) and not x.get("suppressed") and not x.get("error")


def priority(
    drivers: Mapping[str, Any] | None,
    scores: Mapping[str, Any],
    names: Mapping[str, str],
    outcome_names: Mapping[str, str],
    outcome: str | None = None,
) -> dict[str, Any] | None:
    """Importance (% of R² explained, LMG) against the current score, per dimension.

    ``drivers`` is the JSON form (outcome id -> ``{"overall": D, ...}``); ``scores``
    maps a dimension to its figure (``{"mean", ...}`` or suppressed). ``outcome``
    defaults to the first outcome whose overall drivers are estimated. ``None`` when
    there is nothing to compare.
    """
    if not drivers:
        return None
    cands = [outcome] if outcome else list(drivers)
    key = next((o for o in cands if o in drivers and _ok(drivers[o]["overall"])), None)
    if key is None:
        return None
    d = drivers[key]["overall"]
    dims = [k for k in d["lmg"] if k in scores]
    if not dims or not all(_ok(scores[k]) for k in dims) or not d["r2"] or d["r2"] <= 0:
        return None
    imp = {k: 100 * d["lmg"][k] / d["r2"] for k in dims}
    lev = {k: scores[k]["mean"] for k in dims}
    imp_cut = 100 / len(dims)
    lev_cut = sum(lev.values()) / len(dims)
    rows = {
        k: {
            "name": names.get(k, k),
            "importance_pct": imp[k],
            "score": lev[k],
            "lmg": d["lmg"][k],
            "quadrant": QUADRANTS[(imp[k] > imp_cut, lev[k] < lev_cut)],
        }
        for k in dims
    }
    fix = sorted((k for k in dims if rows[k]["quadrant"] == "fix first"), key=lambda k: -imp[k])
    return {
        "outcome": key,
        "outcome_name": outcome_names.get(key, key),
        "r2": d["r2"],
        "n": d["n"],
        "importance_cut": imp_cut,
        "score_cut": lev_cut,
        "dimensions": rows,
        "fix_first": fix,
        "most_important": max(dims, key=lambda k: imp[k]),
        "lowest": min(dims, key=lambda k: lev[k]),
        "definition": "importance: the dimension's LMG share of the R² of "
        f"{outcome_names.get(key, key)} on the dimension scores, in % of "
        "R²; 'fix first': importance above the average share (100% / "
        f"{len(dims)}) and a score below the average dimension score",
    }


def fix_first_text(pr: Mapping[str, Any] | None) -> str:
    """``"Fix first: Honesty & transparency"`` (or why nothing is called out)."""
    if not pr:
        return "No priority: the drivers or the dimension scores are not available."
    if not pr["fix_first"]:
        return (
            "Fix first: none; no dimension is both more important than average and "
            "below the average score."
        )
    return "Fix first: " + ", ".join(pr["dimensions"][k]["name"] for k in pr["fix_first"])


def _incident_sentence(
    inc: Mapping[str, Any] | None, focus: str, previous: str | None
) -> str | None:
    if not inc:
        return None
    best = None
    for iid in inc["items"]:
        cur = inc["rates"][iid].get(focus)
        if not _ok(cur):
            continue
        prev = inc["rates"][iid].get(previous) if previous else None
        if _ok(prev):
            change = cur["pct"] - prev["pct"]
            if best is None or abs(change) > abs(best[1]):
                best = (iid, change, prev["pct"], cur["pct"])
        elif previous is None and (best is None or cur["pct"] > best[3]):
            best = (iid, None, None, cur["pct"])
    if best is None:
        return None
    iid, change, a, b = best
    label = inc["labels"][iid][0].lower() + inc["labels"][iid][1:]
    if change is None:
        return (
            f"The most reported incident in {focus} is \u201c{label}\u201d "
            f"({fmt(b, 1)}% of customers)."
        )
    if abs(change) < 0.05:
        return (
            f"Incident reports barely changed since {previous}; the largest change, "
            f"\u201c{label}\u201d, is {fmt(b, 1)}% of customers."
        )
    if a > 0 and b / a >= 1.9:
        verb = "doubled" if b / a < 2.1 else f"rose {b / a:.1f}-fold"
    elif a > 0 and b / a <= 0.55:
        verb = "halved" if b / a > 0.45 else "fell"
    else:
        verb = "rose" if change > 0 else "fell"
    return (
        f"Reports of \u201c{label}\u201d {verb} since {previous} "
        f"({fmt(a, 1)}% to {fmt(b, 1)}% of customers)."
    )


def key_findings(r: Any) -> tuple[str, ...]:
    """Three to five sentences from the figures of a :class:`~analysis.periodic.PeriodicReport`."""
    out: list[str] = []
    k = r.settings["min_segment_n"]
    fig = r.index[r.focus]
    ti = fig["trust_index"]
    if not _ok(ti):
        out.append(f"Too few responses in {r.focus} (fewer than {k}) to report the Trust Index.")
    else:
        c = (r.change or {}).get("trust_index")
        level = f"{fmt(ti['mean'], 1)} in {r.focus}"
        n = f"n = {ti['n']}"
        if c and c["p"] < 0.05:
            word = "rose" if c["diff"] > 0 else "fell"
            out.append(
                f"Trust {word} {fmt(abs(c['diff']), 1)} points since {c['a']}, to "
                f"{level} (significant, p {fmt_p(c['p'])}; {n})."
            )
        elif c:
            out.append(
                f"Trust is {level} ({n}): no significant change since {c['a']} "
                f"({c['diff']:+.1f} points, p {fmt_p(c['p'])})."
            )
        else:
            out.append(
                f"The Trust Index is {level} ({n}; 0-100); there is no earlier period "
                "to compare with."
            )
    pt = fig.get("pct_trusting")
    if _ok(pt):
        lo, hi = r.scale
        out.append(
            f"{fmt(pt['pct'], 0)}% of customers trust the company (\u201c% trusting\u201d: "
            f"a mean dimension score of {hi - 1} or more on the {lo}-{hi} scale)."
        )
    pr = r.priority
    if pr:
        top, low = pr["dimensions"][pr["most_important"]], pr["dimensions"][pr["lowest"]]
        on = f"on the {r.scale[0]}-{r.scale[1]} scale"
        outcome = pr["outcome_name"].lower()
        near = [
            k
            for k in sorted(pr["dimensions"], key=lambda k: -pr["dimensions"][k]["importance_pct"])
            if pr["dimensions"][k]["importance_pct"] >= top["importance_pct"] - NEAR_PP
        ]
        if len(near) > 1:  # no single top driver: say so rather than pick one
            lo_pct = min(pr["dimensions"][k]["importance_pct"] for k in near)
            names = [pr["dimensions"][k]["name"] for k in near]
            out.append(
                f"{', '.join(names[:-1])} and {names[-1]} drive {outcome} about "
                f"equally ({fmt(lo_pct, 0)}-{fmt(top['importance_pct'], 0)}% of what "
                f"the dimensions explain each); {low['name']} scores lowest "
                f"({fmt(low['score'], 2)} {on}). {fix_first_text(pr)}."
            )
        elif pr["most_important"] == pr["lowest"]:
            out.append(
                f"{top['name']} drives {outcome} most ({fmt(top['importance_pct'], 0)}% "
                f"of what the dimensions explain) and scores lowest "
                f"({fmt(low['score'], 2)} {on}): fix it first."
            )
        else:
            fix = fix_first_text(pr)
            out.append(
                f"{top['name']} drives {outcome} most ({fmt(top['importance_pct'], 0)}% "
                f"of what the dimensions explain); {low['name']} scores lowest "
                f"({fmt(low['score'], 2)} {on}). {fix}."
            )
    s = _incident_sentence(r.incidents, r.focus, r.previous)
    if s:
        out.append(s)
    b = r.benchmark
    if b and b.get("rank"):
        col = b["column"]
        ranked = sorted(b["rank"], key=lambda n: b["rank"][n]["rank"])
        first = ranked[0]
        ci = b["rank"][first].get("rank_ci95")
        unc = f"rank 1, 95% interval {ci[0]}-{ci[1]}" if ci else "rank 1"
        inv = b.get("invariance") or {}
        tail = (
            "the invariance check supports comparing them"
            if inv.get("supported")
            else "the invariance check does not support comparing their levels, so read the "
            "ranking with care"
            if inv.get("supported") is False
            else "the invariance check could not be run"
        )
        out.append(
            f"Among the {len(ranked)} {col} values compared, {first} scores highest "
            f"({unc}); {tail}."
        )
    return tuple(out[:5])


def outcome_names(blocks: Sequence[Any], lang: str = "en") -> dict[str, str]:
    return {b.id: (b.name.get(lang) or b.name.get("en") or b.id) for b in blocks}
