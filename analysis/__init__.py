"""trustmeter's analysis package: pure functions over DataFrames, arrays and Moments.

Every function returns one frozen result object with ``to_dict()`` (JSON-safe) and
``summary()`` (text). The main entry points and their modules (import them from the
module: several functions share their module's name, and ``import analysis`` stays
cheap)::

    reliability, reliability_by_dimension     analysis.reliability
    kmo, bartlett_sphericity                  analysis.factorability
    parallel_analysis                         analysis.parallel
    efa, tucker_congruence                    analysis.efa
    cfa                                       analysis.cfa
    measurement_invariance                    analysis.invariance
    score, nps, pct_trusting                  analysis.scores
    group_table, welch_anova, pairwise_welch, period_change   analysis.compare
    careless                                  analysis.careless
    analyze                                   analysis.report (what ``trustmeter analyze`` runs)
    Moments                                   analysis.moments (mergeable sufficient statistics)
"""
