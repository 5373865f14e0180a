"""Routing records in the admin: what decided each lead, read-only."""

from __future__ import annotations

from datetime import timedelta
from zoneinfo import ZoneInfo

from django.contrib import admin
from django.urls import reverse
from django.utils import timezone
from django.utils.html import format_html

from routing.models import Brokerage, RoutingRecord


class WhenFilter(admin.SimpleListFilter):
    """Records made today or in the last 7 days, brokerage time (the dashboard links here)."""

    title = "when"
    parameter_name = "when"

    def lookups(self, request, model_admin):
        return [("today", "Today"), ("7d", "Last 7 days")]

    def queryset(self, request, queryset):
        if self.value() not in ("today", "7d"):
            return queryset
        local = timezone.now().astimezone(ZoneInfo(Brokerage.load().tz_name))
        since = local.replace(hour=0, minute=0, second=0, microsecond=0)
        if self.value() == "7d":
            since -= timedelta(days=6)
        return queryset.filter(created_at__gte=since)


@admin.register(RoutingRecord)
class RoutingRecordAdmin(admin.ModelAdmin):
    show_full_result_count = False
    list_display = ("lead", "created_at", "outcome", "reason", "rule_name", "version", "agent")
    list_filter = ("outcome", "reason", WhenFilter)
    readonly_fields = [f.name for f in RoutingRecord._meta.fields]

    @admin.display(description="Rule version", ordering="rule_version")
    def version(self, record: RoutingRecord) -> str:
        if not (record.rule_id and record.rule_version):
            return "—"
        url = reverse("admin:routing_rule_simple_history",
                      args=[record.rule_id, record.rule_version])
        return format_html('<a href="{}">#{}</a>', url, record.rule_version)

    def has_add_permission(self, request) -> bool:
        return False

    def has_change_permission(self, request, obj=None) -> bool:
        return False

