"""The agent's pages: offers, their leads, the pond, their turn in the rotations and their day
(follow-ups, appointments, the Today list and the calendar)."""

from django.urls import path

from leads import day_views, fairness_views, views

urlpatterns = [
    path("offers/", views.offers, name="offers"),
    path("offers/<int:offer_id>/claim/", views.offer_claim, name="offer-claim"),
    path("offers/<int:offer_id>/decline/", views.offer_decline, name="offer-decline"),
    path("leads/", views.my_leads, name="my-leads"),
    path("leads/<int:lead_id>/", views.lead_detail, name="lead-detail"),
    path("leads/<int:lead_id>/log/", views.lead_log, name="lead-log"),
    path("leads/<int:lead_id>/stage/", views.lead_stage, name="lead-stage"),
    path("leads/<int:lead_id>/follow-up/", day_views.follow_up_set, name="follow-up-set"),
    path("leads/<int:lead_id>/follow-up/done/", day_views.follow_up_done, name="follow-up-done"),
    path("leads/<int:lead_id>/follow-up/tomorrow/", day_views.follow_up_tomorrow,
         name="follow-up-tomorrow"),
    path("leads/<int:lead_id>/appointments/", day_views.appointment_new,
         name="appointment-new"),
    path("appointments/<int:appointment_id>/", day_views.appointment_edit,
         name="appointment-edit"),
    path("appointments/<int:appointment_id>/cancel/", day_views.appointment_cancel,
         name="appointment-cancel"),
    path("appointments/<int:appointment_id>.ics", day_views.appointment_ics,
         name="appointment-ics"),
    path("today/", day_views.today, name="today"),
    path("today/calendar/", day_views.calendar_feed_new, name="calendar-feed-new"),
    path("calendar/<str:token>.ics", day_views.calendar_feed, name="calendar-feed"),
    path("pond/", views.pond, name="pond"),
    path("pond/<int:lead_id>/claim/", views.pond_claim, name="pond-claim"),
    path("my-turn/", fairness_views.my_turn, name="my-turn"),
]
