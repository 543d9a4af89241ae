"""The analysis package against R (psych 2.2.9) on tests/reference/trust_synthetic.csv.

Every expected number comes from tests/reference/trust_synthetic_reference.json,
written by tests/reference/make_reference.R; the R call that produced it is quoted
next to each check. R's conventions: reverse keys as 8 - x, reliability on the rows
complete for each dimension, everything else on the rows complete across the 20
trust items, careless respondents kept.
"""

from __future__ import annotations

import numpy as np
import pytest
from numpy.testing import assert_allclose
from reference_data import DIMS, ITEMS, instrument, r_results, raw_data, reverse_keyed
from scipy.optimize import linear_sum_assignment

from analysis.compare import group_table, welch_anova
from analysis.efa import efa, tucker_congruence
from analysis.factorability import bartlett_sphericity, kmo
from analysis.moments import Moments
from analysis.reliability import reliability_by_dimension
from analysis.scores import score


@pytest.fixture(scope="module")
def ref():
    return r_results()


@pytest.fixture(scope="module")
def inst():
    return instrument()


@pytest.fixture(scope="module")
def data():
    return raw_data()


@pytest.fixture(scope="module")
def scored(data, inst):
    """R: x <- d[, items]; for (r in reversed) x[[r]] <- 8 - x[[r]]"""
    return reverse_keyed(data[ITEMS].astype(float), inst.reversed_item_ids)


@pytest.fixture(scope="module")
def complete(scored):
    """R: cc <- na.omit(x)"""
    return Moments.from_frame(scored, ITEMS)


@pytest.fixture(scope="module")
def rel(data, inst):
    return reliability_by_dimension(data, inst)


def test_reference_instrument_matches_the_r_script(inst):
    assert [b.id for b in inst.dimensions] == DIMS
    assert list(inst.dimension_item_ids) == ITEMS
    assert set(inst.reversed_item_ids) == {"REL4", "HON3", "COM4", "EMP3", "CON4"}
    assert (inst.scale.min, inst.scale.max) == (1, 7)


@pytest.mark.parametrize("dim", DIMS)
def test_reliability_matches_psych_alpha(rel, ref, dim):
    r, R = rel.dimensions[dim], ref["reliability"][dim]
    # R: s <- x[, paste0(p, 1:4)]; cc <- na.omit(s); nrow(cc)
    assert r.n == R["n_complete"]
    # R: a <- psych::alpha(cc, check.keys = FALSE); a$total$raw_alpha
    assert_allclose(r.alpha, R["raw_alpha"], rtol=1e-6)
    # R: a$total$std.alpha
    assert_allclose(r.std_alpha, R["std_alpha"], rtol=1e-6)
    # R: a$total$average_r
    assert_allclose(r.average_r, R["average_r"], rtol=1e-6)
    # R: alpha.ci(a$total$raw_alpha, nrow(cc), n.var = 4, digits = 8)[c(1, 3)]
    assert_allclose(r.alpha_ci95, R["feldt_ci95"], rtol=1e-6)
    # R: unname(a$item.stats$r.drop)
    assert_allclose([i.r_drop for i in r.items], R["r_drop"], rtol=1e-6)
    # R: unname(a$alpha.drop$raw_alpha)
    assert_allclose([i.alpha_if_deleted for i in r.items], R["alpha_if_deleted"], rtol=1e-6)


@pytest.mark.parametrize("dim", DIMS)
def test_omega_total_matches_psych_fa_ml(rel, ref, dim):
    # R: f1 <- fa(cc, nfactors = 1, fm = "ml"); l <- as.numeric(f1$loadings);
    #    u <- f1$uniquenesses; sum(l)^2 / (sum(l)^2 + sum(u))
    assert_allclose(
        rel.dimensions[dim].omega_total, ref["reliability"][dim]["omega_total"], rtol=1e-3
    )


def test_kmo_matches_psych(complete, ref):
    k = kmo(complete)
    # R: cc <- na.omit(x); nrow(cc)
    assert k.n == ref["n_complete_all"]
    # R: k <- KMO(cc); k$MSA
    assert_allclose(k.overall, ref["kmo"]["overall"], rtol=1e-6)
    # R: k$MSAi
    assert_allclose([k.items[i] for i in ITEMS], [ref["kmo"]["items"][i] for i in ITEMS], rtol=1e-6)


def test_bartlett_matches_psych(complete, ref):
    b = bartlett_sphericity(complete)
    # R: b <- cortest.bartlett(cor(cc), n = nrow(cc)); b$chisq; b$df; b$p.value
    assert_allclose(b.chisq, ref["bartlett"]["chisq"], rtol=1e-6)
    assert b.df == ref["bartlett"]["df"]
    assert_allclose(b.p, ref["bartlett"]["p"], atol=1e-300)


def _match(ours: np.ndarray, theirs: np.ndarray):
    """Column permutation and signs of R's loadings that best match ours."""
    c = tucker_congruence(ours, theirs)
    rows, cols = linear_sum_assignment(-np.abs(c))
    perm = cols[np.argsort(rows)]
    signs = np.sign(c[np.arange(c.shape[0]), perm])
    return perm, signs


def test_efa_minres_oblimin_matches_psych(complete, ref):
    res = efa(
        complete,
        5,
        extraction="minres",
        rotation="oblimin",
        structure={d: [f"{d}{j}" for j in range(1, 5)] for d in DIMS},
    )
    assert res.n == ref["n_complete_all"]
    ours = np.array([res.loadings[i] for i in ITEMS])
    # R: e <- fa(cc, nfactors = 5, rotate = "oblimin", fm = "minres"); unclass(e$loadings)
    assert ref["efa_minres_oblimin"]["items"] == ITEMS
    theirs = np.array(ref["efa_minres_oblimin"]["loadings"])
    perm, signs = _match(ours, theirs)
    aligned = theirs[:, perm] * signs
    congruence = np.diag(tucker_congruence(ours, aligned))
    assert np.all(congruence >= 0.999), congruence
    # factor_analyzer agrees with psych to ~1e-4 (measured max |diff| 2.2e-5)
    assert_allclose(ours, aligned, atol=1e-4)
    # R: unclass(e$Phi), permuted and sign-flipped like the loadings
    phi_r = np.array(ref["efa_minres_oblimin"]["phi"])[np.ix_(perm, perm)] * np.outer(signs, signs)
    assert_allclose(np.array(res.factor_correlations), phi_r, atol=1e-4)


def test_efa_ml_varimax_matches_psych(complete, ref):
    res = efa(
        complete,
        5,
        extraction="ml",
        rotation="varimax",
        structure={d: [f"{d}{j}" for j in range(1, 5)] for d in DIMS},
    )
    ours = np.array([res.loadings[i] for i in ITEMS])
    # R: e2 <- fa(cc, nfactors = 5, rotate = "varimax", fm = "ml"); unclass(e2$loadings)
    theirs = np.array(ref["efa_ml_varimax"]["loadings"])
    perm, signs = _match(ours, theirs)
    aligned = theirs[:, perm] * signs
    congruence = np.diag(tucker_congruence(ours, aligned))
    assert np.all(congruence >= 0.999), congruence
    assert_allclose(ours, aligned, atol=1e-4)
    # R: unname(e2$uniquenesses)
    assert_allclose(
        [res.uniquenesses[i] for i in ITEMS], ref["efa_ml_varimax"]["uniquenesses"], atol=1e-4
    )
    assert res.factor_correlations is None


def test_efa_alignment_is_deterministic(complete):
    structure = {d: [f"{d}{j}" for j in range(1, 5)] for d in DIMS}
    a = efa(complete, 5, extraction="ml", rotation="varimax", structure=structure)
    assert a.matched_dimension == tuple(DIMS)
    lam = np.array([a.loadings[i] for i in ITEMS])
    assert np.all(lam.sum(axis=0) > 0)
    # each factor has its highest loadings on its matched dimension's items
    for j, d in enumerate(DIMS):
        top = {ITEMS[i] for i in np.argsort(-lam[:, j])[:3]}
        assert all(t.startswith(d) for t in top)


@pytest.fixture(scope="module")
def trust_index(data, inst):
    # R: score <- sapply(dims, function(p) { s <- x[, paste0(p, 1:4)];
    #      m <- rowMeans(s, na.rm = TRUE); m[rowSums(!is.na(s)) < 3] <- NA; m })
    #    ti <- (rowMeans(score) - 1) / 6 * 100
    return score(data, inst).frame["trust_index"]


def test_trust_index_by_period_matches_t_test(data, trust_index, ref):
    tab = group_table(trust_index, data["period"], min_n=30)
    R = ref["trust_index_by_period"]
    assert [g.name for g in tab.groups] == sorted(R)
    for g in tab.groups:
        # R: v <- v[!is.na(v)]; tt <- t.test(v); list(n = length(v), mean = mean(v),
        #    ci95 = unname(tt$conf.int[1:2]))
        assert g.n == R[g.name]["n"]
        assert_allclose(g.mean, R[g.name]["mean"], rtol=1e-6)
        assert_allclose(g.ci95, R[g.name]["ci95"], rtol=1e-6)


def test_welch_anova_matches_oneway_test(data, trust_index, ref):
    w = welch_anova(trust_index, data["segment"], min_n=30)
    R = ref["trust_index_by_segment_welch"]
    # R: w <- oneway.test(ti[ok] ~ seg[ok]); w$statistic; w$parameter; w$p.value
    assert_allclose(w.F, R["F"], rtol=1e-6)
    assert_allclose(w.df, R["df"], rtol=1e-6)
    assert_allclose(w.p, R["p"], rtol=1e-6)
    # R: tapply(ti[ok], seg[ok], mean); tapply(ti[ok], seg[ok], length)
    assert_allclose(
        [w.means[g] for g in sorted(R["means"])],
        [R["means"][g] for g in sorted(R["means"])],
        rtol=1e-6,
    )
    assert {g: w.n[g] for g in R["n"]} == R["n"]
