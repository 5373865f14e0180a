"""The REST API, mounted at ``/api/``: schema, docs, and the versioned endpoints under ``v1/``.

Add further endpoints (agent API, manager API, webhooks) to ``urlpatterns`` under ``v1/``.
"""

import os

from django.urls import path
from drf_spectacular.views import (
    SpectacularAPIView,
    SpectacularRedocView,
    SpectacularSwaggerView,
)

from leads.api import BareLeadCreateView, LeadIntakeView

urlpatterns = [
    path("schema/", SpectacularAPIView.as_view(), name="api-schema"),
    path("docs/", SpectacularSwaggerView.as_view(url_name="api-schema"), name="api-docs"),
    path("redoc/", SpectacularRedocView.as_view(url_name="api-schema"), name="api-redoc"),
    path("v1/leads/", LeadIntakeView.as_view(), name="api-lead-intake"),
]

if os.environ.get("LEADROUTER_BENCH") == "1":  # the baseline of `manage.py bench_api` only
    urlpatterns.append(
        path("v1/bench/leads/", BareLeadCreateView.as_view(), name="api-bench-leads"))
