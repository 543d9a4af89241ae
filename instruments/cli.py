"""``trustmeter instrument ...``: validate and list questionnaire definitions."""

from __future__ import annotations

from pathlib import Path

import click

from .loader import InstrumentError, builtin_paths, load_instrument


@click.group("instrument")
def instrument_group() -> None:
    """Validate and list instrument (questionnaire) definitions."""


@instrument_group.command("validate")
@click.argument("files", nargs=-1, required=True, type=click.Path(dir_okay=False))
def validate(files: tuple[str, ...]) -> None:
    """Validate instrument YAML FILES; print every problem with its file and field."""
    failed = False
    for f in files:
        try:
            inst = load_instrument(f)
        except InstrumentError as e:
            failed = True
            for line in e.errors:
                click.echo(line, err=True)
            continue
        n = len(inst.dimension_items)
        texts = len(inst.text_items)
        click.echo(
            f"{f}: ok: {inst.id} {inst.version}, {len(inst.dimensions)} dimensions, "
            f"{n} dimension items, {len(list(inst.iter_items()))} items in all"
            + (f" and {texts} open-text item{'s' if texts > 1 else ''}" if texts else "")
            + f", languages {', '.join(inst.languages)}"
            + (", brand-aware" if inst.brand_aware else "")
        )
    if failed:
        raise SystemExit(1)


@instrument_group.command("list")
@click.option(
    "--dir",
    "directory",
    type=click.Path(file_okay=False, exists=True),
    help="Directory of instrument YAML files (default: the built-in ones).",
)
def list_(directory: str | None) -> None:
    """List the available instruments: id, version, languages, dimensions, items."""
    paths = sorted(Path(directory).glob("*.yaml")) if directory else builtin_paths()
    failed = False
    for p in paths:
        try:
            inst = load_instrument(p)
        except InstrumentError as e:
            failed = True
            click.echo(
                f"{p.name}: INVALID ({len(e.errors)} problems; run "
                f"'trustmeter instrument validate {p}')",
                err=True,
            )
            continue
        dims = ", ".join(d.id for d in inst.dimensions)
        click.echo(
            f"{inst.id}\t{inst.version}\t{','.join(inst.languages)}\t"
            f"{len(list(inst.iter_items()))} items\tdimensions: {dims}\t{p.name}"
        )
    if failed:
        raise SystemExit(1)
