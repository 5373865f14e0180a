"""The REST API, mounted at ``/api/``: schema, docs, and the versioned endpoints under ``v1/``.

``v1/leads/`` is the vendors' intake (a public contract: keep it as it is), ``v1/events`` the
same for vendors that speak Follow Up Boss's Events API; ``v1/auth/token/``
and ``v1/agent/...`` serve the agents' phone app; ``v1/manager/...`` is the managers' read API.
Add further endpoints (webhooks) to ``urlpatterns`` under ``v1/``.
"""

import os

from django.urls import path
from drf_spectacular.views import (
    SpectacularAPIView,
    SpectacularRedocView,
    SpectacularSwaggerView,
)

from config.api import agent, manager
from config.api.base import docs_page
from leads.intake.api import LeadIntakeView
from leads.intake.bench import BareLeadCreateView
from leads.intake.events_api import FubEventsSlashView, FubEventsView

urlpatterns = [
    path("schema/", SpectacularAPIView.as_view(), name="api-schema"),
    path("docs/", docs_page(SpectacularSwaggerView.as_view(url_name="api-schema")),
         name="api-docs"),
    path("redoc/", docs_page(SpectacularRedocView.as_view(url_name="api-schema")),
         name="api-redoc"),
    path("v1/leads/", LeadIntakeView.as_view(), name="api-lead-intake"),
    # Follow Up Boss's Events API, as lead providers post it (no slash), and with one.
    path("v1/events", FubEventsView.as_view(), name="api-fub-events"),
    path("v1/events/", FubEventsSlashView.as_view(), name="api-fub-events-slash"),
    path("v1/auth/token/", agent.TokenView.as_view(), name="api-token"),
    # The agent API: the phone app's offers, leads, pond, availability, time off
    # and fairness.
    path("v1/agent/offers/", agent.OffersView.as_view(), name="api-agent-offers"),
    path("v1/agent/offers/<int:id>/claim/", agent.OfferClaimView.as_view(),
         name="api-agent-offer-claim"),
    path("v1/agent/offers/<int:id>/decline/", agent.OfferDeclineView.as_view(),
         name="api-agent-offer-decline"),
    path("v1/agent/leads/", agent.AgentLeadsView.as_view(), name="api-agent-leads"),
    path("v1/agent/leads/<int:id>/", agent.AgentLeadView.as_view(), name="api-agent-lead"),
    path("v1/agent/leads/<int:id>/activities/", agent.ActivitiesView.as_view(),
         name="api-agent-activities"),
    path("v1/agent/leads/<int:id>/activities/<int:activity_id>/",
         agent.ActivityView.as_view(), name="api-agent-activity"),
    path("v1/agent/leads/<int:id>/stage/", agent.LeadStageView.as_view(),
         name="api-agent-lead-stage"),
    path("v1/agent/leads/<int:id>/follow-up/", agent.FollowUpView.as_view(),
         name="api-agent-follow-up"),
    path("v1/agent/leads/<int:id>/follow-up/done/", agent.FollowUpDoneView.as_view(),
         name="api-agent-follow-up-done"),
    path("v1/agent/leads/<int:id>/follow-up/tomorrow/", agent.FollowUpTomorrowView.as_view(),
         name="api-agent-follow-up-tomorrow"),
    path("v1/agent/leads/<int:id>/appointments/", agent.LeadAppointmentsView.as_view(),
         name="api-agent-lead-appointments"),
    path("v1/agent/appointments/<int:id>/", agent.AppointmentView.as_view(),
         name="api-agent-appointment"),
    path("v1/agent/today/", agent.TodayView.as_view(), name="api-agent-today"),
    path("v1/agent/pond/", agent.PondView.as_view(), name="api-agent-pond"),
    path("v1/agent/pond/<int:id>/claim/", agent.PondClaimView.as_view(),
         name="api-agent-pond-claim"),
    path("v1/agent/availability/", agent.AvailabilityView.as_view(),
         name="api-agent-availability"),
    path("v1/agent/time-off/", agent.TimeOffListView.as_view(), name="api-agent-time-off"),
    path("v1/agent/time-off/<int:id>/", agent.TimeOffView.as_view(),
         name="api-agent-time-off-one"),
    path("v1/agent/fairness/", agent.FairnessView.as_view(), name="api-agent-fairness"),
    # The manager API (read).
    path("v1/manager/agents/", manager.AgentsView.as_view(), name="api-manager-agents"),
    path("v1/manager/agents/<int:id>/", manager.AgentView.as_view(),
         name="api-manager-agent"),
    path("v1/manager/rosters/", manager.RostersView.as_view(), name="api-manager-rosters"),
    path("v1/manager/rosters/<int:id>/", manager.RosterView.as_view(),
         name="api-manager-roster"),
    path("v1/manager/rules/", manager.RulesView.as_view(), name="api-manager-rules"),
    path("v1/manager/rules/<int:id>/", manager.RuleView.as_view(), name="api-manager-rule"),
    path("v1/manager/leads/", manager.LeadsView.as_view(), name="api-manager-leads"),
    path("v1/manager/leads/<int:id>/", manager.LeadView.as_view(),
         name="api-manager-lead"),
]

if os.environ.get("LEADROUTER_BENCH") == "1":  # the baseline of `manage.py bench_api` only
    urlpatterns.append(
        path("v1/bench/leads/", BareLeadCreateView.as_view(), name="api-bench-leads"))
