"""The ``trustmeter`` command line: a thin click layer over the library packages.

Each area registers its commands here: instruments (``instrument``), the survey
app and database (``init``, ``serve``, ``run``, ``campaign``, ``invite``, ``demo``)
and the analysis package (``analyze``).

Every database command takes ``--db PATH`` (default ``trustmeter.db``, or
``$TRUSTMETER_DB`` when set). Bad arguments end with ``Error: ...`` and exit code 1
(2 for usage errors).
"""

from __future__ import annotations

import click

from instruments.cli import instrument_group
from survey.cli.analyze import analyze
from survey.cli.campaigns import campaign_group, demo_command, invite
from survey.cli.data import export_command, report_command
from survey.cli.mail import MAIL_COMMANDS
from survey.cli.responses import response_group
from survey.cli.server import init, run, serve
from survey.cli.tokens import token_group, webhook_group
from survey.cli.users import user_group


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(package_name="trustmeter")
def main() -> None:
    """trustmeter: measure customer trust with a validated questionnaire."""


for command in (
    init,
    serve,
    run,
    campaign_group,
    invite,
    demo_command,
    instrument_group,
    analyze,
    export_command,
    report_command,
    user_group,
    token_group,
    webhook_group,
    response_group,
    *MAIL_COMMANDS,
):
    main.add_command(command)
