import json
from zoneinfo import ZoneInfo

from django import forms
from django.contrib import admin, messages
from django.core.validators import URLValidator
from django.db import models, transaction
from django.db.models import Count, F, Q
from django.db.models.functions import Least
from django.urls import reverse
from django.utils import timezone
from django.utils.html import format_html, format_html_join

from notifications import webhooks
from notifications.models import (
    Delivery,
    FollowUpBossIntegration,
    Notification,
    Preference,
    TextOptOut,
    WebhookDelivery,
    WebhookEndpoint,
    WebhookEvent,
)
from notifications.tasks import MAX_ATTEMPTS
from routing.models import Brokerage

DELIVERY_FIELDS = ("channel", "status", "attempts", "last_error", "sent_at", "next_attempt_at",
                   "provider_status", "provider_error_code")


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
    show_full_result_count = False
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


@admin.register(TextOptOut)
class TextOptOutAdmin(admin.ModelAdmin):
    """Numbers that texted STOP; deleting a row sends them texts again (as START would)."""

    list_display = ("phone", "keyword", "opted_out_at")
    search_fields = ("phone",)
    readonly_fields = ("opted_out_at", "keyword")


@admin.register(Delivery)
class DeliveryAdmin(admin.ModelAdmin):
    """The deliveries, opening on the failed ones; "Retry now" queues them for the next minute."""

    show_full_result_count = False
    list_display = ("notification", "recipient", "channel", "status", "attempts", "last_error",
                    "next_attempt_at", "sent_at")
    list_filter = (DeliveryStatusFilter, "channel")
    search_fields = ("notification__title", "notification__recipient__name",
                     "notification__recipient__email", "last_error")
    list_select_related = ("notification__recipient",)
    ordering = ("-id",)
    fields = ("notification", *DELIVERY_FIELDS, "provider_message_id", "provider_status_at")
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


# --- Webhooks ---------------------------------------------------------------------------------


class WebhookEndpointForm(forms.ModelForm):
    """The events as checkboxes (stored as a list of names); http(s) URLs only."""

    url = forms.URLField(label="URL", max_length=500, assume_scheme="https",
                         validators=[URLValidator(schemes=["http", "https"])],
                         help_text="Where events are POSTed; https in production.")
    events = forms.MultipleChoiceField(choices=WebhookEvent.choices, required=False,
                                       widget=forms.CheckboxSelectMultiple,
                                       help_text="The events sent to this endpoint.")

    class Meta:
        model = WebhookEndpoint
        fields = ("name", "url", "events", "active", "secret")
        widgets = {"secret": forms.TextInput(attrs={"size": 60})}

    def clean_url(self) -> str:
        """Only a public address receives webhooks (checked again at every connection)."""
        url = self.cleaned_data["url"]
        try:
            webhooks.check_url(url)
        except webhooks.RefusedAddress as exc:
            raise forms.ValidationError(
                f"Webhooks go only to public internet addresses: {exc}. For a receiver inside "
                "your own network, add its host to the WEBHOOK_ALLOWED_HOSTS setting."
            ) from exc
        return url


@admin.register(WebhookEndpoint)
class WebhookEndpointAdmin(admin.ModelAdmin):
    """The brokerage's receivers; "Send test event" checks one answers and verifies."""

    form = WebhookEndpointForm
    formfield_overrides = {models.URLField: {"assume_scheme": "https"}}
    list_display = ("__str__", "url", "active", "event_list", "health", "failed_deliveries")
    list_filter = ("active",)
    list_editable = ("active",)
    search_fields = ("name", "url")
    readonly_fields = ("health", "old_secret", "created_at")
    actions = ["send_test_event", "rotate_secret"]

    def get_queryset(self, request):
        """The brokerage's receivers; the Follow Up Boss push has its own screen."""
        return super().get_queryset(request).filter(follow_up_boss__isnull=True).annotate(
            failed=Count("deliveries",
                         filter=Q(deliveries__status=WebhookDelivery.Status.FAILED)))

    @admin.display(description="events")
    def event_list(self, obj: WebhookEndpoint) -> str:
        return ", ".join(obj.events) or "(none)"

    @admin.display(description="health")
    def health(self, obj: WebhookEndpoint) -> str:
        if obj.failing_since is None:
            return "OK"
        local = obj.failing_since.astimezone(ZoneInfo(Brokerage.load().tz_name))
        return f"Failing since {local:%a %Y-%m-%d %H:%M}"

    @admin.display(description="old secret")
    def old_secret(self, obj: WebhookEndpoint) -> str:
        """Whether a rotated-out secret still signs, and until when (local time)."""
        until = obj.previous_secret_expires_at
        if not obj.previous_secret or until is None or until <= timezone.now():
            return "None: only the secret above signs."
        local = until.astimezone(ZoneInfo(Brokerage.load().tz_name))
        return f"Still signs too, until {local:%a %Y-%m-%d %H:%M}"

    def save_model(self, request, obj: WebhookEndpoint, form, change: bool) -> None:
        """A secret typed over the old one is a rotation too: the old one keeps signing for
        the grace period."""
        if change and "secret" in form.changed_data:
            webhooks.keep_old(obj, form.initial.get("secret", ""), now=timezone.now())
        super().save_model(request, obj, form, change)

    @admin.action(description="Rotate secret (the old one keeps signing for a day)",
                  permissions=["change"])
    def rotate_secret(self, request, queryset) -> None:
        now = timezone.now()
        tz = ZoneInfo(Brokerage.load().tz_name)
        until = (now + webhooks.ROTATION_GRACE).astimezone(tz)
        for endpoint in queryset:
            secret = webhooks.rotate_secret(endpoint, now=now)
            self.message_user(request, f"{endpoint}: the new secret is {secret} (give it to "
                              f"the receiver). The old secret keeps signing "
                              f"too until {until:%a %Y-%m-%d %H:%M}.", messages.SUCCESS)

    @admin.display(description="failed deliveries", ordering="failed")
    def failed_deliveries(self, obj: WebhookEndpoint) -> int:
        return getattr(obj, "failed", 0)

    @admin.action(description="Send test event", permissions=["change"])
    def send_test_event(self, request, queryset) -> None:
        for endpoint in queryset:
            delivery = webhooks.send_test_event(endpoint)
            if delivery.status == WebhookDelivery.Status.SENT:
                self.message_user(request, f"{endpoint}: test event answered "
                                  f"{delivery.last_status_code}.", messages.SUCCESS)
            else:  # the status code or "could not connect", never the answer itself
                self.message_user(request, f"{endpoint}: test event failed: "
                                  f"{test_failure(delivery)}.", messages.ERROR)


class FollowUpBossForm(forms.ModelForm):
    """The API key is typed, never shown back (the screen shows its last 4); left blank on a
    change, the key on file stays."""

    api_key = forms.CharField(
        label="API key", required=False, strip=True,
        widget=forms.PasswordInput(render_value=False, attrs={"autocomplete": "off", "size": 50}),
        help_text="From Follow Up Boss: Admin > API. Leave blank to keep the key on file.")
    base_url = forms.URLField(
        label="Base URL", max_length=300, assume_scheme="https",
        validators=[URLValidator(schemes=["http", "https"])],
        initial="https://api.followupboss.com",
        help_text="Follow Up Boss's API; leads are sent to <base URL>/v1/events.")

    class Meta:
        model = FollowUpBossIntegration
        fields = ("enabled", "api_key", "base_url", "system_name", "system_key")

    def clean_api_key(self) -> str:
        key = self.cleaned_data["api_key"]
        if key:
            return key
        if self.instance.pk and self.instance.api_key:
            return self.instance.api_key
        raise forms.ValidationError("Give the Follow Up Boss API key.")

    def clean_base_url(self) -> str:
        url = self.cleaned_data["base_url"]
        try:
            webhooks.check_url(url)
        except webhooks.RefusedAddress as exc:
            raise forms.ValidationError(
                f"Leads go only to public internet addresses: {exc}.") from exc
        return url


@admin.register(FollowUpBossIntegration)
class FollowUpBossAdmin(admin.ModelAdmin):
    """Switch the push on with the brokerage's FUB API key; every push and its attempts are
    listed here (and among the webhook deliveries, where "Retry now" works for them too)."""

    form = FollowUpBossForm
    list_display = ("__str__", "enabled", "api_key_hint", "base_url", "health", "pushes_link")
    readonly_fields = ("api_key_on_file", "sent_to", "health", "recent_pushes")
    fieldsets = [
        (None, {"fields": ("enabled", "api_key", "api_key_on_file", "base_url", "sent_to",
                           "system_name", "system_key")}),
        ("Pushes", {"fields": ("health", "recent_pushes")}),
    ]

    def get_queryset(self, request):
        return super().get_queryset(request).select_related("endpoint")

    def has_add_permission(self, request) -> bool:
        """One integration per brokerage."""
        return super().has_add_permission(request) and not (
            FollowUpBossIntegration.objects.exists())

    def save_model(self, request, obj: FollowUpBossIntegration, form, change: bool) -> None:
        webhooks.save_integration(obj)

    @admin.display(description="API key")
    def api_key_hint(self, obj: FollowUpBossIntegration) -> str:
        return obj.api_key_hint or "(none)"

    @admin.display(description="leads are sent to")
    def sent_to(self, obj: FollowUpBossIntegration) -> str:
        return obj.events_url if obj.pk else "-"

    @admin.display(description="API key on file")
    def api_key_on_file(self, obj: FollowUpBossIntegration) -> str:
        return f"ending in {obj.api_key[-4:]}" if obj.api_key else "None yet."

    @admin.display(description="health")
    def health(self, obj: FollowUpBossIntegration) -> str:
        """OK, or failing since when, with FUB's last answer (a refused key says so)."""
        endpoint = obj.endpoint
        if endpoint is None or endpoint.failing_since is None:
            return "OK"
        local = endpoint.failing_since.astimezone(ZoneInfo(Brokerage.load().tz_name))
        code = (WebhookDelivery.objects.filter(endpoint=endpoint,
                                               status=WebhookDelivery.Status.FAILED)
                .order_by("-id").values_list("last_status_code", flat=True).first())
        if code in (401, 403):
            return (f"Failing since {local:%a %Y-%m-%d %H:%M}: Follow Up Boss refuses the API "
                    f"key (HTTP {code}). Type the key again from Follow Up Boss's Admin > API.")
        answer = f"HTTP {code}" if code else "could not connect"
        return f"Failing since {local:%a %Y-%m-%d %H:%M} (last answer: {answer})"

    def _pushes_url(self, obj: FollowUpBossIntegration) -> str:
        return (reverse("admin:notifications_webhookdelivery_changelist")
                + f"?endpoint__id__exact={obj.endpoint_id}&status=all")

    @admin.display(description="pushes")
    def pushes_link(self, obj: FollowUpBossIntegration) -> str:
        if obj.endpoint_id is None:
            return "-"
        return format_html('<a href="{}">All pushes</a>', self._pushes_url(obj))

    @admin.display(description="latest pushes")
    def recent_pushes(self, obj: FollowUpBossIntegration) -> str:
        """The latest pushes, each with its attempts (the full log opens from each row)."""
        if obj.endpoint_id is None:
            return "None yet."
        latest = list(WebhookDelivery.objects.filter(endpoint_id=obj.endpoint_id)
                      .select_related("lead").order_by("-id")[:RECENT_PUSHES])
        if not latest:
            return "None yet."
        tz = ZoneInfo(Brokerage.load().tz_name)
        rows = format_html_join("", (
            '<tr><td><a href="{}">{}</a></td><td>{}</td><td>{}</td><td>{}</td><td>{}</td>'
            "<td>{}</td></tr>"), (
            (reverse("admin:notifications_webhookdelivery_change", args=[d.pk]),
             d.created_at.astimezone(tz).strftime("%a %Y-%m-%d %H:%M"),
             d.lead.full_name if d.lead else "-", d.event, d.get_status_display(),
             d.attempts, d.last_status_code or d.last_error or "-") for d in latest))
        return format_html(
            '<table><thead><tr><th>when</th><th>lead</th><th>event</th><th>status</th>'
            '<th>attempts</th><th>last answer</th></tr></thead><tbody>{}</tbody></table>'
            '<p><a href="{}">All pushes</a></p>', rows, self._pushes_url(obj))


RECENT_PUSHES = 20


def test_failure(delivery: WebhookDelivery) -> str:
    """What a failed test event tells the manager: the HTTP status, the refused address, or
    "could not connect" (nothing that tells an open port from a closed one)."""
    if delivery.last_status_code:
        return f"HTTP {delivery.last_status_code}"
    if delivery.last_error.startswith("Refused: "):
        return delivery.last_error
    return webhooks.COULD_NOT_CONNECT.lower()


@admin.register(WebhookDelivery)
class WebhookDeliveryAdmin(admin.ModelAdmin):
    """Read-only, opening on the failed deliveries; "Retry now" sends them again at once."""

    show_full_result_count = False
    list_display = ("event", "endpoint", "lead", "status", "attempts", "last_status_code",
                    "last_error", "next_attempt_at", "sent_at", "created_at")
    list_filter = (DeliveryStatusFilter, "event", "endpoint")
    search_fields = ("event_id", "last_error", "endpoint__name", "endpoint__url",
                     "lead__email", "lead__last_name")
    list_select_related = ("endpoint", "lead")
    ordering = ("-id",)
    fields = ("event", "event_id", "endpoint", "lead", "status", "attempts", "last_status_code",
              "last_error", "created_at", "sent_at", "next_attempt_at", "attempts_table",
              "payload_json")
    readonly_fields = fields
    actions = ["retry_now"]

    def has_add_permission(self, request) -> bool:
        return False

    @admin.display(description="attempt log")
    def attempts_table(self, obj: WebhookDelivery) -> str:
        if not obj.attempt_log:
            return "No attempt yet."
        rows = format_html_join(
            "", "<tr><td>{}</td><td>{}</td><td>{}</td><td>{} ms</td><td>{}</td></tr>",
            ((entry.get("attempt", ""), entry.get("at", ""), entry.get("status") or "-",
              entry.get("ms", ""), entry.get("error") or "OK") for entry in obj.attempt_log))
        return format_html("<table><thead><tr><th>#</th><th>when</th><th>HTTP status</th>"
                           "<th>duration</th><th>error</th></tr></thead><tbody>{}</tbody>"
                           "</table>", rows)

    @admin.display(description="payload")
    def payload_json(self, obj: WebhookDelivery) -> str:
        return format_html("<pre>{}</pre>", json.dumps(obj.payload, indent=2,
                                                       ensure_ascii=False))

    @admin.action(description="Retry now (failed deliveries)", permissions=["change"])
    def retry_now(self, request, queryset) -> None:
        now = timezone.now()
        failed = queryset.filter(status=WebhookDelivery.Status.FAILED)
        ids = list(failed.values_list("pk", flat=True))
        endpoints = set(failed.values_list("endpoint_id", flat=True))
        count = WebhookDelivery.objects.filter(pk__in=ids).update(
            next_attempt_at=now, attempts=Least(F("attempts"), webhooks.MAX_ATTEMPTS - 1))
        # The manager asks for it: the endpoints' rest after a failure does not hold them.
        WebhookEndpoint.objects.filter(pk__in=endpoints).update(backoff_until=None)
        if ids:
            transaction.on_commit(lambda: webhooks.queue_sending(ids), robust=True)
        self.message_user(request, f"{count} webhook deliveries will be attempted again now.",
                          messages.SUCCESS)

