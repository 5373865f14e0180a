"""The agent's pages: offers, their leads, the pond and their turn in the rotations."""

from django.urls import path

from leads import fairness_views, views

urlpatterns = [
    path("offers/", views.offers, name="offers"),
    path("offers/<int:offer_id>/claim/", views.offer_claim, name="offer-claim"),
    path("offers/<int:offer_id>/decline/", views.offer_decline, name="offer-decline"),
    path("leads/", views.my_leads, name="my-leads"),
    path("leads/<int:lead_id>/", views.lead_detail, name="lead-detail"),
    path("leads/<int:lead_id>/log/", views.lead_log, name="lead-log"),
    path("pond/", views.pond, name="pond"),
    path("pond/<int:lead_id>/claim/", views.pond_claim, name="pond-claim"),
    path("my-turn/", fairness_views.my_turn, name="my-turn"),
]
