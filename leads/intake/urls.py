"""Web form capture from the brokerage's sites (mounted at ``/intake/``)."""

from django.urls import path

from leads.intake.web_forms import web_form_intake

urlpatterns = [
    path("<slug:slug>/", web_form_intake, name="web-form-intake"),
]
