"""The researcher side at ``/admin``: sign-in, campaigns, exports, reports, users, audit."""

from survey.web.admin.views import ROUTE_ROLES, init_app

__all__ = ["ROUTE_ROLES", "init_app"]
