from django.contrib import admin, messages
from django.db.models import F
from django.db.models.functions import Least
from django.utils import timezone

from notifications.models import Delivery, Notification, Preference
from notifications.tasks import MAX_ATTEMPTS

DELIVERY_FIELDS = ("channel", "status", "attempts", "last_error", "sent_at", "next_attempt_at")


class DeliveryInline(admin.TabularInline):
    model = Delivery
    extra = 0
    fields = DELIVERY_FIELDS
    readonly_fields = DELIVERY_FIELDS
    can_delete = False

    def has_add_permission(self, request, obj=None) -> bool:
        return False


class ReadFilter(admin.SimpleListFilter):
    title = "read"
    parameter_name = "read"

    def lookups(self, request, model_admin):
        return [("yes", "Read"), ("no", "Unread")]

    def queryset(self, request, queryset):
        if self.value() in ("yes", "no"):
            return queryset.filter(read_at__isnull=self.value() == "no")
        return queryset


@admin.register(Notification)
class NotificationAdmin(admin.ModelAdmin):
    list_display = ("recipient", "event", "title", "is_read", "created_at")
    list_filter = ("event", ReadFilter, "deliveries__status")
    search_fields = ("title", "recipient__name", "recipient__email")
    list_select_related = ("recipient",)
    date_hierarchy = "created_at"
    readonly_fields = ("recipient", "event", "lead", "title", "body", "created_at", "read_at")
    inlines = [DeliveryInline]

    @admin.display(boolean=True, description="read", ordering="read_at")
    def is_read(self, obj: Notification) -> bool:
        return obj.read_at is not None


@admin.register(Preference)
class PreferenceAdmin(admin.ModelAdmin):
    list_display = ("agent", "email", "sms", "has_phone")
    list_editable = ("email", "sms")
    list_filter = ("email", "sms")
    search_fields = ("agent__name", "agent__email")
    list_select_related = ("agent",)
    autocomplete_fields = ("agent",)

    @admin.display(boolean=True, description="phone on file")
    def has_phone(self, obj: Preference) -> bool:
        return bool(obj.agent.phone)


class DeliveryStatusFilter(admin.SimpleListFilter):
    """Failed deliveries first: the list opens on them."""

    title = "status"
    parameter_name = "status"

    def lookups(self, request, model_admin):
        return [("failed", "Failed"), ("gave_up", "Failed, gave up"), *[
            (value, label) for value, label in Delivery.Status.choices if value != "failed"
        ], ("all", "All")]

    def choices(self, changelist):
        current = self.value() or "failed"
        for value, label in self.lookup_choices:
            yield {
                "selected": current == value,
                "query_string": changelist.get_query_string({self.parameter_name: value}),
                "display": label,
            }

    def queryset(self, request, queryset):
        value = self.value() or "failed"
        if value == "all":
            return queryset
        if value == "gave_up":
            return queryset.filter(status=Delivery.Status.FAILED, next_attempt_at__isnull=True)
        return queryset.filter(status=value)


@admin.register(Delivery)
class DeliveryAdmin(admin.ModelAdmin):
    """The deliveries, opening on the failed ones; "Retry now" queues them for the next minute."""

    list_display = ("notification", "recipient", "channel", "status", "attempts", "last_error",
                    "next_attempt_at", "sent_at")
    list_filter = (DeliveryStatusFilter, "channel")
    search_fields = ("notification__title", "notification__recipient__name",
                     "notification__recipient__email", "last_error")
    list_select_related = ("notification__recipient",)
    ordering = ("-id",)
    fields = ("notification", *DELIVERY_FIELDS)
    readonly_fields = fields
    actions = ["retry_now"]

    @admin.display(description="recipient", ordering="notification__recipient__name")
    def recipient(self, obj: Delivery):
        return obj.notification.recipient

    def has_add_permission(self, request) -> bool:
        return False

    @admin.action(description="Retry now (failed deliveries)", permissions=["change"])
    def retry_now(self, request, queryset) -> None:
        count = queryset.filter(status=Delivery.Status.FAILED).update(
            next_attempt_at=timezone.now(), attempts=Least(F("attempts"), MAX_ATTEMPTS - 1)
        )
        self.message_user(request, f"{count} deliveries will be attempted again within a minute.",
                          messages.SUCCESS)
