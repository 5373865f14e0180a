"""The people groups and what Managers may do in the admin (the one place that says so).

Managers run routing from the admin: every permission of the product's apps except deleting
leads (a lead is never lost). Agents and ISAs have no admin access at all; they use their own
pages. ``ensure_groups`` runs after every migrate (and after the test database is flushed), so
new models are granted as they come.
"""

from __future__ import annotations

from django.contrib.auth.models import Group, Permission

MANAGERS, AGENTS, ISAS = "Managers", "Agents", "ISAs"
MANAGED_APPS = ("agents", "routing", "leads", "notifications")
WITHHELD = {("leads", "delete_lead")}


def ensure_groups(**_: object) -> None:
    """Create the groups and grant Managers what they need (adds, never removes)."""
    managers, _ = Group.objects.get_or_create(name=MANAGERS)
    Group.objects.get_or_create(name=AGENTS)
    Group.objects.get_or_create(name=ISAS)
    wanted = [
        p for p in Permission.objects.filter(content_type__app_label__in=MANAGED_APPS)
        .select_related("content_type")
        if (p.content_type.app_label, p.codename) not in WITHHELD
    ]
    managers.permissions.add(*wanted)
