"""One result convention across the analysis package (issue 8).

Every public result class of :mod:`analysis` derives from :class:`analysis.Result`,
is a frozen dataclass, and gives a JSON-safe ``to_dict()`` and a readable
``summary()``. The public exceptions are importable from :mod:`analysis`, whose
import stays cheap.
"""

from __future__ import annotations

import subprocess
import sys


def test_public_exceptions_from_the_package():
    import analysis
    from analysis import AnalysisError, Result
    from analysis._result import AnalysisError as Private
    from analysis._result import Result as PrivateResult

    assert AnalysisError is Private and Result is PrivateResult
    assert issubclass(AnalysisError, ValueError)
    assert set(analysis.__all__) >= {"AnalysisError", "Result"}


def test_import_analysis_is_cheap():
    code = ("import sys, analysis; "
            "heavy = sorted(m for m in sys.modules if m.split('.')[0] in "
            "('numpy', 'pandas', 'scipy', 'sklearn', 'factor_analyzer', 'survey', 'flask')); "
            "print(','.join(heavy))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         check=True)
    assert out.stdout.strip() == ""
