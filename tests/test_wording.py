"""Words for people on the admin and ISA pages: positions counted from 1, a change with its old
value, a submission's time in brokerage time, no empty choice groups, plain labels."""

from __future__ import annotations

from datetime import datetime
from html import unescape
from zoneinfo import ZoneInfo

import pytest
from django.urls import reverse

from leads.intake import receive_lead
from leads.isa.views import HandoffForm
from leads.models import Submission
from routing.engine import render_trace
from routing.models import Brokerage, HandoffRotation, HandoffTarget, RuleCriterion
from tests.factories import AgentFactory, RosterFactory, RuleFactory, UserFactory
from tests.test_rule_admin import managers_group

pytestmark = pytest.mark.django_db

NY = ZoneInfo("America/New_York")


@pytest.fixture
def manager(client):
    user = UserFactory(username="mia@example.com", is_staff=True)
    user.groups.add(managers_group())
    client.force_login(user)
    return client


def page_text(response) -> str:
    assert response.status_code == 200
    return unescape(response.content.decode())


def test_a_changed_criterion_shows_its_old_value(manager):
    rule = RuleFactory(name="Hot", roster=RosterFactory.with_members([AgentFactory()]),
                       criteria={"score_min": 50})
    criterion = RuleCriterion.objects.get(rule=rule)
    criterion.value = "75"
    criterion.save()
    html = page_text(manager.get(reverse("admin:routing_rule_history", args=[rule.pk])))
    assert "Score at least: 50 → 75" in html
    assert "Changed Score at least 75" not in html


def test_roster_positions_read_from_1(manager):
    ann, bob = AgentFactory(name="Ann Lee"), AgentFactory(name="Bob Ray")
    roster = RosterFactory.with_members([ann, bob], name="Office")  # stored from 0
    RuleFactory(name="Everyone", roster=roster, is_catch_all=True)
    html = page_text(manager.get(reverse("admin:agents_roster_change", args=[roster.pk])))
    assert "Ann Lee (position 1), lead 1 of 1 in the turn" in html
    assert "position 0" not in html and "Office #0" not in html


def test_a_routing_decision_counts_positions_from_1():
    brokerage = Brokerage.load()
    brokerage.actionable_window = [{"days": ["mon", "tue", "wed", "thu", "fri", "sat", "sun"],
                                    "start": "00:00", "end": "23:59"}]
    brokerage.save()
    ann, bob = AgentFactory(name="Ann Lee"), AgentFactory(name="Bob Ray")
    RuleFactory(name="Everyone", is_catch_all=True, roster=RosterFactory.with_members([ann, bob]))
    result = receive_lead({"first_name": "Pat", "email": "pat@example.org", "source": "Zillow"},
                          channel="api", received_at=datetime(2026, 12, 2, 10, tzinfo=NY))
    lines = render_trace(result.lead.routing_records.get().trace)
    assert any("(position 1, 1 per round)" in line for line in lines), lines
    assert any("(position 2, 1 per round)" in line for line in lines), lines
    assert not any("position 0" in line for line in lines)


def test_the_submission_title_is_in_brokerage_time(manager):
    Brokerage.objects.update_or_create(pk=1, defaults={"timezone": "America/New_York"})
    submission = Submission.objects.create(
        channel=Submission.Channel.API, source="Zillow", outcome=Submission.Outcome.REJECTED,
        payload={}, errors={"email": "missing"},
        received_at=datetime(2026, 12, 2, 23, 30, tzinfo=ZoneInfo("UTC")))
    html = page_text(manager.get(reverse("admin:leads_submission_change",
                                         args=[submission.pk])))
    assert "Wed 2026-12-02 18:30: rejected" in html  # 23:30 UTC is 18:30 in New York
    assert "2026-12-02 23:30" not in html


def test_the_hand_off_choices_hide_an_empty_group():
    AgentFactory(name="Ann Lee")
    labels = [label for label, _ in HandoffForm().fields["to"].choices]
    assert "Hand-off targets" not in labels and "Agents" in labels
    HandoffTarget.objects.create(name="Downtown", roster=RosterFactory())
    labels = [label for label, _ in HandoffForm().fields["to"].choices]
    assert "Hand-off targets" in labels


def test_the_hand_off_target_says_whose_turn_it_is_plainly(manager):
    ann, bob = AgentFactory(name="Ann Lee"), AgentFactory(name="Bob Ray")
    target = HandoffTarget.objects.create(name="Downtown",
                                          roster=RosterFactory.with_members([ann, bob]))
    HandoffRotation.objects.create(target=target, agent=bob, position=1, given=1)
    html = page_text(manager.get(reverse("admin:routing_handofftarget_change",
                                         args=[target.pk])))
    assert "Whose turn it is" in html and "2 of 2" in html
    assert "Rotation (whose turn it is)" not in html


def test_one_criterion_is_a_criterion(manager):
    assert str(RuleCriterion._meta.verbose_name) == "criterion"
    html = page_text(manager.get(reverse("admin:routing_rule_add")))
    assert "criterias" not in html.lower() and "rule criterion" not in html.lower()


def test_an_unknown_report_period_is_said_and_the_shown_one_selected(manager):
    html = page_text(manager.get("/admin/reports/sources/?period=fortnight"))
    assert "“fortnight” is not a period these reports know. Showing Last 7 days instead." in html
    assert '<option value="7d" selected>' in html


def test_the_web_form_snippet_posts_to_the_site_address(manager, settings):
    from leads.admin import form_snippet
    from leads.models import LeadSource, WebForm

    settings.SITE_URL = "https://leads.example.com/"
    form = WebForm(slug="open-house", name="Open house", thank_you_url="https://x.test/",
                   source=LeadSource.objects.create(name="Website"))
    assert 'action="https://leads.example.com/intake/open-house/"' in form_snippet(form)


def test_a_thank_you_address_without_scheme_means_https(manager, recwarn):
    from leads.models import LeadSource, WebForm

    source = LeadSource.objects.create(name="Website")
    response = manager.post(reverse("admin:leads_webform_add"), {
        "name": "Open house", "slug": "open-house", "source": source.pk,
        "thank_you_url": "example.com/thanks", "active": "on"})
    assert response.status_code == 302
    assert WebForm.objects.get().thank_you_url == "https://example.com/thanks"
    assert not [w for w in recwarn if "assume_scheme" in str(w.message)]
