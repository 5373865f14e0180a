"""The admin's "Preview changes": on the unsaved rule form and on an uploaded routing file."""

from __future__ import annotations

import pytest
import yaml
from django.contrib.admin.models import LogEntry
from django.core.files.uploadedfile import SimpleUploadedFile
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse

from agents.models import Agent, Roster
from routing.models import Rule, RuleCriterion
from routing.selectors import routing_config
from tests.test_backtest import (  # noqa: F401  (office: the fixture)
    WRITES,
    office,
    proposal,
    zillow_to_the_team,
)
from tests.test_rule_admin import manager_user, rule_post

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("office")]


@pytest.fixture(autouse=True)
def _fast_passwords(settings):
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]


@pytest.fixture
def manager(client):
    client.force_login(manager_user())
    return client


def agents_table(response) -> dict[str, tuple[int, int, int]]:
    result = response.context["backtest"]
    return {row.name: (row.actual, row.proposed, row.difference) for row in result.agents}


def saved_state() -> tuple:
    rule = Rule.objects.get(name="Zillow buyers")
    return (rule.roster.name, Rule.objects.count(), RuleCriterion.objects.count(),
            Rule.history.count(), LogEntry.objects.count())


def test_preview_of_an_unsaved_rule_shows_the_table_and_saves_nothing(manager):
    rule = Rule.objects.get(name="Zillow buyers")
    team = Roster.objects.get(name="Zillow team")
    before = saved_state()
    manager.get(reverse("admin:routing_rule_change", args=[rule.pk]))
    routing_config()

    with CaptureQueriesContext(connection) as queries:
        response = manager.post(reverse("admin:routing_rule_preview", args=[rule.pk]),
                                rule_post(rule, roster=team.pk, _preview="1"))

    assert response.status_code == 200
    assert agents_table(response) == {"Ann": (4, 1, -3), "Ben": (2, 1, -1),
                                      "Cara": (0, 2, 2), "Dan": (0, 2, 2)}
    page = response.content.decode()
    assert "Preview: the last 30 days with these changes" in page
    assert "4 of 6 leads</strong> would go to someone else" in page
    assert 'id="backtest-chart-data"' in page and "chart.umd.min.js" in page
    # The form comes back as sent: the new roster chosen, Save posting to the change page.
    assert response.context["adminform"].form["roster"].value() == str(team.pk)
    assert f'action="{reverse("admin:routing_rule_change", args=[rule.pk])}"' in page
    assert saved_state() == before
    writes = [q["sql"] for q in queries if q["sql"].lstrip().upper().startswith(WRITES)]
    assert writes == []


def test_preview_of_a_new_rule_puts_it_above_the_catch_all(manager):
    team = Roster.objects.get(name="Zillow team")
    response = manager.post(reverse("admin:routing_rule_preview_new"), rule_post(
        name="Website leads", roster=team.pk, criteria=[("source", "Website")], _preview="1"))

    rules = {row.name: (row.actual, row.proposed) for row in response.context["backtest"].rules}
    assert rules == {"Zillow buyers": (4, 4), "Everyone else": (2, 0), "Website leads": (0, 2)}
    assert not Rule.objects.filter(name="Website leads").exists()


def test_the_period_is_chosen_on_the_form(manager):
    rule = Rule.objects.get(name="Zillow buyers")
    response = manager.post(reverse("admin:routing_rule_preview", args=[rule.pk]),
                            rule_post(rule, _preview="1", backtest_days="7"))
    assert response.context["backtest"].leads == 0  # the leads came 12 days ago
    assert "Preview: the last 7 days" in response.content.decode()
    assert '<option value="7" selected>' in response.content.decode()


def test_an_invalid_form_is_shown_with_its_errors_and_no_preview(manager):
    response = manager.post(reverse("admin:routing_rule_preview_new"),
                            rule_post(name="Takes everything", roster=Roster.objects.first().pk,
                                      _preview="1"))
    assert response.status_code == 200
    assert response.context["backtest"] is None
    page = response.content.decode()
    assert "Fix the problems below" in page
    assert "at least one criterion or one day-and-time window" in page


def test_the_rule_form_has_the_preview_button(manager):
    rule = Rule.objects.get(name="Zillow buyers")
    page = manager.get(reverse("admin:routing_rule_change", args=[rule.pk])).content.decode()
    assert "Preview changes" in page
    assert f'formaction="{reverse("admin:routing_rule_preview", args=[rule.pk])}"' in page


def test_an_agent_cannot_preview(client):
    client.force_login(Agent.objects.get(name="Ann").user)
    rule = Rule.objects.get(name="Zillow buyers")
    response = client.post(reverse("admin:routing_rule_preview", args=[rule.pk]),
                           rule_post(rule, _preview="1"))
    assert response.status_code == 302 and "/login/" in response["Location"]


# --- A routing file ---------------------------------------------------------------------------


def upload(text: str, name: str = "proposal.yaml") -> SimpleUploadedFile:
    return SimpleUploadedFile(name, text.encode(), content_type="application/x-yaml")


def test_an_uploaded_file_is_previewed_then_applied(manager):
    url = reverse("admin:routing_rule_import")
    assert "Import a routing file" in manager.get(url).content.decode()
    text = proposal(zillow_to_the_team)

    response = manager.post(url, {"file": upload(text), "backtest_days": "30",
                                  "_preview": "1"})

    assert agents_table(response)["Cara"] == (0, 2, 2)
    page = response.content.decode()
    assert "with this file" in page and "Apply this file" in page
    assert Rule.objects.get(name="Zillow buyers").roster.name == "Office"  # not yet

    response = manager.post(url, {"text": response.context["form"].initial["text"],
                                  "_apply": "1"})
    assert response.status_code == 302
    assert Rule.objects.get(name="Zillow buyers").roster.name == "Zillow team"


def test_todays_file_can_be_downloaded(manager):
    response = manager.get(reverse("admin:routing_rule_export"))
    assert response["Content-Disposition"] == 'attachment; filename="routing.yaml"'
    assert "Zillow buyers" in response.content.decode()


def test_a_bad_file_lists_its_problems_with_their_places(manager):
    doc = yaml.safe_load(proposal())
    doc["rules"][0]["roster"] = "Nobody"
    response = manager.post(reverse("admin:routing_rule_import"),
                            {"file": upload(yaml.safe_dump(doc)), "_preview": "1"})
    assert response.context["backtest"] is None
    assert "rules[0].roster: unknown roster Nobody" in response.content.decode()


def test_no_file_asks_for_one(manager):
    response = manager.post(reverse("admin:routing_rule_import"), {"_preview": "1"})
    assert "Choose a routing file." in response.content.decode()
