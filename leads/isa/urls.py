"""The ISA's pages: queue, lead, hand-off, handed off, and the figures for managers."""

from django.urls import path

from leads.isa import views as isa_views

urlpatterns = [
    path("", isa_views.queue_page, name="isa-queue"),
    path("leads/<int:lead_id>/", isa_views.lead_page, name="isa-lead"),
    path("leads/<int:lead_id>/log/", isa_views.lead_log, name="isa-lead-log"),
    path("leads/<int:lead_id>/card/", isa_views.lead_card, name="isa-lead-card"),
    path("leads/<int:lead_id>/qualify/", isa_views.lead_qualify, name="isa-lead-qualify"),
    path("leads/<int:lead_id>/handoff/", isa_views.lead_handoff, name="isa-lead-handoff"),
    path("handed-off/", isa_views.handed_off_page, name="isa-handed-off"),
    path("figures/", isa_views.figures_page, name="isa-figures"),
]
