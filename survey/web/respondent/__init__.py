"""Respondent pages: consent, paged questionnaire, thank-you (blueprint ``respondent``)."""

from survey.web.respondent import optout  # noqa: F401 (adds /optout/<token> to bp)
from survey.web.respondent.views import bp

__all__ = ["bp"]
