"""The researcher side at ``/admin``: sign-in, campaigns, exports, reports, users, audit."""

from survey.web.admin import (
    api_pages,  # noqa: F401 - adds the token and webhook pages
    mail_pages,  # noqa: F401 - adds the e-mail invitation pages
    response_pages,  # noqa: F401 - adds the pages of one response
)
from survey.web.admin.views import ROUTE_ROLES, init_app

__all__ = ["ROUTE_ROLES", "init_app"]
