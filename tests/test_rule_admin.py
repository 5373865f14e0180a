"""The rule editor in the admin: the list, the order, the form, test a lead, the settings."""

from __future__ import annotations

import importlib
import json
from datetime import datetime, timedelta
from html import unescape
from zoneinfo import ZoneInfo

import pytest
from django.contrib.auth.models import Group, Permission
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from django.utils import timezone

from agents.models import Agent, RosterMember
from leads.intake import receive_lead
from leads.models import Activity, Lead, Submission
from notifications.models import Notification
from routing.admin import CATCH_ALL_ALWAYS_ACTIVE, CATCH_ALL_NO_CRITERIA, NEEDS_CRITERIA, dry_run
from routing.models import Brokerage, Offer, RotationState, RoutingRecord, Rule, RuleCriterion
from routing.selectors import routing_config
from tests.factories import AgentFactory, LeadFactory, RosterFactory, RuleFactory, UserFactory

pytestmark = pytest.mark.django_db

NY = ZoneInfo("America/New_York")
FRIDAY = datetime(2026, 11, 20, 10, 0, tzinfo=NY)
SATURDAY = datetime(2026, 11, 21, 10, 0, tzinfo=NY)
WEEKDAYS = ["mon", "tue", "wed", "thu", "fri"]
CHANGELIST = "admin:routing_rule_changelist"


@pytest.fixture(autouse=True)
def _fast_passwords(settings):
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]


def managers_group() -> Group:
    """The Managers group of the groups migration (a flushed database gets it back)."""
    group, created = Group.objects.get_or_create(name="Managers")
    if created:
        spec = importlib.import_module("agents.migrations.0002_groups")
        wanted = [(spec.MANAGED, ("add", "change", "delete", "view")),
                  (spec.VIEW_AND_CHANGE, ("change", "view")), (spec.VIEW_ONLY, ("view",))]
        group.permissions.set([
            Permission.objects.get(content_type__app_label=app, codename=f"{action}_{model}")
            for models, actions in wanted for app, names in models.items() for model in names
            for action in actions
        ])
    return group


def manager_user(username: str = "manager@example.com"):
    user = UserFactory(username=username, is_staff=True)
    user.groups.add(managers_group())
    return user


@pytest.fixture
def manager_client(client):
    client.force_login(manager_user())
    return client


@pytest.fixture(params=["superuser", "manager"])
def staff_client(request, client, admin_user):
    """The admin as a superuser, and as a Managers-group staff user."""
    client.force_login(admin_user if request.param == "superuser" else manager_user())
    return client


def agent(name: str, **kw) -> Agent:
    return AgentFactory(name=name, email=f"{name.lower()}@example.com", **kw)


def brokerage_of_three() -> dict:
    """A luxury rule (weekdays), an unstaffed Facebook rule and the catch-all."""
    ann, bob, cat = agent("Ann"), agent("Bob"), agent("Cat")
    team = RosterFactory.with_members([ann, bob], name="Downtown")
    luxury = RuleFactory(
        name="Zillow luxury buyers", roster=team, priority=1,
        criteria={"source": ["Zillow", "Realtor.com"], "lead_type": ["buyer"],
                  "price_min": 1000000},
        windows=[(WEEKDAYS, "08:00", "21:00")],
    )
    nobody = RosterFactory(name="Empty")
    facebook = RuleFactory(name="Facebook", roster=nobody, priority=2,
                           criteria={"source": ["Facebook"]})
    everyone = RuleFactory(name="Everyone else", is_catch_all=True, priority=3,
                           roster=RosterFactory.with_members([cat], name="Office"))
    return {"ann": ann, "bob": bob, "cat": cat, "luxury": luxury, "facebook": facebook,
            "catch_all": everyone, "team": team}


def lead(**fields) -> dict:
    data = {"first_name": "Pat", "last_name": "Buyer", "email": "pat@example.org"}
    data.update(fields)
    return data


_emails = iter(range(1, 1_000_000))


def receive(at: datetime, **fields):
    n = next(_emails)
    return receive_lead(lead(email=f"pat{n}@example.org", **fields), channel="api",
                        received_at=at)


def rule_post(rule: Rule | None = None, *, criteria=(), windows=(), keep=True, **fields) -> dict:
    """The rule form as the browser sends it: existing rows kept (or deleted), new rows added."""
    data = {
        "name": rule.name if rule else "New rule",
        "is_active": "on" if (rule is None or rule.is_active) else None,
        "roster": rule.roster_id if rule else "",
        "selection": rule.selection if rule else "rotation",
        "lender_roster": "", "delivery": rule.delivery if rule else "assign",
        "claim_timeout_minutes": rule.claim_timeout_minutes if rule else 5,
        "after_hours": "offer", "escalate_to": "", "first_contact_minutes": "",
        "add_tags": ", ".join(rule.add_tags) if rule else "",
    }
    data.update(fields)
    for prefix, existing, new in (
        ("criteria", list(rule.criteria.all()) if rule else [], list(criteria)),
        ("windows", list(rule.windows.all()) if rule else [], list(windows)),
    ):
        data.update({f"{prefix}-TOTAL_FORMS": len(existing) + len(new),
                     f"{prefix}-INITIAL_FORMS": len(existing),
                     f"{prefix}-MIN_NUM_FORMS": 0, f"{prefix}-MAX_NUM_FORMS": 1000})
        for i, row in enumerate(existing):
            data[f"{prefix}-{i}-id"] = row.pk
            data[f"{prefix}-{i}-rule"] = rule.pk
            if prefix == "criteria":
                data[f"{prefix}-{i}-field"], data[f"{prefix}-{i}-value"] = row.field, row.value
            else:
                data[f"{prefix}-{i}-days"] = row.days
                data[f"{prefix}-{i}-start"] = f"{row.start:%H:%M}"
                data[f"{prefix}-{i}-end"] = f"{row.end:%H:%M}"
            if not keep:
                data[f"{prefix}-{i}-DELETE"] = "on"
        for j, row in enumerate(new, start=len(existing)):
            if prefix == "criteria":
                data[f"{prefix}-{j}-field"], data[f"{prefix}-{j}-value"] = row
            else:
                data[f"{prefix}-{j}-days"], data[f"{prefix}-{j}-start"], \
                    data[f"{prefix}-{j}-end"] = row
    return {k: v for k, v in data.items() if v is not None}


def errors_of(response) -> str:
    """Every error the page shows: the form's, and the inlines' rows and lists."""
    assert response.status_code == 200, response.status_code
    parts = [str(response.context["errors"])] if "errors" in response.context else []
    for formset in response.context.get("inline_admin_formsets", []):
        parts.append(str(formset.formset.non_form_errors()))
        parts.extend(str(form.errors) for form in formset.formset.forms)
    return " ".join(parts)


def rows_snapshot() -> tuple:
    return (
        Lead.objects.count(), RoutingRecord.objects.count(), Offer.objects.count(),
        Notification.objects.count(), Activity.objects.count(), Submission.objects.count(),
        sorted(RotationState.objects.values_list("rule_id", "kind", "agent_id", "position",
                                                 "given")),
        Rule.objects.count(), RuleCriterion.objects.count(),
    )


# --- The list ---------------------------------------------------------------------------------


def last_weekday_morning() -> datetime:
    """The latest weekday 10:00 (brokerage time) before now: inside the luxury rule's hours."""
    moment = timezone.now().astimezone(NY).replace(hour=10, minute=0, second=0, microsecond=0)
    while moment > timezone.now() or moment.weekday() > 4:
        moment -= timedelta(days=1)
    return moment


def test_rule_list_reads_in_words_with_recent_counts(staff_client):
    setup = brokerage_of_three()
    recent = last_weekday_morning()
    for _ in range(2):
        receive(recent, source="Zillow", lead_type="buyer", price="1500000")
    receive(recent, source="Facebook")  # nobody on Facebook: goes on to the catch-all
    receive(timezone.now() - timedelta(days=9), source="Facebook")  # too old to count

    response = staff_client.get(reverse(CHANGELIST))
    assert response.status_code == 200
    html = response.content.decode()
    assert "Source is Zillow or Realtor.com · Buyer · Price ≥ $1,000,000" in html
    assert "Mon-Fri 08:00-21:00" in html
    assert "Always" in html
    assert "Everything no other rule takes" in html
    assert "catch-all · always last" in html
    assert "Rotation" in html and "Auto-assign" in html
    assert "Leads (7 days)" in html
    assert "Test a lead" in html and "Routing changes" in html
    rows = {r.name: r for r in response.context["cl"].result_list}
    assert [r.name for r in response.context["cl"].result_list] == [
        "Zillow luxury buyers", "Facebook", "Everyone else"]
    assert rows["Zillow luxury buyers"].leads_recent == 2
    assert rows["Facebook"].leads_recent == 0
    assert rows["Everyone else"].leads_recent == 1
    assert not rows["Facebook"].has_receivers and rows["Zillow luxury buyers"].has_receivers
    assert html.count("⚠ nobody can receive") == 1
    # Sorted by priority: the drag handles are there, the catch-all's one is locked.
    assert html.count('class="drag handle') == 3
    assert html.count("catch-all-handle") == 1
    assert setup["catch_all"].name in html


def test_rule_list_costs_the_same_queries_for_more_rules(manager_client):
    brokerage_of_three()

    def queries() -> int:
        with CaptureQueriesContext(connection) as captured:
            assert manager_client.get(reverse(CHANGELIST)).status_code == 200
        return len(captured)

    few = queries()
    for i in range(6):
        RuleFactory(name=f"Extra {i}", priority=10 + i, criteria={"city": [f"Town {i}"]},
                    windows=[(["sat"], "09:00", "12:00")])
    assert queries() == few


def test_unstaffed_rule_is_flagged_in_the_list_and_on_the_form(manager_client):
    setup = brokerage_of_three()
    paused, inactive, idle = agent("Pia", accepting_leads=False), agent("Ian", is_active=False), \
        agent("Ida")
    roster = RosterFactory.with_members([paused, inactive, idle], weights=[1, 1, 0], name="Odd")
    odd = RuleFactory(name="Odd crew", roster=roster, priority=2, criteria={"city": ["Gary"]})

    html = manager_client.get(reverse(CHANGELIST)).content.decode()
    assert html.count("⚠ nobody can receive") == 2  # empty roster, and this one
    form = manager_client.get(reverse("admin:routing_rule_change", args=[odd.pk]))
    text = form.content.decode()
    assert "⚠ nobody can receive" in text
    assert "every member is inactive, paused or set to 0 leads per round" in text
    text = manager_client.get(reverse("admin:routing_rule_change",
                                      args=[setup["facebook"].pk])).content.decode()
    assert "Roster &#x27;Empty&#x27; has nobody on it." in text
    fine = manager_client.get(reverse("admin:routing_rule_change", args=[setup["luxury"].pk]))
    assert "2 of 2 on roster" in fine.content.decode()

    # Once someone can receive, the flag goes.
    RosterMember.objects.filter(agent=idle).update(leads_per_round=1)
    html = manager_client.get(reverse(CHANGELIST)).content.decode()
    assert html.count("⚠ nobody can receive") == 1


# --- Activate, pause, delete ------------------------------------------------------------------


def post_action(client, action: str, rules: list[Rule], **extra):
    return client.post(reverse(CHANGELIST), {"action": action, "index": 0,
                                             "_selected_action": [r.pk for r in rules], **extra},
                       follow=True)


def test_pause_and_activate_actions(staff_client):
    setup = brokerage_of_three()
    luxury, facebook, everyone = setup["luxury"], setup["facebook"], setup["catch_all"]

    response = post_action(staff_client, "pause_rules", [luxury, facebook, everyone])
    text = response.content.decode()
    assert "Paused 2 rules." in text
    assert "&#x27;Everyone else&#x27; was not paused: The catch-all rule is always active" in text
    assert list(Rule.objects.filter(is_active=True).values_list("name", flat=True)) == [
        "Everyone else"]
    assert [r.is_active for r in routing_config().rules] == [False, False, True]

    response = post_action(staff_client, "activate_rules", [luxury])
    assert "Activated 1 rule." in response.content.decode()
    luxury.refresh_from_db()
    facebook.refresh_from_db()
    assert luxury.is_active and not facebook.is_active


def test_catch_all_cannot_be_deleted(staff_client):
    setup = brokerage_of_three()
    everyone, facebook = setup["catch_all"], setup["facebook"]

    assert staff_client.get(reverse("admin:routing_rule_delete",
                                    args=[everyone.pk])).status_code == 403
    assert staff_client.post(reverse("admin:routing_rule_delete",
                                     args=[everyone.pk]), {"post": "yes"}).status_code == 403
    change = staff_client.get(reverse("admin:routing_rule_change", args=[everyone.pk]))
    assert reverse("admin:routing_rule_delete", args=[everyone.pk]) not in \
        change.content.decode()

    # Bulk delete: the confirmation lists only the other rule, and says why.
    confirm = post_action(staff_client, "delete_selected", [everyone, facebook])
    text = confirm.content.decode()
    assert "&#x27;Everyone else&#x27; was not deleted: the catch-all rule takes every lead" in text
    assert "Are you sure" in text
    done = post_action(staff_client, "delete_selected", [everyone, facebook], post="yes")
    assert done.status_code == 200
    assert set(Rule.objects.values_list("name", flat=True)) == {"Zillow luxury buyers",
                                                                "Everyone else"}
    # Only the catch-all selected: nothing to confirm, nothing deleted.
    only = post_action(staff_client, "delete_selected", [everyone])
    assert "was not deleted" in only.content.decode()
    assert Rule.objects.filter(pk=everyone.pk).exists()


def test_catch_all_cannot_be_deactivated_or_given_criteria(staff_client):
    everyone = brokerage_of_three()["catch_all"]
    url = reverse("admin:routing_rule_change", args=[everyone.pk])

    response = staff_client.post(url, rule_post(everyone, is_active=None))
    assert CATCH_ALL_ALWAYS_ACTIVE in errors_of(response).replace("&#x27;", "'")
    response = staff_client.post(url, rule_post(everyone, criteria=[("source", "Zillow")]))
    assert CATCH_ALL_NO_CRITERIA in errors_of(response).replace("&#x27;", "'")
    response = staff_client.post(url, rule_post(everyone, windows=[(["sat"], "08:00", "12:00")]))
    assert "applies at all hours" in errors_of(response)
    everyone.refresh_from_db()
    assert everyone.is_active and not everyone.criteria.exists()
    # A plain save (e.g. a new roster) is fine.
    response = staff_client.post(url, rule_post(everyone, selection="first_in_roster"))
    assert response.status_code == 302
    everyone.refresh_from_db()
    assert everyone.selection == "first_in_roster"


# --- Order ------------------------------------------------------------------------------------


def reorder(client, items: list[tuple[Rule, int]]):
    """What sortable2's script posts after a drop: [[pk, order], ...] of the moved rows."""
    return client.post(reverse("admin:routing_rule_sortable_update"),
                       json.dumps({"updatedItems": [[str(r.pk), order] for r, order in items]}),
                       content_type="application/json")


def test_dragging_changes_the_order_that_routing_follows(staff_client):
    setup = brokerage_of_three()
    ann = setup["ann"]
    buyers = RuleFactory(name="All buyers", priority=4, criteria={"lead_type": ["buyer"]},
                         roster=RosterFactory.with_members([setup["bob"]]))
    assert receive(FRIDAY, source="Zillow", lead_type="buyer", price="2000000").lead.owner == ann
    # Drag "All buyers" (4th row, just above the catch-all) to the top.
    luxury, facebook = setup["luxury"], setup["facebook"]
    response = reorder(staff_client, [(buyers, 1), (luxury, 2), (facebook, 3)])
    assert response.status_code == 200, response.content
    # sortable2 orders the 4 rows 1..4 with the catch-all on 3: it is moved back to the bottom.
    order = list(Rule.objects.values_list("name", flat=True))
    assert order == ["All buyers", "Zillow luxury buyers", "Facebook", "Everyone else"]
    assert [r.name for r in routing_config().rules] == order
    result = receive(FRIDAY, source="Zillow", lead_type="buyer", price="2000000")
    assert result.as_dict()["rule"] == "All buyers"
    assert Rule.history.filter(history_change_reason="Moved in the rule order").exists()


def test_catch_all_cannot_be_moved_above_another_rule(staff_client):
    setup = brokerage_of_three()
    everyone, luxury, facebook = setup["catch_all"], setup["luxury"], setup["facebook"]
    # Dropped at the top, as the script would send it.
    response = reorder(staff_client, [(everyone, 1), (luxury, 2), (facebook, 3)])
    assert response.status_code == 200
    everyone.refresh_from_db()
    others = Rule.objects.exclude(pk=everyone.pk).values_list("priority", flat=True)
    assert everyone.priority > max(others)
    assert list(Rule.objects.values_list("name", flat=True))[-1] == "Everyone else"
    # A rule dropped below the catch-all lands just above it.
    response = reorder(staff_client, [(facebook, 2), (everyone, 3), (luxury, 4)])
    assert response.status_code == 200
    assert list(Rule.objects.values_list("name", flat=True)) == [
        "Facebook", "Zillow luxury buyers", "Everyone else"]
    # Nonsense is refused without changing anything.
    assert staff_client.post(reverse("admin:routing_rule_sortable_update"),
                             json.dumps({"updatedItems": [["999999", 1]]}),
                             content_type="application/json").status_code == 400


def test_a_new_rule_lands_just_above_the_catch_all(manager_client):
    setup = brokerage_of_three()
    response = manager_client.post(reverse("admin:routing_rule_add"), rule_post(
        name="Sellers", roster=setup["team"].pk, criteria=[("lead_type", "Seller")]))
    assert response.status_code == 302, errors_of(response)
    assert list(Rule.objects.values_list("name", flat=True)) == [
        "Zillow luxury buyers", "Facebook", "Sellers", "Everyone else"]


# --- The form ---------------------------------------------------------------------------------


def test_a_rule_is_saved_from_words_a_manager_types(manager_client):
    setup = brokerage_of_three()
    response = manager_client.post(reverse("admin:routing_rule_add"), rule_post(
        name="Luxury weekends", roster=setup["team"].pk, add_tags="lux,  weekend ,lux",
        claim_timeout_minutes="nonsense", escalate_to="not even a number",
        criteria=[("source", " Zillow "), ("price_min", "$1,500,000"), ("score_min", "80"),
                  ("lead_type", "Buyer")],
        windows=[(["sat", "sun"], "22:00", "06:00")]))
    assert response.status_code == 302, errors_of(response)
    rule = Rule.objects.get(name="Luxury weekends")
    assert rule.add_tags == ["lux", "weekend"]
    # Delivery is auto-assign: the hidden claim settings keep their defaults.
    assert rule.claim_timeout_minutes == 5 and rule.escalate_to is None
    assert sorted(rule.criteria.values_list("field", "value")) == [
        ("lead_type", "buyer"), ("price_min", "1500000"), ("score_min", "80"),
        ("source", "Zillow")]
    window = rule.windows.get()
    assert window.days == ["sat", "sun"] and f"{window.start:%H:%M}-{window.end:%H:%M}" == \
        "22:00-06:00"
    info = routing_config().rule(rule.pk)
    assert info.price_min == 1500000 and info.windows[0].contains(
        datetime(2026, 11, 22, 3, 0, tzinfo=NY))  # Sunday 03:00: Saturday night's window
    html = manager_client.get(reverse(CHANGELIST)).content.decode()
    assert "Source is Zillow · Buyer · Price ≥ $1,500,000 · Score ≥ 80" in html
    assert "Sat, Sun 22:00-06:00 (overnight)" in html


def test_claim_settings_are_checked_when_the_delivery_is_a_claim(manager_client):
    setup = brokerage_of_three()
    luxury = setup["luxury"]
    url = reverse("admin:routing_rule_change", args=[luxury.pk])
    page = manager_client.get(url).content.decode()
    assert 'class="module aligned claim-settings"' in page and "routing/rule_form.js" in page

    response = manager_client.post(url, rule_post(luxury, delivery="claim",
                                                  claim_timeout_minutes=""))
    assert "Give the minutes an agent has to claim the lead" in errors_of(response)
    response = manager_client.post(url, rule_post(
        luxury, delivery="first_to_claim", claim_timeout_minutes="3", after_hours="assign",
        escalate_to=setup["cat"].pk))
    assert response.status_code == 302, errors_of(response)
    luxury.refresh_from_db()
    assert (luxury.delivery, luxury.claim_timeout_minutes, luxury.after_hours,
            luxury.escalate_to) == ("first_to_claim", 3, "assign", setup["cat"])


@pytest.mark.parametrize(("criteria", "windows", "message"), [
    ([("price_min", "2,000,000"), ("price_max", "1,000,000")], [],
     "'Price at least' ($2,000,000) is above 'Price at most' ($1,000,000): no lead could match"),
    ([("price_min", "a million")], [], "Price at least needs a number, e.g. 1000000"),
    ([("score_min", "7.5")], [], "A score is a whole number"),
    ([("price_max", "-5")], [], "Price at most cannot be below 0."),
    ([("lead_type", "renter")], [], "A lead type is buyer or seller"),
    ([("source", "Zillow"), ("source", "zillow")], [], "Source 'zillow' is listed twice"),
    ([("price_min", "1"), ("price_min", "2")], [], "'Price at least' is given twice"),
    ([], [], NEEDS_CRITERIA),
    ([], [(["sat"], "09:00", "09:00")], "The end is the same time as the start"),
    ([], [([], "09:00", "17:00")], "Tick at least one day."),
    ([], [(["mon", "someday"], "09:00", "17:00")], "Unknown day: use Mon to Sun."),
    ([], [(["mon"], "9 o'clock", "17:00")], "Give a time as HH:MM"),
])
def test_mistakes_are_explained_in_plain_words(manager_client, criteria, windows, message):
    setup = brokerage_of_three()
    before = rows_snapshot()
    response = manager_client.post(reverse("admin:routing_rule_add"), rule_post(
        name="Mistake", roster=setup["team"].pk, criteria=criteria, windows=windows))
    assert message in errors_of(response).replace("&#x27;", "'")
    assert "Please correct the error" in response.content.decode()
    assert rows_snapshot() == before


def test_overnight_windows_are_allowed(manager_client):
    setup = brokerage_of_three()
    response = manager_client.post(reverse("admin:routing_rule_add"), rule_post(
        name="Night owls", roster=setup["team"].pk, windows=[(WEEKDAYS, "21:00", "08:00")]))
    assert response.status_code == 302, errors_of(response)
    assert "Mon-Fri 21:00-08:00 (overnight)" in manager_client.get(
        reverse(CHANGELIST)).content.decode()


def test_the_form_keeps_existing_rows_and_deletes_marked_ones(manager_client):
    luxury = brokerage_of_three()["luxury"]
    url = reverse("admin:routing_rule_change", args=[luxury.pk])
    response = manager_client.post(url, rule_post(luxury, keep=False,
                                                  criteria=[("city", "Chicago")]))
    assert response.status_code == 302, errors_of(response)
    assert list(luxury.criteria.values_list("field", "value")) == [("city", "Chicago")]
    assert not luxury.windows.exists()
    # Removing every row of a normal rule is refused: it would take everything.
    response = manager_client.post(url, rule_post(luxury, keep=False))
    assert NEEDS_CRITERIA in errors_of(response).replace("&#x27;", "'")


# --- Test a lead ------------------------------------------------------------------------------


def try_lead(client, at: datetime | None = None, **fields):
    data = {"run": "1", **fields}
    if at is not None:
        data["at"] = at.astimezone(NY).strftime("%Y-%m-%dT%H:%M")
    response = client.post(reverse("admin:routing_rule_test_lead"), data)
    assert response.status_code == 200
    return response


@pytest.mark.parametrize(("at", "fields"), [
    (FRIDAY, {"source": "Zillow", "lead_type": "buyer", "price": "1500000"}),
    (SATURDAY, {"source": "Zillow", "lead_type": "buyer", "price": "1500000"}),
    (FRIDAY, {"source": "Facebook", "tags": "a, b"}),
    (FRIDAY, {"source": "Zillow", "assigned_to": "bob@example.com"}),
])
def test_test_a_lead_answers_as_real_routing_and_changes_nothing(staff_client, at, fields):
    setup = brokerage_of_three()
    setup["luxury"].delivery = "claim"
    setup["luxury"].save()
    receive(FRIDAY - timedelta(hours=1), source="Zillow", lead_type="buyer", price="1200000")
    data = lead(email="new.person@example.org", phone="3125550123", **fields)
    before = rows_snapshot()

    response = try_lead(staff_client, at, **data)
    result = response.context["result"]
    assert result is not None, response.context["form"].errors
    assert rows_snapshot() == before
    html = response.content.decode()
    assert "How it was decided" in html and "Dry run: nothing was saved" in html

    real = receive_lead(data, channel="api", received_at=at).routing
    decision = result.decision
    assert (decision.outcome, decision.rule_id, decision.agent_id, decision.offered_to) == (
        real.status, real.lead.rule_id, real.agent.pk if real.agent else None,
        tuple(Agent.objects.get(email=e).pk for e in real.offered_to))
    assert decision.trace == RoutingRecord.objects.get(lead=real.lead).trace
    assert decision.summary in unescape(html)


def test_test_a_lead_shows_the_rule_and_the_agent(manager_client):
    setup = brokerage_of_three()
    response = try_lead(manager_client, FRIDAY, **lead(source="Zillow", lead_type="buyer",
                                                       price="1500000"))
    html = response.content.decode()
    assert "Would be assigned to Ann &lt;ann@example.com&gt;" in html
    assert reverse("admin:routing_rule_change", args=[setup["luxury"].pk]) in html
    assert "Rule &#x27;Zillow luxury buyers&#x27;: matched" in html
    # Saturday: the luxury rule's hours do not apply; Facebook has nobody; the catch-all.
    html = try_lead(manager_client, SATURDAY, **lead(source="Zillow", lead_type="buyer",
                                                      price="1500000")).content.decode()
    assert "Would be assigned to Cat &lt;cat@example.com&gt;" in html
    assert "applies Mon-Fri 08:00-21:00: not now" in html


def test_test_a_lead_explains_bad_input(manager_client):
    brokerage_of_three()
    response = try_lead(manager_client, FRIDAY, first_name="", email="", lead_type="renter",
                        price="lots", assigned_to="nobody@example.com")
    assert response.context["result"] is None
    errors = response.context["form"].errors
    assert "Unknown lead type 'renter'" in errors["lead_type"][0]
    assert "price" in errors
    assert "No agent with email nobody@example.com." in errors["assigned_to"][0]
    assert "Give at least a name, an email or a phone number." in response.content.decode()


def test_test_a_stored_lead(manager_client):
    setup = brokerage_of_three()
    stored = LeadFactory(source="Zillow", lead_type="buyer", price=1_500_000,
                         received_at=FRIDAY - timedelta(days=3))
    before = rows_snapshot()
    response = try_lead(manager_client, FRIDAY, lead_id=stored.pk)
    result = response.context["result"]
    assert result.decision.rule_id == setup["luxury"].pk
    assert result.decision.agent_id == setup["ann"].pk
    assert "tested as if it arrived now" in response.content.decode()
    assert rows_snapshot() == before
    # Reached by link too, e.g. from a lead's page: tested at the time it arrived (Tuesday).
    response = manager_client.get(reverse("admin:routing_rule_test_lead"),
                                  {"lead_id": stored.pk})
    result = response.context["result"]
    assert result.decision.rule_id == setup["luxury"].pk
    assert result.at_local == stored.received_at
    missing = try_lead(manager_client, FRIDAY, lead_id=999999)
    assert "There is no lead #999999." in missing.content.decode()


def test_test_a_lead_page_opens_with_the_time_now(manager_client):
    brokerage_of_three()
    response = manager_client.get(reverse("admin:routing_rule_test_lead"))
    html = response.content.decode()
    assert 'type="datetime-local"' in html and "America/New_York" in html
    assert response.context["result"] is None


# --- What a rule would have taken -------------------------------------------------------------


def test_what_a_rule_would_have_taken(manager_client):
    owner = agent("Olga")
    zillow = RuleFactory(name="Zillow", priority=1, criteria={"source": ["Zillow"]},
                         roster=RosterFactory.with_members([owner]))
    buyers = RuleFactory(name="Buyers", priority=2, criteria={"lead_type": ["buyer"]},
                         roster=RosterFactory.with_members([owner]))
    weekend = RuleFactory(name="Weekend", priority=3, windows=[(["sat", "sun"], "00:00",
                                                                 "23:59")],
                          roster=RosterFactory.with_members([owner]))
    everyone = RuleFactory(name="Everyone", priority=4, is_catch_all=True,
                           roster=RosterFactory.with_members([owner]))
    now = timezone.now()
    saturday = (now - timedelta(days=(now.astimezone(NY).weekday() - 5) % 7 or 7)).astimezone(NY)
    saturday = saturday.replace(hour=12)
    weekday = saturday - timedelta(days=2)  # a Thursday
    for days_ago, fields in [
        (1, {"source": "Zillow", "lead_type": "buyer"}),  # Zillow
        (2, {"source": "Zillow", "lead_type": "seller"}),  # Zillow
        (3, {"source": "Facebook", "lead_type": "buyer"}),  # Buyers
        (40, {"source": "Facebook", "lead_type": "buyer"}),  # too old
    ]:
        LeadFactory(received_at=now - timedelta(days=days_ago), **fields)
    LeadFactory(received_at=saturday, source="Facebook", lead_type="seller")  # Weekend
    LeadFactory(received_at=weekday, source="Facebook", lead_type="seller")  # Everyone

    counts = {r.name: dry_run.would_have_taken(r).taken
              for r in (zillow, buyers, weekend, everyone)}
    assert counts == {"Zillow": 2, "Buyers": 1, "Weekend": 1, "Everyone": 1}
    assert dry_run.would_have_taken(zillow).total == 5

    page = manager_client.get(reverse("admin:routing_rule_change", args=[buyers.pk]))
    assert "<strong>1</strong> of the 5 leads received in the last 30 days" in \
        page.content.decode()
    # As the rules stand now: pausing Zillow hands its buyer to Buyers.
    zillow.is_active = False
    zillow.save()
    assert dry_run.would_have_taken(buyers).taken == 2
    paused = dry_run.would_have_taken(zillow)
    assert (paused.taken, paused.was_paused) == (2, True)
    assert "(if it were active)" in manager_client.get(
        reverse("admin:routing_rule_change", args=[zillow.pk])).content.decode()


# --- Brokerage settings -----------------------------------------------------------------------


def test_brokerage_settings_are_a_single_row_with_readable_windows(staff_client):
    brokerage = Brokerage.load()
    assert staff_client.get(reverse("admin:routing_brokerage_add")).status_code == 403
    assert staff_client.get(reverse("admin:routing_brokerage_delete",
                                    args=[brokerage.pk])).status_code == 403
    listing = staff_client.get(reverse("admin:routing_brokerage_changelist"))
    assert listing.status_code == 302 and listing["Location"] == reverse(
        "admin:routing_brokerage_change", args=[brokerage.pk])
    url = reverse("admin:routing_brokerage_change", args=[brokerage.pk])
    page = staff_client.get(url).content.decode()
    assert "Every day 08:00-21:00" in page and 'name="window-0-days"' in page

    data = {"name": "Lakeside Realty", "timezone": "America/Chicago", "listing_routing": "on",
            "window-TOTAL_FORMS": 3, "window-INITIAL_FORMS": 1, "window-MIN_NUM_FORMS": 0,
            "window-MAX_NUM_FORMS": 1000,
            "window-0-days": WEEKDAYS, "window-0-start": "08:00", "window-0-end": "20:00",
            "window-1-days": ["sat"], "window-1-start": "10:00", "window-1-end": "10:00",
            "window-2-days": [], "window-2-start": "", "window-2-end": ""}
    response = staff_client.post(url, data)
    assert response.status_code == 200
    assert "The end is the same time as the start" in response.content.decode()
    data["window-1-end"] = "16:00"
    response = staff_client.post(url, data)
    assert response.status_code == 302
    brokerage.refresh_from_db()
    assert brokerage.name == "Lakeside Realty" and brokerage.tz_name == "America/Chicago"
    assert brokerage.hide_contact_until_claimed is False
    assert brokerage.actionable_window == [
        {"days": WEEKDAYS, "start": "08:00", "end": "20:00"},
        {"days": ["sat"], "start": "10:00", "end": "16:00"}]
    assert routing_config().timezone == "America/Chicago"
    page = staff_client.get(url).content.decode()
    assert "Mon-Fri 08:00-20:00; Sat 10:00-16:00" in page
    # Deleting every row: the clocks never stop.
    data.update({"window-0-DELETE": "on", "window-1-DELETE": "on", "window-INITIAL_FORMS": 2})
    assert staff_client.post(url, data).status_code == 302
    brokerage.refresh_from_db()
    assert brokerage.actionable_window == []
    assert "Always (claim clocks never stop)" in staff_client.get(url).content.decode()
