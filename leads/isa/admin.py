"""Hand-off targets in the admin: where ISAs hand qualified leads (``leads.isa.handoffs``)."""

from __future__ import annotations

from django.contrib import admin
from django.db.models import Count, Q

from routing.models import Handoff, HandoffRotation, HandoffTarget


class HandoffRotationInline(admin.StackedInline):
    model = HandoffRotation
    can_delete = False
    extra = 0
    max_num = 0
    fields = readonly_fields = ("agent", "place", "given")
    verbose_name = verbose_name_plural = "whose turn it is"

    @admin.display(description="place in the roster")
    def place(self, rotation: HandoffRotation) -> str:
        """1-based, in the roster's order (the stored position is a sort key)."""
        if rotation.agent_id is None:
            return "-"
        order = list(rotation.target.roster.members.order_by("position", "id")
                     .values_list("agent_id", flat=True))
        if rotation.agent_id not in order:
            return "no longer on the roster"
        return f"{order.index(rotation.agent_id) + 1} of {len(order)}"


@admin.register(HandoffTarget)
class HandoffTargetAdmin(admin.ModelAdmin):
    list_display = ("name", "is_active", "roster", "selection", "delivery",
                    "first_contact_minutes", "escalate_to", "open_handoffs")
    list_filter = ("is_active", "selection", "delivery")
    search_fields = ("name",)
    inlines = [HandoffRotationInline]
    fieldsets = (
        (None, {"fields": ("name", "is_active", "roster", "selection")}),
        ("Delivery", {"fields": ("delivery", "claim_timeout_minutes", "first_contact_minutes",
                                 "escalate_to"),
                      "description": "How the chosen agent gets the lead, how long they have "
                      "to claim (claim deliveries) and to make the first contact, and who gets "
                      "it when they do not (empty: the pond). The ISA is told either way."}),
    )

    def get_queryset(self, request):
        return super().get_queryset(request).select_related("roster", "escalate_to").annotate(
            open_count=Count("handoffs", filter=Q(handoffs__status__in=Handoff.OPEN)))

    @admin.display(description="Open hand-offs", ordering="open_count")
    def open_handoffs(self, target: HandoffTarget) -> int:
        return target.open_count


@admin.register(Handoff)
class HandoffAdmin(admin.ModelAdmin):
    show_full_result_count = False
    list_display = ("lead", "isa", "target_name", "agent", "status", "created_at",
                    "contact_due_at", "contacted_at")
    list_filter = ("status", "target")
    date_hierarchy = "created_at"
    list_select_related = ("lead", "isa", "agent")
    readonly_fields = [f.name for f in Handoff._meta.fields]

    def has_add_permission(self, request) -> bool:
        return False

    def has_change_permission(self, request, obj=None) -> bool:
        return False
