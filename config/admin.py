"""The admin is the managers' rule editor: only Managers (staff) and superusers reach it."""

from django.contrib import admin
from django.contrib.admin.apps import AdminConfig
from django.http import HttpRequest

MANAGERS_GROUP = "Managers"


def is_manager(user) -> bool:
    """Superusers, and active staff in the Managers group."""
    if not user.is_active:
        return False
    if user.is_superuser:
        return True
    return user.is_staff and user.groups.filter(name=MANAGERS_GROUP).exists()


class LeadrouterAdminSite(admin.AdminSite):
    site_header = "leadrouter"
    site_title = "leadrouter admin"
    index_title = "Routing, people and leads"

    def has_permission(self, request: HttpRequest) -> bool:
        return is_manager(request.user)


class LeadrouterAdminConfig(AdminConfig):
    default_site = "config.admin.LeadrouterAdminSite"
