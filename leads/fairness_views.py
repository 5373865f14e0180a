"""The agent's "My turn" page: where they stand in each rotation, this week's leads against
their share, and the turns they missed and why (``routing.fairness``)."""

from __future__ import annotations

from django.http import HttpRequest, HttpResponse
from django.utils import timezone

from agents.pages import agent_required, render_page
from routing.fairness import Standing, agent_standing, missed_lines
from routing.selectors import routing_config


def standing_words(standing: Standing) -> dict:
    """One rotation as the page says it."""
    if standing.why_not_now:
        turn = standing.why_not_now
    elif standing.turns_before == 0:
        turn = "The next lead is yours."
    elif standing.turns_before is not None:
        leads = "lead" if standing.turns_before == 1 else "leads"
        turn = (f"{standing.next_name} is next; your turn comes after "
                f"{standing.turns_before} more {leads}.")
    else:
        turn = ""
    expected = round(standing.expected, 1)
    share = f"{expected:g}"
    return {
        "standing": standing,
        "turn": turn,
        "week": (f"You got {standing.received} of its {standing.leads} "
                 f"lead{'' if standing.leads == 1 else 's'}; your share is {share}."
                 if standing.leads else "It gave out no leads yet."),
        "behind": standing.received + 0.5 < standing.expected,
    }


@agent_required
def my_turn(request: HttpRequest) -> HttpResponse:
    now = timezone.now()
    tz_name = routing_config().timezone
    items = [{**standing_words(s), "missed": missed_lines(s.missed, tz_name, now)}
             for s in agent_standing(request.agent, now)]
    return render_page(request, "leads/fairness.html", {"items": items})
