"""Who reaches the admin: managers (staff in Managers) and superusers; nobody else, by any URL."""

from __future__ import annotations

import contextlib
import json

import pytest
from adminsortable2.admin import SortableAdminMixin
from django.contrib import admin
from django.contrib.auth import get_user_model
from django.contrib.auth.models import Group, Permission
from django.forms import CheckboxInput, MultiWidget
from django.urls import NoReverseMatch, reverse

from agents.models import Agent, RosterMember
from agents.services import sync_access
from routing.models import Rule
from tests.factories import AgentFactory, LeadFactory, RosterFactory, RuleFactory

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def _fast_passwords(settings):
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]


# --- helpers ----------------------------------------------------------------------------------


def _field_data(form, data: dict) -> None:
    for name, bound in form.fields.items():
        key = form.add_prefix(name)
        value = form[name].value()
        widget = bound.widget
        if isinstance(widget, MultiWidget):
            parts = value if isinstance(value, list | tuple) else widget.decompress(value)
            for i, part in enumerate(parts):
                data[f"{key}_{i}"] = "" if part is None else part
        elif isinstance(value, list | tuple):
            data[key] = [str(v) for v in value]
        elif isinstance(widget, CheckboxInput):
            if value:
                data[key] = "on"
        elif value is not None:
            data[key] = value


def admin_form_data(response) -> dict:
    """The POST data an admin change page would send unchanged (main form and inlines)."""
    context = response.context
    data: dict = {}
    _field_data(context["adminform"].form, data)
    for inline in context["inline_admin_formsets"]:
        formset = inline.formset
        management = formset.management_form
        for name in management.fields:
            data[management.add_prefix(name)] = management[name].value()
        for form in formset.initial_forms:
            _field_data(form, data)
        data[formset.management_form.add_prefix("TOTAL_FORMS")] = len(formset.initial_forms)
    return data


def reorder_urls() -> list[str]:
    """adminsortable2's reorder endpoint (``<app>/<model>/adminsortable2_update/``)."""
    urls = {"/admin/routing/rule/adminsortable2_update/"}
    for model, model_admin in admin.site._registry.items():
        if isinstance(model_admin, SortableAdminMixin):
            urls.add(reverse(f"admin:{model._meta.app_label}_{model._meta.model_name}"
                             "_sortable_update"))
    return sorted(urls)


def person(role: str, **kwargs) -> Agent:
    agent = AgentFactory(role=role, **kwargs)
    sync_access(agent)
    agent.user.refresh_from_db()
    return agent


@pytest.fixture
def rule():
    roster = RosterFactory.with_members([AgentFactory(name="Ann Lee")])
    return RuleFactory(name="Zillow buyers", priority=5, roster=roster,
                       criteria={"source": ["Zillow"]})


@pytest.fixture
def agent_user():
    return person(Agent.Role.AGENT).user


@pytest.fixture
def isa_user():
    return person(Agent.Role.ISA).user


@pytest.fixture
def staff_not_manager():
    """Staff, even holding every permission the Managers group has, but not in the group."""
    user = get_user_model().objects.create_user("office@example.com", password="pass-12345",
                                                is_staff=True)
    user.user_permissions.set(Permission.objects.filter(group__name="Managers"))
    return user


@pytest.fixture
def manager_user():
    return person(Agent.Role.MANAGER, name="Mia Manager").user


@pytest.fixture
def superuser():
    return get_user_model().objects.create_superuser("root@example.com", "root@example.com",
                                                     "pass-12345")


def admin_urls(rule: Rule) -> list[str]:
    roster = rule.roster
    member = RosterMember.objects.filter(roster=roster).first()
    lead = LeadFactory()
    urls = [
        "/admin/",
        "/admin/routing/",
        "/admin/routing/rule/",
        f"/admin/routing/rule/{rule.pk}/change/",
        "/admin/routing/rule/add/",
        f"/admin/routing/rule/{rule.pk}/delete/",
        f"/admin/routing/rule/{rule.pk}/history/",
        f"/admin/routing/rule/{rule.pk}/preview/",
        "/admin/routing/rule/add/preview/",
        reverse("admin:routing_rule_import"),
        reverse("admin:routing_rule_export"),
        "/admin/agents/agent/",
        f"/admin/agents/agent/{member.agent_id}/change/",
        "/admin/agents/agent/add/",
        "/admin/agents/roster/",
        f"/admin/agents/roster/{roster.pk}/change/",
        "/admin/agents/shift/",
        reverse("admin:agents_shift_on_duty"),
        "/admin/leads/lead/",
        f"/admin/leads/lead/{lead.pk}/change/",
        reverse("admin:leads_lead_routing_actions", args=[lead.pk]),
        "/admin/leads/submission/",
        "/admin/auth/user/",
        "/admin/no/such/page/",
        *reorder_urls(),
    ]
    with contextlib.suppress(NoReverseMatch):
        urls.append(reverse("admin:routing_rule_sortable_update"))
    return urls


def assert_refused(response) -> None:
    if response.status_code == 302:
        assert response.url.startswith(reverse("admin:login")), response.url
    else:
        assert response.status_code == 403, response.status_code


def snapshot(rule: Rule) -> tuple:
    rule.refresh_from_db()
    return (rule.name, rule.priority, rule.is_active, rule.selection, rule.delivery,
            list(rule.criteria.values_list("field", "value")), Rule.objects.count())


# --- nobody but managers ----------------------------------------------------------------------


@pytest.mark.parametrize("who", ["agent_user", "isa_user", "staff_not_manager"])
def test_non_managers_get_no_admin_page_at_all(client, request, rule, who):
    user = request.getfixturevalue(who)
    client.force_login(user)
    for url in admin_urls(rule):
        assert_refused(client.get(url))
        assert_refused(client.post(url, {"name": "Hijacked"}))


def test_anonymous_visitors_are_sent_to_the_admin_login(client, rule):
    for url in admin_urls(rule):
        assert_refused(client.get(url))


@pytest.mark.parametrize("who", ["agent_user", "isa_user", "staff_not_manager"])
def test_non_managers_cannot_change_a_rule_by_any_url(client, request, rule, manager_user, who):
    # The data a manager would send, taken from the manager's own page.
    client.force_login(manager_user)
    page = client.get(f"/admin/routing/rule/{rule.pk}/change/")
    assert page.status_code == 200
    data = admin_form_data(page)
    data.update({"name": "Hijacked", "priority": 0, "_save": "Save"})
    other = RuleFactory(name="Other", roster=rule.roster)
    before = snapshot(rule)

    client.force_login(request.getfixturevalue(who))
    responses = [
        client.post(f"/admin/routing/rule/{rule.pk}/change/", data),
        client.post("/admin/routing/rule/add/", {**data, "name": "Planted rule"}),
        client.post(f"/admin/routing/rule/{other.pk}/delete/", {"post": "yes"}),
        client.post("/admin/routing/rule/", {"action": "delete_selected", "post": "yes",
                                             "_selected_action": [other.pk]}),
        *[client.post(url, json.dumps({"updatedItems": [[rule.pk, 99], [other.pk, 98]]}),
                      content_type="application/json") for url in reorder_urls()],
    ]
    for response in responses:
        assert_refused(response)
    assert Rule.objects.filter(pk=other.pk).exists()
    assert not Rule.objects.filter(name__in=["Hijacked", "Planted rule"]).exists()
    assert snapshot(rule) == before


def test_agents_are_not_staff_and_sit_in_their_groups(agent_user, isa_user, manager_user):
    assert not agent_user.is_staff and not isa_user.is_staff and manager_user.is_staff
    assert list(agent_user.groups.values_list("name", flat=True)) == ["Agents"]
    assert list(isa_user.groups.values_list("name", flat=True)) == ["ISAs"]
    assert list(manager_user.groups.values_list("name", flat=True)) == ["Managers"]


def test_a_manager_who_leaves_the_group_loses_the_admin(client, manager_user):
    client.force_login(manager_user)
    assert client.get("/admin/").status_code == 200
    manager_user.groups.remove(Group.objects.get(name="Managers"))
    assert_refused(client.get("/admin/"))


# --- managers and superusers ------------------------------------------------------------------


@pytest.mark.parametrize("who", ["manager_user", "superuser"])
def test_managers_and_superusers_edit_a_rule(client, request, rule, who):
    client.force_login(request.getfixturevalue(who))
    assert client.get("/admin/routing/rule/").status_code == 200
    page = client.get(f"/admin/routing/rule/{rule.pk}/change/")
    assert page.status_code == 200
    data = admin_form_data(page)
    data.update({"name": "Zillow buyers (all)", "_save": "Save"})
    response = client.post(f"/admin/routing/rule/{rule.pk}/change/", data)
    assert response.status_code == 302, response.context["adminform"].form.errors
    rule.refresh_from_db()
    assert rule.name == "Zillow buyers (all)"
    assert list(rule.criteria.values_list("field", "value")) == [("source", "Zillow")]


@pytest.mark.parametrize("who", ["manager_user", "superuser"])
def test_managers_and_superusers_reach_the_people_and_lead_pages(client, request, rule, who):
    client.force_login(request.getfixturevalue(who))
    for url in admin_urls(rule):
        if "adminsortable2_update" in url or "delete" in url or "no/such" in url:
            continue
        if url == "/admin/auth/user/" and who == "manager_user":
            continue  # managers run routing, not Django's users
        response = client.get(url)
        assert response.status_code in (200, 302), (url, response.status_code)
        if response.status_code == 302:  # e.g. a lead's add page is refused with a redirect
            assert not response.url.startswith(reverse("admin:login")), url
