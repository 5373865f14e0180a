"""Routing records in the admin: what decided each lead, read-only."""

from __future__ import annotations

from django.contrib import admin
from django.urls import reverse
from django.utils.html import format_html

from routing.models import RoutingRecord


@admin.register(RoutingRecord)
class RoutingRecordAdmin(admin.ModelAdmin):
    list_display = ("lead", "created_at", "outcome", "reason", "rule_name", "version", "agent")
    list_filter = ("outcome", "reason")
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

