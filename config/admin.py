"""The admin is the managers' rule editor: only Managers (staff) and superusers reach it."""

from django.contrib import admin
from django.contrib.admin.apps import AdminConfig
from django.http import HttpRequest, HttpResponse


class LeadrouterAdminSite(admin.AdminSite):
    site_header = "leadrouter"
    site_title = "leadrouter admin"
    index_title = "Routing, people and leads"

    def has_permission(self, request: HttpRequest) -> bool:
        from agents.access import may_use_admin  # this module loads before the apps

        return may_use_admin(request.user)

    def login(self, request: HttpRequest, extra_context: dict | None = None) -> HttpResponse:
        """The admin's login, with the same guessing limit as the agents' login page."""
        from config.logins import AdminLoginForm  # forms need the apps loaded

        self.login_form = AdminLoginForm
        return super().login(request, extra_context)


class LeadrouterAdminConfig(AdminConfig):
    default_site = "config.admin.LeadrouterAdminSite"
