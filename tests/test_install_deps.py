"""Runtime installs do not pull in the test tools (issue 14): selenium, pytest,
hypothesis and ruff are only in the ``test`` extra."""

from __future__ import annotations

import re
import tomllib
from pathlib import Path

TEST_TOOLS = {"selenium", "pytest", "hypothesis", "ruff"}


def _name(requirement: str) -> str:
    return re.split(r"[\s<>=!~;\[]", requirement.strip(), maxsplit=1)[0].lower()


def test_test_tools_are_not_runtime_dependencies():
    project = tomllib.loads(
        (Path(__file__).resolve().parents[1] / "pyproject.toml").read_text(encoding="utf-8")
    )["project"]
    runtime = {_name(r) for r in project["dependencies"]}
    assert runtime, "no runtime dependencies parsed"
    assert not runtime & TEST_TOOLS | {n for n in runtime if n.startswith("pytest-")}
    extras = project["optional-dependencies"]
    assert TEST_TOOLS <= {_name(r) for r in extras["test"]}
    for extra, reqs in extras.items():
        if extra != "test":
            assert not {_name(r) for r in reqs} & TEST_TOOLS, extra
