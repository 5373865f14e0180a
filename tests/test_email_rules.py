"""Parsing rules that managers set up for portals whose lead e-mails carry no lead tags."""

from __future__ import annotations

import re
from io import StringIO
from pathlib import Path

import pytest
from django.core.management import call_command
from django.test import Client

from agents.models import Agent
from agents.services import sync_access
from leads.intake.email_leads import parse_bytes, preview_rule, read_lead
from leads.intake.email_rules import ParsingRule, find_label, pattern_problem
from leads.intake.keys import create_key
from leads.models import EmailParsingRule, Lead, LeadSource, Submission
from tests.factories import AgentFactory, RosterFactory, RuleFactory

FIXTURES = Path(__file__).parent / "fixtures" / "email"
REALTOR = (FIXTURES / "realtor_like.eml").read_bytes()
HOMES = (FIXTURES / "homes_like.eml").read_bytes()

REALTOR_PATTERNS = {
    "name": "Lead Name", "email": "Email", "phone": "Phone", "message": "Comments",
    "city": r"Property: [^,]+, (?P<city>[^,]+),", "zip_code": r", [A-Z]{2} (?P<zip>\d{5})",
    "listing_ref": r"MLS® #(?P<mls>\d+)", "price": r"\$(?P<price>[\d,]+)",
}
HOMES_PATTERNS = {
    "name": "Shopper:", "email": r"by email (?P<email>\S+@\S+)",
    "phone": r"phone (?P<phone>[\d.() -]{10,})", "message": "Shopper's message:",
    "listing_ref": r"\(Listing (?P<id>[^)]+)\)",
}
REALTOR_RULE = ParsingRule(name="Realtor.com", from_contains="@mail.realtor.example.com",
                           patterns=REALTOR_PATTERNS, lead_type="buyer",
                           tags=("realtor.com", "tour"), source="Realtor.com")


# The parsing itself: plain data in, fields out, no database.

def test_a_label_gives_what_follows_it_or_the_next_line():
    lines = ["Phone number: 555-0100", "Phone", "(916) 555-0142", "Email: a@example.org"]
    assert find_label(lines, "Phone") == "(916) 555-0142"  # "Phone number:" is another label
    assert find_label(lines, "Phone number:") == "555-0100"
    assert find_label(lines, "email") == "a@example.org"
    assert find_label(lines, "Fax") == ""


def test_broken_patterns_are_explained():
    assert "Not a valid regular expression" in pattern_problem("Call (?P<phone>[0-9")
    assert pattern_problem(r"Call (?P<phone>[0-9 ().-]+)") == ""
    assert pattern_problem("Phone:") == ""
    assert pattern_problem(" : ") == "Give a label or a pattern."


def test_a_realtor_style_table_is_read_by_its_rule():
    parsed = read_lead(parse_bytes(REALTOR), [REALTOR_RULE])
    assert parsed.method == "rule" and parsed.rule == "Realtor.com" and not parsed.missing
    assert parsed.fields == {
        "first_name": "Priya", "last_name": "Raman", "email": "priya.raman@example.org",
        "phone": "(916) 555-0142", "city": "Sacramento", "zip_code": "95818",
        "message": "We'd like to see this home this weekend. Is it still available?",
        "listing_ref": "225014477", "price": "549000", "lead_type": "buyer",
        "tags": ["realtor.com", "tour"],
    }


def test_a_rule_reads_only_the_messages_it_names():
    homes = ParsingRule(name="Homes.com", subject_contains="shopper is interested",
                        patterns=HOMES_PATTERNS, source="Homes.com")
    parsed = read_lead(parse_bytes(HOMES), [REALTOR_RULE, homes])
    assert parsed.rule == "Homes.com"
    assert (parsed.fields["first_name"], parsed.fields["phone"]) == ("Luis", "916.555.0199")
    assert parsed.fields["message"] == "Can you send me the HOA fees and the disclosures?"
    nothing = read_lead(parse_bytes(HOMES), [REALTOR_RULE])
    assert nothing.reason.startswith("No lead found") and not nothing.rule


def test_trying_a_rule_shows_what_it_misses_and_why_it_would_not_be_used():
    preview = preview_rule(REALTOR_RULE, HOMES)
    assert preview.mismatches == ["the sender has no '@mail.realtor.example.com'"]
    assert "name (label 'Lead Name')" in preview.parsed.missing
    assert "no name, email or phone" in preview.parsed.reason
    assert not preview.parsed.fields


def test_trying_a_rule_shows_the_intakes_refusals():
    wrong = ParsingRule(name="Wrong phone", from_contains="realtor",
                        patterns={"email": "Email", "phone": "Comments"})
    preview = preview_rule(wrong, REALTOR)
    assert not preview.mismatches and "phone" in preview.errors


# Rules set up by managers, used for every message that comes in.

@pytest.fixture
def bob(db):
    bob = AgentFactory(name="Bob", email="bob@example.com")
    RuleFactory(name="Everything", is_catch_all=True, roster=RosterFactory.with_members([bob]))
    return bob


def realtor_rule(**changes) -> EmailParsingRule:
    fields = {f"{name}_pattern": value for name, value in REALTOR_PATTERNS.items()}
    return EmailParsingRule.objects.create(**{
        "name": "Realtor.com", "source": LeadSource.objects.get_or_create(name="Realtor.com")[0],
        "from_contains": "@mail.realtor.example.com", "lead_type": "buyer",
        "tags": "realtor.com, tour", **fields, **changes})


def ingest(path: Path, *args: str) -> str:
    out = StringIO()
    call_command("ingest_email", str(path), *args, stdout=out)
    return out.getvalue()


def test_a_portal_email_is_routed_by_the_managers_rule(bob):
    realtor_rule()
    printed = ingest(FIXTURES / "realtor_like.eml")
    lead = Lead.objects.get()
    assert f"lead {lead.pk} assigned to bob@example.com" in printed
    assert (lead.first_name, lead.last_name, lead.phone_normalized) == ("Priya", "Raman",
                                                                        "+19165550142")
    assert (lead.source, lead.lead_type, lead.tags) == ("Realtor.com", "buyer",
                                                        ["realtor.com", "tour"])
    assert (lead.listing_ref, lead.zip_code, int(lead.price)) == ("225014477", "95818", 549000)


def test_a_message_rejected_before_its_rule_existed_is_routed_when_delivered_again(bob):
    key = create_key("Homes.com")[1]
    before = Client().post("/intake/email/", data=HOMES, content_type="message/rfc822",
                           HTTP_AUTHORIZATION=f"Bearer {key}")
    assert before.status_code == 422 and "No lead found" in before.json()["errors"]["email"]
    EmailParsingRule.objects.create(
        name="Homes.com", source=LeadSource.objects.get(name="Homes.com"),
        subject_contains="shopper is interested",
        **{f"{name}_pattern": value for name, value in HOMES_PATTERNS.items()})
    after = Client().post("/intake/email/", data=HOMES, content_type="message/rfc822",
                          HTTP_AUTHORIZATION=f"Bearer {key}")
    assert after.status_code == 201
    assert Lead.objects.get().email == "luis.navarro@example.org"
    assert sorted(Submission.objects.values_list("outcome", flat=True)) == ["accepted",
                                                                             "rejected"]


def test_a_rule_that_finds_no_contact_keeps_the_message_with_what_was_missing(bob):
    realtor_rule(name_pattern="Full name:", email_pattern="E-mail:", phone_pattern="")
    printed = ingest(FIXTURES / "realtor_like.eml")
    assert "rejected" in printed and not Lead.objects.exists()
    reason = Submission.objects.get().errors["email"]
    assert "parsing rule 'Realtor.com'" in reason
    assert "name (label 'Full name:')" in reason and "email (label 'E-mail:')" in reason


def test_an_inactive_rule_reads_nothing(bob):
    realtor_rule(active=False)
    ingest(FIXTURES / "realtor_like.eml")
    assert not Lead.objects.exists()


# The admin: set up a rule, then try it on a pasted message.

@pytest.fixture
def mc(db, client, settings):
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
    manager = AgentFactory(name="Mia", email="mia@example.com", role=Agent.Role.MANAGER)
    sync_access(manager)
    client.force_login(manager.user)
    return client


def rule_form(**changes) -> dict[str, str]:
    source = LeadSource.objects.get_or_create(name="Realtor.com")[0]
    return {"name": "Realtor.com", "source": str(source.pk), "active": "on", "position": "1",
            "from_contains": "@mail.realtor.example.com", "lead_type": "buyer",
            "tags": "realtor.com", **{f"{k}_pattern": v for k, v in REALTOR_PATTERNS.items()},
            **changes}


def test_a_manager_sets_up_a_rule_and_broken_ones_are_explained(mc):
    url = "/admin/leads/emailparsingrule/add/"
    broken = mc.post(url, rule_form(phone_pattern="Call (?P<phone>[0-9", from_contains=""))
    assert broken.status_code == 200
    page = broken.content.decode()
    assert "Not a valid regular expression" in page
    assert "Say which messages this rule reads" in page
    saved = mc.post(url, rule_form())
    assert saved.status_code == 302
    assert EmailParsingRule.objects.get().phone_pattern == "Phone"


def test_try_it_shows_the_fields_a_pasted_message_gives(mc):
    rule = realtor_rule()
    change = mc.get(f"/admin/leads/emailparsingrule/{rule.pk}/change/").content.decode()
    assert f"/admin/leads/emailparsingrule/{rule.pk}/try/" in change
    url = f"/admin/leads/emailparsingrule/{rule.pk}/try/"
    page = mc.post(url, {"message": REALTOR.decode().replace("\n", "\r\n")}).content.decode()
    assert "This rule would read this message." in page
    assert re.search(r"<th scope=\"row\">Email</th><td>priya\.raman@example\.org</td>", page)
    assert "realtor.com, tour" in page
    other = mc.post(url, {"message": HOMES.decode()}).content.decode()
    assert "This rule would not be used for this message" in other
    assert "no name, email or phone" in other
    assert not Lead.objects.exists() and not Submission.objects.exists()
