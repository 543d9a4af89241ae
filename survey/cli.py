"""The ``trustmeter`` command line: a thin click layer over the library packages.

Each area registers its commands here: instruments (``instrument``), the survey
app and database (``init``, ``serve``, ``run``, ``campaign``, ``invite``, ``demo``)
and the analysis package (``analyze``).
"""

from __future__ import annotations

import click

from instruments.cli import instrument_group


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(package_name="trustmeter")
def main() -> None:
    """trustmeter: measure customer trust with a validated questionnaire."""


main.add_command(instrument_group)
