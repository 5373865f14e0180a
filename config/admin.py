"""The admin is the managers' rule editor and dashboard: only Managers (staff) and superusers
reach it. Its front page is the dashboard; the reports hang under ``/admin/reports/``."""

from django.contrib import admin
from django.contrib.admin.apps import AdminConfig
from django.http import HttpRequest, HttpResponse
from django.urls import URLPattern, URLResolver, path


class LeadrouterAdminSite(admin.AdminSite):
    site_header = "leadrouter"
    site_title = "leadrouter admin"
    index_title = "Routing, people and leads"
    # The app list stays on the front page: at 1,366 px the lists need the sidebar's 300 px.
    enable_nav_sidebar = False

    def has_permission(self, request: HttpRequest) -> bool:
        from agents.access import may_use_admin  # this module loads before the apps

        return may_use_admin(request.user)

    def login(self, request: HttpRequest, extra_context: dict | None = None) -> HttpResponse:
        """The admin's login, with the same guessing limit as the agents' login page."""
        from config.logins import AdminLoginForm  # forms need the apps loaded

        self.login_form = AdminLoginForm
        return super().login(request, extra_context)

    def index(self, request: HttpRequest, extra_context: dict | None = None) -> HttpResponse:
        """The manager's dashboard above the app list: what needs attention now, and today's
        and this week's leads by source."""
        from django.utils import timezone

        from routing.models import Brokerage
        from routing.reports import dashboard
        from routing.reports.pages import dashboard_sources, report_links

        now = timezone.now()
        tz_name = Brokerage.load().tz_name
        context = {
            "attention": dashboard.attention(now=now, tz_name=tz_name),
            "unreachable": dashboard.unreachable_rules(now=now),
            "by_source": dashboard_sources(now=now, tz_name=tz_name),
            "reports": report_links(),
            **(extra_context or {}),
        }
        return super().index(request, context)

    def get_urls(self) -> list[URLResolver | URLPattern]:
        from routing.reports.pages import report_view

        def report(request: HttpRequest, slug: str) -> HttpResponse:
            return report_view(request, slug, admin_site=self)

        return [path("reports/<slug:slug>/", self.admin_view(report), name="report"),
                *super().get_urls()]


class LeadrouterAdminConfig(AdminConfig):
    default_site = "config.admin.LeadrouterAdminSite"
