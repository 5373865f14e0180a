"""URL configuration."""

from django.contrib import admin
from django.contrib.auth.views import LoginView
from django.urls import include, path

from agents.views import availability, away_calendar, home, time_off_add, time_off_cancel
from config.logins import LoginForm
from leads.sms_views import inbound_sms
from notifications.twilio_webhooks import sms_status
from notifications.views import (
    notification_list,
    notifications_read,
    push_subscribe,
    push_unsubscribe,
    service_worker,
)

urlpatterns = [
    path("", home, name="home"),
    path("admin/", admin.site.urls),
    # The login page counts tries (config.logins); the rest of the accounts pages as Django's.
    path("accounts/login/", LoginView.as_view(authentication_form=LoginForm), name="login"),
    path("accounts/", include("django.contrib.auth.urls")),
    path("api/", include("config.api.urls")),
    path("intake/", include("leads.intake.urls")),
    path("isa/", include("leads.isa.urls")),
    path("voice/calls/", include("routing.urls")),
    path("availability/", availability, name="availability"),
    path("availability/time-off/", time_off_add, name="time-off-add"),
    path("availability/away-calendar/", away_calendar, name="away-calendar"),
    path("availability/time-off/<int:time_off_id>/cancel/", time_off_cancel,
         name="time-off-cancel"),
    path("notifications/", notification_list, name="notifications"),
    path("notifications/read/", notifications_read, name="notifications-read"),
    # Twilio's webhooks (signed): texts to SMS_FROM, and the status of texts we sent.
    path("sms/inbound/", inbound_sms, name="sms-inbound"),
    path("sms/status/", sms_status, name="sms-status"),
    path("notifications/push/subscribe/", push_subscribe, name="push-subscribe"),
    path("notifications/push/unsubscribe/", push_unsubscribe, name="push-unsubscribe"),
    path("sw.js", service_worker, name="service-worker"),
    path("", include("leads.urls")),
]
