"""The routing file (YAML import/export): a public contract, so every promise is tested."""

from __future__ import annotations

import io
from datetime import time
from decimal import Decimal
from pathlib import Path

import pytest
from django.contrib.auth import get_user_model
from django.core.management import CommandError, call_command

from agents.models import Agent, Roster, RosterMember, Shift
from routing.config_file import (
    RoutingFileError,
    apply_routing_file,
    export_routing,
    load_routing_file,
)
from routing.models import Brokerage, RotationState, Rule, RuleCriterion, RuleWindow
from routing.selectors import routing_config
from tests.factories import AgentFactory, RosterFactory, RuleFactory

DEMO_FILE = Path(__file__).resolve().parent.parent / "routing" / "demo_routing.yaml"

SAMPLE = """\
timezone: America/Chicago
agents:
  - {email: ann@example.com, name: Ann Lee, role: agent, phone: "+13125550101",
     accepting_leads: true, max_open_leads: 40, max_leads_per_day: null,
     zip_codes: ["60601"], specialties: [luxury]}
  - {email: Bob@Example.com, name: Bob Stone}
rosters:
  - name: Downtown
    members: [{agent: ann@example.com, leads_per_round: 2}, {agent: bob@example.com}]
  - name: Office
    members: [{agent: bob@example.com}]
shifts:
  - {agent: ann@example.com, days: [mon, tue, wed, thu, fri], start: "08:00", end: "12:00"}
rules:                       # in priority order, first match wins
  - name: Zillow luxury buyers
    active: true
    criteria: {source: [Zillow, Realtor.com], lead_type: [buyer], price_min: 1000000}
    days_times: [{days: [sat, sun], start: "00:00", end: "23:59"}]
    roster: Downtown
    selection: rotation      # rotation | first_in_roster | on_duty | territory | least_loaded
    delivery: assign
    lender_roster: null
    add_tags: [lux]
  - {name: Everyone else, catch_all: true, roster: Office, selection: rotation, delivery: assign}
"""

RICH = """\
timezone: Europe/Paris
brokerage: {name: Maison Immobilier, listing_routing: false}
agents:
  - {email: ann@example.com, name: Ann Lee, phone: "(312) 555-0101", zip_codes: ["60601"],
     specialties: [luxury, condo], max_open_leads: 40, max_leads_per_day: 0}
  - {email: jose@example.com, name: José Núñez, role: agent, accepting_leads: false}
  - {email: old@example.com, name: Old Timer, active: false, zip_codes: "60602"}
  - {email: isa@example.com, name: Ida Sales, role: isa, phone: 13125550111}
  - {email: lender@example.com, name: Len Der, role: lender}
  - {email: boss@example.com, name: Bo Ss, role: manager}
rosters:
  - {name: Office, members: [ann@example.com, {agent: jose@example.com, leads_per_round: 3},
                             {agent: old@example.com, leads_per_round: 0}]}
  - {name: Lenders, members: [{agent: lender@example.com}]}
  - {name: ISA desk, members: [{agent: isa@example.com}]}
  - {name: Empty}
shifts:
  - {agent: jose@example.com, days: [sun, sat], start: "22:00", end: "06:00"}
  - {agent: ann@example.com, days: [Monday, wed], start: 8:00, end: 17:30}
  - {agent: ann@example.com, days: [fri], start: "08:00", end: "12:00"}
rules:
  - name: Every text field
    criteria:
      source: Zillow
      tag: [hot, vip]
      lead_type: [buyer]
      city: [Chicago]
      county: [Cook]
      neighborhood: [Loop, River North]
      zip_code: ["60601", "02134"]
      mls_region: [MRED]
      property_type: [condo]
      site: [example.com]
    roster: Office
    selection: first_in_roster
    lender_roster: Lenders
    add_tags: [portal, "2024"]
  - name: Numbers
    active: false
    criteria: {price_min: 1500.5, price_max: 2000000, score_min: 70}
    roster: Office
    selection: least_loaded
  - name: Nights and weekends
    days_times:
      - {days: [sat, sun], start: "00:00", end: "23:59"}
      - {days: [mon, tue, wed, thu, fri], start: "20:00", end: "07:00"}
    roster: ISA desk
    selection: on_duty
  - {name: Territory, criteria: {zip_code: ["60601"]}, roster: Office, selection: territory}
  - {name: Catch all, catch_all: true, roster: Office, lender_roster: Lenders}
"""


def load_and_apply(text: str):
    return apply_routing_file(load_routing_file(text))


def errors_of(text: str) -> list[str]:
    with pytest.raises(RoutingFileError) as caught:
        load_routing_file(text)
    return caught.value.errors


def with_rules(rules: str) -> str:
    """SAMPLE with its rules replaced."""
    return SAMPLE.split("rules:")[0] + "rules:\n" + rules


@pytest.mark.django_db
def test_sample_import_creates_what_it_says():
    summary = load_and_apply(SAMPLE)

    assert (summary.agents_created, summary.rosters, summary.shifts, summary.rules) == (2, 2, 1, 2)
    assert Brokerage.load().timezone == "America/Chicago"
    ann = Agent.objects.get(email="ann@example.com")
    assert (ann.name, ann.role, ann.phone.as_e164) == ("Ann Lee", "agent", "+13125550101")
    assert (ann.max_open_leads, ann.max_leads_per_day) == (40, None)
    assert (ann.zip_codes, ann.specialties, ann.accepting_leads) == (["60601"], ["luxury"], True)
    bob = Agent.objects.get(email="bob@example.com")
    assert (bob.role, str(bob.phone), bob.max_open_leads, bob.zip_codes) == ("agent", "", None, [])
    # Each new agent gets a login named after the e-mail, without a usable password.
    assert ann.user.username == "ann@example.com"
    assert (ann.user.first_name, ann.user.last_name) == ("Ann", "Lee")
    assert not ann.user.has_usable_password()

    downtown = Roster.objects.get(name="Downtown")
    assert [(m.agent.email, m.position, m.leads_per_round) for m in downtown.members.all()] == [
        ("ann@example.com", 0, 2), ("bob@example.com", 1, 1)
    ]
    shift = Shift.objects.get()
    assert (shift.agent, shift.days) == (ann, ["mon", "tue", "wed", "thu", "fri"])
    assert (shift.start, shift.end) == (time(8), time(12))

    first, last = Rule.objects.order_by("priority")
    assert (first.name, first.priority, first.is_active, first.is_catch_all) == (
        "Zillow luxury buyers", 0, True, False)
    assert (first.roster, first.selection, first.delivery) == (downtown, "rotation", "assign")
    assert (first.lender_roster, first.add_tags) == (None, ["lux"])
    assert [(c.field, c.value) for c in first.criteria.all()] == [
        ("source", "Zillow"), ("source", "Realtor.com"), ("lead_type", "buyer"),
        ("price_min", "1000000"),
    ]
    window = first.windows.get()
    assert (window.days, window.start, window.end) == (["sat", "sun"], time(0), time(23, 59))
    assert (last.name, last.priority, last.is_catch_all, last.roster.name) == (
        "Everyone else", 1, True, "Office")

    # What routing reads back from it.
    config = routing_config()
    assert config.timezone == "America/Chicago"
    assert config.rules[0].price_min == Decimal("1000000")
    assert config.rules[0].text_criteria["source"] == ("zillow", "realtor.com")


@pytest.mark.django_db
def test_export_import_export_is_identical():
    load_and_apply(RICH)
    first = export_routing()

    summary = load_and_apply(first)
    second = export_routing()

    assert second == first
    assert (summary.agents_created, summary.agents_updated, summary.agents_deactivated) == (0, 0, 0)
    assert (summary.rosters_created, summary.rules_created, summary.rules_deleted) == (0, 0, 0)
    # The export says what the file said, in its own canonical layout.
    original, exported = load_routing_file(RICH), load_routing_file(first)
    assert exported.rules == original.rules
    assert set(exported.agents) == set(original.agents)
    assert set(exported.rosters) == set(original.rosters)
    assert set(exported.shifts) == set(original.shifts)
    assert exported.timezone == "Europe/Paris"
    assert (exported.brokerage.name, exported.brokerage.listing_routing) == (
        "Maison Immobilier", False)


@pytest.mark.django_db
def test_rich_file_details():
    load_and_apply(RICH)
    text = export_routing()

    assert Agent.objects.get(email="old@example.com").is_active is False
    assert Agent.objects.get(email="isa@example.com").phone.as_e164 == "+13125550111"
    assert Agent.objects.get(email="jose@example.com").user.first_name == "José"
    numbers = Rule.objects.get(name="Numbers")
    assert numbers.is_active is False
    assert sorted((c.field, c.value) for c in numbers.criteria.all()) == [
        ("price_max", "2000000"), ("price_min", "1500.5"), ("score_min", "70")
    ]
    # Unquoted 8:00 and 17:30 are YAML 1.1 numbers (base 60): read as times all the same.
    assert set(Shift.objects.filter(agent__email="ann@example.com").values_list(
        "start", "end")) == {(time(8), time(17, 30)), (time(8), time(12))}
    assert Rule.objects.get(name="Catch all").lender_roster.name == "Lenders"
    assert Roster.objects.filter(name="Empty").exists()

    assert "    active: false\n" in text  # the inactive agent, and the paused rule
    assert 'start: "08:00"' in text and 'end: "17:30"' in text
    assert '- "02134"' in text
    assert "price_min: 1500.5\n" in text and "price_max: 2000000\n" in text
    assert "name: José Núñez" in text
    assert text.index("name: Every text field") < text.index("name: Numbers") < text.index(
        "name: Catch all")


@pytest.mark.django_db
def test_agents_missing_from_the_file_are_deactivated_not_deleted():
    stranger = AgentFactory(email="stranger@example.com")
    load_and_apply(SAMPLE)
    without_bob = SAMPLE.replace("  - {email: Bob@Example.com, name: Bob Stone}\n", "").replace(
        ", {agent: bob@example.com}", "").replace("[{agent: bob@example.com}]", "[]")

    summary = load_and_apply(without_bob)

    assert summary.agents_deactivated == 1
    bob = Agent.objects.get(email="bob@example.com")
    stranger.refresh_from_db()
    assert bob.is_active is False and stranger.is_active is False
    assert not RosterMember.objects.filter(agent=bob).exists()
    assert Agent.objects.get(email="ann@example.com").is_active is True
    assert "email: bob@example.com\n    name: Bob Stone\n    active: false\n" in export_routing()


@pytest.mark.django_db
def test_existing_agent_is_updated_and_keeps_its_login():
    ann = AgentFactory(email="ann@example.com", name="Ann Old", is_active=False)
    user = ann.user

    summary = load_and_apply(SAMPLE)

    ann.refresh_from_db()
    assert (summary.agents_created, summary.agents_updated) == (1, 1)
    assert (ann.name, ann.is_active, ann.user) == ("Ann Lee", True, user)
    assert get_user_model().objects.filter(username__iexact="ann@example.com").count() == 1


@pytest.mark.django_db
def test_invalid_file_changes_nothing_and_reports_every_error():
    load_and_apply(SAMPLE)
    before = export_routing()
    bad = """\
timezone: Mars/Olympus
colour: blue
agents:
  - {name: No Email, role: boss, phone: "12", max_open_leads: -1}
  - {email: ann@example.com, name: Ann, zip_codes: [02134]}
  - {email: ANN@example.com, name: Ann again}
rosters:
  - name: Downtown
    members: [{agent: bob@x.com}, {agent: ann@example.com, leads_per_round: two}]
shifts:
  - {agent: ann@example.com, days: [mon, funday], start: "25:00", end: "9"}
rules:
  - name: Luxury
    criteria: {price_min: lots, price_max: 10, colour: [red], source: 5}
    roster: Uptown
    selection: random
    delivery: email
  - {name: Nothing, roster: Downtown}
  - {name: Numbers, criteria: {price_min: 500, price_max: 100, score_min: 7.5}, roster: Downtown}
  - {name: Everyone else, catch_all: true, roster: Downtown, lender_roster: Nobody}
"""
    errors = errors_of(bad)

    for expected in [
        "colour: unknown key",
        "timezone: unknown time zone 'Mars/Olympus'",
        "agents[0].email: missing",
        "agents[0].role: must be one of: agent, isa, lender, manager",
        "agents[0].phone: not a valid phone number: 12",
        "agents[0].max_open_leads: must be a whole number, 0 or more, or null",
        'agents[1].zip_codes[0]: must be a string (quote numbers: "02134")',
        "agents[1].email: duplicate agent e-mail ann@example.com",
        "agents[2].email: duplicate agent e-mail ann@example.com",
        "rosters[0].members[0].agent: unknown agent bob@x.com",
        "rosters[0].members[1].leads_per_round: must be a whole number",
        "shifts[0].days[1]: unknown day 'funday'",
        'shifts[0].start: must be a time "HH:MM"',
        'shifts[0].end: must be a time "HH:MM"',
        "rules[0].criteria.price_min: must be a number",
        "rules[0].criteria.colour: unknown key",
        "rules[0].criteria.source: must be a list of strings",
        "rules[0].roster: unknown roster Uptown",
        "rules[0].selection: must be one of: rotation, first_in_roster, on_duty, territory,"
        " least_loaded",
        "rules[0].delivery: must be one of: assign",
        "rules[1]: needs at least one criterion or days_times entry",
        "rules[2].criteria: price_min (500) is above price_max (100)",
        "rules[2].criteria.score_min: must be a whole number",
        "rules[3].lender_roster: unknown roster Nobody",
    ]:
        assert any(error.startswith(expected) for error in errors), (expected, errors)
    assert len(errors) == 24, errors
    # In the order of the file.
    assert errors.index("agents[0].email: missing") < errors.index(
        "rosters[0].members[0].agent: unknown agent bob@x.com")
    assert export_routing() == before


@pytest.mark.django_db
def test_a_failure_while_applying_rolls_everything_back(monkeypatch):
    load_and_apply(SAMPLE)
    before = export_routing()
    data = load_routing_file(RICH)

    def explode(*args, **kwargs):
        raise RuntimeError("disk full")

    monkeypatch.setattr("routing.config_file.apply._apply_rules", explode)
    with pytest.raises(RuntimeError):
        apply_routing_file(data)

    assert export_routing() == before


def test_yaml_syntax_error_reports_the_line():
    errors = errors_of("timezone: UTC\nrules:\n  - name: x\n   roster: y\n")
    assert len(errors) == 1 and errors[0].startswith("line 4, column 4: "), errors


def test_duplicate_keys_and_shape_errors():
    assert "line 2: duplicate key 'timezone'" in errors_of(
        "timezone: UTC\ntimezone: Europe/Paris\n" + SAMPLE.split("\n", 1)[1])
    assert errors_of("")[0].startswith("file: empty")
    assert errors_of("- a\n- b\n")[0].startswith("file: must be a mapping")
    assert errors_of("timezone: UTC\n") == ["rules: missing (at least the catch-all rule)"]
    assert errors_of("agents: {}\nrules:\n  - nope\n") == [
        "agents: must be a list",
        "rules: one rule needs catch_all: true (the last one, which takes every lead no other "
        "rule takes)",
        "rules[0]: must be a mapping (key: value)",
    ]


def test_catch_all_must_be_last_and_unique():
    no_catch_all = with_rules("  - {name: A, criteria: {source: [x]}, roster: Office}\n")
    assert errors_of(no_catch_all) == [
        "rules: one rule needs catch_all: true (the last one, which takes every lead no other "
        "rule takes)"
    ]
    not_last = with_rules(
        "  - {name: All, catch_all: true, roster: Office}\n"
        "  - {name: A, criteria: {source: [x]}, roster: Office}\n"
    )
    assert errors_of(not_last) == ["rules[0].catch_all: the catch-all rule must be the last rule"]
    two = with_rules(
        "  - {name: A, criteria: {source: [x]}, roster: Office}\n"
        "  - {name: All, catch_all: true, roster: Office}\n"
        "  - {name: All 2, catch_all: true, roster: Office}\n"
    )
    assert errors_of(two) == [
        "rules[1].catch_all: the catch-all rule must be the last rule",
        "rules[2].catch_all: only one rule can be the catch-all (rules[1] already is)",
    ]
    restricted = with_rules(
        "  - {name: All, catch_all: true, active: false, roster: Office,\n"
        "     criteria: {source: [x]}, days_times: [{days: [sat], start: '08:00', end: '09:00'}]}\n"
    )
    assert errors_of(restricted) == [
        "rules[0].active: the catch-all rule is always active",
        "rules[0].criteria: the catch-all rule takes every lead: no criteria",
        "rules[0].days_times: the catch-all rule takes every lead: no days_times",
    ]


@pytest.mark.django_db
def test_catch_all_can_move_to_another_rule():
    load_and_apply(SAMPLE)
    moved = with_rules(
        "  - {name: Everyone else, criteria: {tag: [vip]}, roster: Office}\n"
        "  - {name: New catch-all, catch_all: true, roster: Downtown}\n"
    )

    load_and_apply(moved)

    assert list(Rule.objects.order_by("priority").values_list(
        "name", "is_catch_all", "priority")) == [
        ("Everyone else", False, 0), ("New catch-all", True, 1)
    ]


@pytest.mark.django_db
def test_rotation_state_survives_a_reimport_when_the_rule_keeps_its_name():
    load_and_apply(SAMPLE)
    rule = Rule.objects.get(name="Zillow luxury buyers")
    ann = Agent.objects.get(email="ann@example.com")
    state = RotationState.objects.create(rule=rule, agent=ann, position=0, given=1)
    changed = SAMPLE.replace("price_min: 1000000", "price_min: 900000, tag: [vip]").replace(
        'start: "00:00"', 'start: "06:00"')

    summary = load_and_apply(changed)

    assert (summary.rules_created, summary.rules_deleted) == (0, 0)
    rule.refresh_from_db()
    state.refresh_from_db()
    assert (state.rule_id, state.agent, state.position, state.given) == (rule.id, ann, 0, 1)
    assert ("price_min", "900000") in rule.criteria.values_list("field", "value")
    assert ("tag", "vip") in rule.criteria.values_list("field", "value")
    assert rule.windows.get().start == time(6)

    # A renamed rule is another rule: the old one and its rotation go.
    load_and_apply(changed.replace("Zillow luxury buyers", "Portal luxury buyers"))
    assert not Rule.objects.filter(name="Zillow luxury buyers").exists()
    assert not RotationState.objects.exists()


@pytest.mark.django_db
def test_rules_and_rosters_not_in_the_file_are_removed():
    old_roster = RosterFactory(name="Old roster")
    RuleFactory(name="Old rule", roster=old_roster, criteria={"source": ["x"]})
    RuleFactory(name="Old catch-all", roster=old_roster, is_catch_all=True, priority=99)

    summary = load_and_apply(SAMPLE)

    assert (summary.rules_deleted, summary.rosters_deleted) == (2, 1)
    assert set(Rule.objects.values_list("name", flat=True)) == {
        "Zillow luxury buyers", "Everyone else"}
    assert set(Roster.objects.values_list("name", flat=True)) == {"Downtown", "Office"}
    assert RuleCriterion.objects.count() == 4 and RuleWindow.objects.count() == 1


@pytest.mark.django_db
def test_unchanged_reimport_writes_nothing():
    load_and_apply(SAMPLE)
    ids = (
        list(RuleCriterion.objects.values_list("id", flat=True)),
        list(RuleWindow.objects.values_list("id", flat=True)),
        list(Shift.objects.values_list("id", flat=True)),
        list(RosterMember.objects.values_list("id", flat=True)),
    )

    summary = load_and_apply(SAMPLE)

    assert (summary.agents_created, summary.agents_updated, summary.rules_created) == (0, 0, 0)
    assert ids == (
        list(RuleCriterion.objects.values_list("id", flat=True)),
        list(RuleWindow.objects.values_list("id", flat=True)),
        list(Shift.objects.values_list("id", flat=True)),
        list(RosterMember.objects.values_list("id", flat=True)),
    )


@pytest.mark.django_db
def test_demo_file_imports_cleanly():
    text = DEMO_FILE.read_text(encoding="utf-8")

    summary = load_and_apply(text)

    assert summary.agents_created == 16 and summary.rules == 8
    assert Brokerage.load().timezone == "America/New_York"
    assert set(Agent.objects.values_list("role", flat=True)) == {"agent", "isa", "lender",
                                                                 "manager"}
    assert Agent.objects.filter(role="agent").count() == 12
    assert Agent.objects.filter(accepting_leads=False).count() == 1
    assert set(Rule.objects.values_list("selection", flat=True)) == {
        "rotation", "first_in_roster", "on_duty", "territory", "least_loaded"}
    assert Rule.objects.filter(is_active=False).count() == 1
    assert Rule.objects.order_by("priority").last().is_catch_all
    used = set(RuleCriterion.objects.values_list("field", flat=True))
    assert used == set(RuleCriterion.Field.values)
    first = export_routing()
    load_and_apply(first)
    assert export_routing() == first


@pytest.mark.django_db
def test_import_command(tmp_path):
    path = tmp_path / "routing.yaml"
    path.write_text(SAMPLE, encoding="utf-8")
    out, err = io.StringIO(), io.StringIO()

    call_command("import_routing", str(path), stdout=out, stderr=err)

    assert out.getvalue().count("\n") == 1
    assert "agents: 2 created, 0 updated, 0 deactivated" in out.getvalue()
    assert "rules: 2 (2 new, 0 removed)" in out.getvalue()
    assert err.getvalue() == ""
    assert Rule.objects.count() == 2


@pytest.mark.django_db
def test_import_command_with_an_invalid_file(tmp_path):
    path = tmp_path / "routing.yaml"
    path.write_text(with_rules("  - {name: A, roster: Nowhere}\n"), encoding="utf-8")
    out, err = io.StringIO(), io.StringIO()

    with pytest.raises(CommandError, match="3 errors, nothing changed") as caught:
        call_command("import_routing", str(path), stdout=out, stderr=err)

    assert caught.value.returncode == 1
    assert err.getvalue().splitlines() == [
        "rules: one rule needs catch_all: true (the last one, which takes every lead no other "
        "rule takes)",
        "rules[0]: needs at least one criterion or days_times entry (only the catch-all rule "
        "takes every lead)",
        "rules[0].roster: unknown roster Nowhere",
    ]
    assert out.getvalue() == ""
    assert not Agent.objects.exists() and not Rule.objects.exists()


@pytest.mark.django_db
def test_import_command_check_only(tmp_path):
    path = tmp_path / "routing.yaml"
    path.write_text(SAMPLE, encoding="utf-8")
    out = io.StringIO()

    call_command("import_routing", str(path), "--check", stdout=out)

    assert "valid (2 agents, 2 rosters, 1 shifts, 2 rules)" in out.getvalue()
    assert not Agent.objects.exists()


@pytest.mark.django_db
def test_export_command(tmp_path):
    load_and_apply(SAMPLE)
    out = io.StringIO()

    call_command("export_routing", stdout=out)

    assert out.getvalue() == export_routing()
    target = tmp_path / "out.yaml"
    call_command("export_routing", "--output", str(target), stdout=io.StringIO())
    assert target.read_text(encoding="utf-8") == export_routing()


CLAIM_FILE = """
timezone: America/New_York
actionable_window:
  - {days: [mon, tue, wed, thu, fri], start: "08:00", end: "20:00"}
brokerage: {hide_contact_until_claimed: false}
agents:
  - {email: ann@example.com, name: Ann Lee}
  - {email: boss@example.com, name: Bo Boss, role: manager}
rosters:
  - {name: Office, members: [{agent: ann@example.com}]}
rules:
  - name: Zillow
    criteria: {source: [Zillow]}
    roster: Office
    delivery: first_to_claim
    claim_timeout_minutes: 3
    escalate_to: boss@example.com
    after_hours: assign
  - name: Everyone else
    catch_all: true
    roster: Office
    delivery: claim
    first_contact_minutes: 45
"""


@pytest.mark.django_db
def test_claim_settings_and_actionable_window_round_trip():
    load_and_apply(CLAIM_FILE)
    zillow = Rule.objects.get(name="Zillow")
    assert (zillow.delivery, zillow.claim_timeout_minutes, zillow.escalate_to.email,
            zillow.after_hours) == ("first_to_claim", 3, "boss@example.com", "assign")
    catch_all = Rule.objects.get(name="Everyone else")
    assert (catch_all.delivery, catch_all.claim_timeout_minutes,
            catch_all.first_contact_minutes) == ("claim", 5, 45)
    brokerage = Brokerage.load()
    assert brokerage.actionable_window == [
        {"days": ["mon", "tue", "wed", "thu", "fri"], "start": "08:00", "end": "20:00"}]
    assert brokerage.hide_contact_until_claimed is False
    first = export_routing()
    load_and_apply(first)
    assert export_routing() == first


@pytest.mark.django_db
def test_claim_settings_are_checked():
    bad = CLAIM_FILE.replace("escalate_to: boss@example.com", "escalate_to: who@example.com")
    bad = bad.replace("delivery: claim\n", "delivery: maybe\n").replace(
        "claim_timeout_minutes: 3", "claim_timeout_minutes: 0")
    errors = errors_of(bad)
    assert any("rules[0].escalate_to: unknown agent who@example.com" in e for e in errors)
    assert any("rules[0].claim_timeout_minutes" in e for e in errors)
    assert any("rules[1].delivery: must be one of" in e for e in errors)


@pytest.mark.django_db
def test_demo_brokerage_round_trips():
    demo = (Path(__file__).resolve().parent.parent / "routing" / "demo_routing.yaml").read_text()
    load_and_apply(demo)
    first = export_routing()
    load_and_apply(first)
    assert export_routing() == first
