"""The voice provider's webhooks of instant calls."""

from django.urls import path

from routing.call_views import call_answer, call_press, call_status

urlpatterns = [
    path("<int:call_id>/answer/", call_answer, name="call-answer"),
    path("<int:call_id>/press/", call_press, name="call-press"),
    path("<int:call_id>/status/", call_status, name="call-status"),
]
