"""Storage: the only code that runs SQL.

``db`` opens SQLite (WAL, busy timeout, foreign keys) and holds transactions,
``migrations`` the numbered schema, ``store`` campaigns, invitations, responses and the
bulk loaders, ``users``/``audit``/``sessions`` the researcher side, ``ratelimit`` the
shared counters and ``packing`` the one format in which bulk reads carry answers.
"""
