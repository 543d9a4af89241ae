"""YAML limits (issue 14): a 1 KB alias bomb fails fast in little memory, files over
the size limit are refused, both with ``FILE: FIELD: problem``-style messages."""

from __future__ import annotations

import resource
import time

import pytest
from click.testing import CliRunner

from instruments import loader
from instruments.loader import InstrumentError, instrument_from_yaml, load_instrument


def alias_bomb(levels: int = 9) -> str:
    lines = ['a0: &a0 ["lol", "lol", "lol", "lol", "lol", "lol", "lol", "lol", "lol"]']
    for k in range(1, levels):
        refs = ", ".join([f"*a{k - 1}"] * 9)
        lines.append(f"a{k}: &a{k} [{refs}]")
    lines.append(f"id: bomb\nversion: '1.0'\nitems: *a{levels - 1}")
    return "\n".join(lines) + "\n"


def test_alias_bomb_fails_fast_and_small(tmp_path):
    text = alias_bomb()
    assert len(text.encode()) <= 1024  # a 1 KB file ...
    path = tmp_path / "bomb.yaml"
    path.write_text(text, encoding="utf-8")
    before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    t0 = time.perf_counter()
    with pytest.raises(InstrumentError) as e:  # ... that expands to 9**9 = 387M strings
        load_instrument(path)
    assert time.perf_counter() - t0 < 2
    grown_kib = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - before
    assert grown_kib < 50 * 1024, grown_kib  # Linux: KiB; under 50 MB more at peak
    (message,) = e.value.errors
    assert message.startswith(f"{path}: ") and "alias" in message


def test_cli_validate_refuses_the_bomb(tmp_path):
    from survey import cli

    path = tmp_path / "bomb.yaml"
    path.write_text(alias_bomb(), encoding="utf-8")
    r = CliRunner().invoke(cli.main, ["instrument", "validate", str(path)])
    assert r.exit_code != 0 and "alias" in r.output and "Traceback" not in r.output, r.output


def test_large_file_is_refused_before_parsing(tmp_path, monkeypatch):
    path = tmp_path / "big.yaml"
    path.write_text("id: big\n" + "# padding\n" * 200_000, encoding="utf-8")  # 2 MB
    with pytest.raises(InstrumentError, match=r"big\.yaml: file: .* more than the limit"):
        load_instrument(path)
    with pytest.raises(InstrumentError, match="more than"):
        instrument_from_yaml(path.read_text(encoding="utf-8"), source="big.yaml")


def test_shipped_instruments_are_well_within_the_limits():
    for path in loader.builtin_paths():
        assert path.stat().st_size < loader.MAX_YAML_BYTES // 10
        load_instrument(path)  # still loads


def test_a_few_merges_are_fine():
    text = "base: &b {x: 1}\nother: {<<: *b, y: 2}\n"
    with pytest.raises(InstrumentError) as e:  # not an instrument, but no alias complaint
        instrument_from_yaml(text, source="m.yaml")
    assert "alias" not in str(e.value)
