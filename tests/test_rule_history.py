"""Every change to routing is kept: who, when, before and after; rules go back to any version."""

from __future__ import annotations

from datetime import datetime, timedelta
from html import unescape
from zoneinfo import ZoneInfo

import pytest
from django.urls import reverse

from agents.models import Roster, RosterMember, Shift
from leads.intake import receive_lead
from routing.claims import decline_offer
from routing.models import Brokerage, Offer, RoutingRecord, Rule, RuleCriterion, RuleWindow
from routing.selectors import routing_config
from tests.factories import AgentFactory, RosterFactory, RuleFactory, ShiftFactory, UserFactory
from tests.test_rule_admin import managers_group, rule_post

pytestmark = pytest.mark.django_db

NY = ZoneInfo("America/New_York")
FRIDAY = datetime(2026, 11, 20, 10, 0, tzinfo=NY)


@pytest.fixture(autouse=True)
def _fast_passwords(settings):
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]


@pytest.fixture
def manager(client):
    user = UserFactory(username="mia@example.com", first_name="Mia", last_name="Manager",
                       is_staff=True)
    user.groups.add(managers_group())
    client.force_login(user)
    client.user = user
    return client


def small_brokerage() -> dict:
    ann, bob = AgentFactory(name="Ann", email="ann@example.com"), \
        AgentFactory(name="Bob", email="bob@example.com")
    team = RosterFactory.with_members([ann], name="Downtown")
    zillow = RuleFactory(name="Zillow", priority=1, roster=team, criteria={"source": ["Zillow"]})
    everyone = RuleFactory(name="Everyone else", priority=2, is_catch_all=True,
                           roster=RosterFactory.with_members([bob], name="Office"))
    return {"ann": ann, "bob": bob, "team": team, "zillow": zillow, "catch_all": everyone}


def edit(client, rule: Rule, **kwargs):
    response = client.post(reverse("admin:routing_rule_change", args=[rule.pk]),
                           rule_post(rule, **kwargs))
    assert response.status_code == 302, response.context and response.context.get("errors")
    rule.refresh_from_db()
    return response


def test_changes_are_kept_with_who_made_them(manager):
    setup = small_brokerage()
    zillow = setup["zillow"]
    edit(manager, zillow, name="Zillow and Realtor", criteria=[("source", "Realtor.com")],
         windows=[(["sat", "sun"], "09:00", "17:00")])

    latest = zillow.history.latest()
    assert latest.history_user == manager.user and latest.history_type == "~"
    delta = latest.diff_against(latest.prev_record)
    assert [(c.field, c.old, c.new) for c in delta.changes] == [
        ("name", "Zillow", "Zillow and Realtor")]
    added = RuleCriterion.history.filter(rule_id=zillow.pk, history_type="+",
                                         value="Realtor.com").get()
    assert added.history_user == manager.user
    assert RuleWindow.history.get(rule_id=zillow.pk).history_user == manager.user
    # Rosters, members and shifts are kept too (whoever changes them).
    roster = Roster.objects.create(name="Night desk")
    member = RosterMember.objects.create(roster=roster, agent=setup["ann"], leads_per_round=2)
    member.leads_per_round = 3
    member.save()
    shift = ShiftFactory(agent=setup["ann"])
    shift_id = shift.pk
    shift.delete()
    assert roster.history.count() == 1
    assert [h.leads_per_round for h in member.history.all()] == [3, 2]
    assert [h.history_type for h in Shift.history.filter(id=shift_id)] == ["-", "+"]


def test_the_rule_history_page_shows_every_version_with_its_criteria(manager):
    zillow = small_brokerage()["zillow"]
    edit(manager, zillow, keep=False, criteria=[("source", "Facebook")])
    page = manager.get(reverse("admin:routing_rule_history", args=[zillow.pk]))
    assert page.status_code == 200
    html = unescape(page.content.decode())
    assert "Source is Facebook" in html and "Source is Zillow" in html
    assert "Deleted Source Zillow" in html
    assert "Added Source Facebook" in html
    assert "Restore this version" in html
    assert "mia@example.com" in html
    catch_all_page = manager.get(reverse("admin:routing_rule_history",
                                         args=[Rule.objects.get(is_catch_all=True).pk]))
    assert catch_all_page.status_code == 200


def test_routing_changes_page_lists_who_changed_what(manager):
    setup = small_brokerage()
    edit(manager, setup["zillow"], name="Zillow buyers", criteria=[("lead_type", "buyer")])
    member = RosterMember.objects.get(roster=setup["team"])
    member.leads_per_round = 2
    member.save()

    page = manager.get(reverse("admin:routing_rule_changes"))
    assert page.status_code == 200
    html = unescape(page.content.decode())
    assert "Mia Manager" in html
    assert "Rule 'Zillow buyers'" in html and "Name:</strong> Zillow → Zillow buyers" in html
    assert "Rule 'Zillow buyers': Lead type buyer" in html
    assert "Roster 'Downtown': Ann" in html and "Leads per round:</strong> 1 → 2" in html
    assert "system (import or script)" in html
    only = unescape(manager.get(reverse("admin:routing_rule_changes"),
                                {"what": "criteria"}).content.decode())
    assert "Lead type buyer" in only and "Leads per round" not in only
    # Linked from the rule list.
    assert reverse("admin:routing_rule_changes") in manager.get(
        reverse("admin:routing_rule_changelist")).content.decode()


def test_restoring_an_earlier_version_brings_back_its_criteria_and_windows(manager):
    setup = small_brokerage()
    zillow = setup["zillow"]
    edit(manager, zillow, criteria=[("price_min", "500000")])  # version A: Zillow, $500k+
    version_a = zillow.history.latest()
    other = RosterFactory.with_members([setup["bob"]], name="Weekend team")
    edit(manager, zillow, keep=False, name="Weekend Facebook", roster=other.pk,
         delivery="claim", claim_timeout_minutes="3",
         criteria=[("source", "Facebook")], windows=[(["sat", "sun"], "08:00", "20:00")])
    assert list(zillow.criteria.values_list("field", "value")) == [("source", "Facebook")]
    priority = zillow.priority

    page = manager.get(reverse("admin:routing_rule_simple_history",
                               args=[zillow.pk, version_a.history_id]))
    html = unescape(page.content.decode())
    assert page.status_code == 200
    assert "Source is Zillow · Price ≥ $500,000" in html and "Source is Facebook" in html
    assert "Sat, Sun 08:00-20:00" in html and "Restore this version" in html

    response = manager.post(reverse("admin:routing_rule_simple_history",
                                    args=[zillow.pk, version_a.history_id]), follow=True)
    assert "is back as it was on" in unescape(response.content.decode())
    assert "with 2 criteria and 0 day-and-time windows." in unescape(response.content.decode())
    zillow.refresh_from_db()
    assert (zillow.name, zillow.roster, zillow.delivery, zillow.priority) == (
        "Zillow", setup["team"], "assign", priority)
    assert sorted(zillow.criteria.values_list("field", "value")) == [
        ("price_min", "500000"), ("source", "Zillow")]
    assert not zillow.windows.exists()
    latest = zillow.history.latest()
    assert latest.history_user == manager.user
    assert latest.history_change_reason.startswith("Restored the version of")
    # Routing follows the restored rule at once.
    assert routing_config().rule(zillow.pk).text_criteria == {"source": ("zillow",)}
    result = receive_lead({"first_name": "Pat", "source": "Zillow", "price": "600000"},
                          channel="api", received_at=FRIDAY)
    assert result.as_dict()["rule"] == "Zillow"

    # The restore is a version too: going back to the Facebook version works the same way.
    facebook = zillow.history.filter(name="Weekend Facebook").latest()
    manager.post(reverse("admin:routing_rule_simple_history", args=[zillow.pk,
                                                                     facebook.history_id]))
    zillow.refresh_from_db()
    assert zillow.name == "Weekend Facebook" and zillow.claim_timeout_minutes == 3
    assert list(zillow.criteria.values_list("field", "value")) == [("source", "Facebook")]
    assert [(w.days, f"{w.start:%H:%M}") for w in zillow.windows.all()] == [
        (["sat", "sun"], "08:00")]


def test_restoring_keeps_the_catch_all_active_and_without_criteria(manager):
    everyone = small_brokerage()["catch_all"]
    first = everyone.history.earliest()
    edit(manager, everyone, selection="first_in_roster")
    manager.post(reverse("admin:routing_rule_simple_history", args=[everyone.pk,
                                                                     first.history_id]))
    everyone.refresh_from_db()
    assert everyone.is_catch_all and everyone.is_active and everyone.selection == "rotation"
    assert not everyone.criteria.exists()


def test_restore_refuses_when_the_name_is_taken(manager):
    setup = small_brokerage()
    zillow = setup["zillow"]
    old = zillow.history.latest()
    edit(manager, zillow, name="Zillow leads")
    RuleFactory(name="Zillow", priority=5, criteria={"city": ["Gary"]})
    response = manager.post(reverse("admin:routing_rule_simple_history",
                                    args=[zillow.pk, old.history_id]), follow=True)
    assert "Another rule is now called 'Zillow'" in unescape(response.content.decode())
    zillow.refresh_from_db()
    assert zillow.name == "Zillow leads"


def test_each_routing_record_names_the_rule_version_that_took_the_lead(manager):
    setup = small_brokerage()
    zillow = setup["zillow"]
    first = receive_lead({"first_name": "Pat", "source": "Zillow"}, channel="api",
                         received_at=FRIDAY)
    record = RoutingRecord.objects.get(lead=first.lead)
    assert record.rule_version == zillow.history.latest().history_id

    edit(manager, zillow, add_tags="zillow")
    second = receive_lead({"first_name": "Sam", "source": "Zillow"}, channel="api",
                          received_at=FRIDAY + timedelta(minutes=1))
    newer = RoutingRecord.objects.get(lead=second.lead)
    assert newer.rule_version == zillow.history.latest().history_id > record.rule_version
    version = Rule.history.get(history_id=record.rule_version)
    assert version.instance.add_tags == [] and newer.lead.tags == ["zillow"]
    # Special routing and existing leads name no rule version.
    special = receive_lead({"first_name": "Al", "source": "Zillow",
                            "assigned_to": "bob@example.com"}, channel="api", received_at=FRIDAY)
    assert RoutingRecord.objects.get(lead=special.lead).rule_version is None
    # Shown in the routing records admin, linked to that version.
    listing = manager.get(reverse("admin:routing_routingrecord_changelist")).content.decode()
    assert reverse("admin:routing_rule_simple_history",
                   args=[zillow.pk, newer.rule_version]) in listing


def test_a_lead_moved_on_within_its_rule_records_the_version_too():
    setup = small_brokerage()
    brokerage = Brokerage.load()
    brokerage.actionable_window = []
    brokerage.save()
    zillow = setup["zillow"]
    RosterMember.objects.create(roster=setup["team"], agent=setup["bob"], position=1)
    zillow.delivery = "claim"
    zillow.save()
    result = receive_lead({"first_name": "Pat", "source": "Zillow"}, channel="api",
                          received_at=FRIDAY)
    assert result.status == "offered"
    offer = Offer.objects.get(lead=result.lead)
    decline_offer(offer.pk, offer.agent, now=FRIDAY + timedelta(minutes=1))
    records = list(RoutingRecord.objects.filter(lead=result.lead).order_by("id"))
    assert len(records) == 2
    assert {r.rule_version for r in records} == {zillow.history.latest().history_id}
