"""Respondent pages: consent, paged questionnaire, thank-you (blueprint ``respondent``)."""

from survey.web.respondent import (  # noqa: F401 (they add to bp)
    fragments,  # cached_question()
    optout,  # /optout/<token>
)
from survey.web.respondent.views import bp

__all__ = ["bp"]
