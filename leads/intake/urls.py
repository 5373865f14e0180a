"""Web form capture from the brokerage's sites (mounted at ``/intake/``)."""

from django.urls import path, re_path

from leads.intake.email_http import email_intake
from leads.intake.web_forms import web_form_intake

urlpatterns = [
    re_path(r"^email/(?:(?P<key>[A-Za-z0-9_-]+)/)?(?:mime)?$", email_intake, name="email-intake"),
    path("<slug:slug>/", web_form_intake, name="web-form-intake"),
]
