"""The README documents every CLI command (after sqlite-utils' test_docs.py)."""

import re
from pathlib import Path

import click
import pytest

from survey.cli import main

README = (Path(__file__).resolve().parent.parent / "README.md").read_text(encoding="utf-8")


def _command_paths(group: click.Group, prefix: str = "trustmeter") -> list[str]:
    paths = []
    for name, cmd in sorted(group.commands.items()):
        path = f"{prefix} {name}"
        if isinstance(cmd, click.Group):
            paths.extend(_command_paths(cmd, path))
        else:
            paths.append(path)
    return paths


@pytest.mark.parametrize("command", _command_paths(main))
def test_command_is_in_readme(command):
    assert command in README, f"{command!r} is not documented in README.md"


def test_readme_opens_with_the_two_setup_commands():
    top = README[:1500]
    assert "make run" in top and "make test" in top


def test_readme_screenshots_exist():
    root = Path(__file__).resolve().parent.parent
    for line in README.splitlines():
        if "](docs/screenshots/" in line:
            target = line.split("](", 1)[1].split(")", 1)[0]
            assert (root / target).is_file(), f"README shows a missing screenshot {target}"


DOCS = ["README.md", "benchmarks/README.md", "instruments/README.md"]
_PATH = re.compile(r"`((?:survey|analysis|instruments|tests|benchmarks|docs)/[^`\s]*)`")


@pytest.mark.parametrize("doc", DOCS)
def test_paths_named_in_the_docs_exist(doc):
    """Every repository path a document names in backticks exists (after a move)."""
    root = Path(__file__).resolve().parent.parent
    text = (root / doc).read_text(encoding="utf-8")
    named = {m.group(1).rstrip(".,:;") for m in _PATH.finditer(text)}
    named = {p for p in named if not set(p) & set("<{*$")}
    assert named, f"{doc} names no path"
    missing = sorted(p for p in named if not (root / p.split("::")[0]).exists())
    assert not missing, f"{doc} names paths that do not exist: {missing}"
