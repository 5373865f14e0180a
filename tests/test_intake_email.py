"""Lead e-mails from the portals: read, routed like any lead, kept with the reason when not."""

from __future__ import annotations

import io
import mailbox
import sys
from io import StringIO
from pathlib import Path

import pytest
from django.core.management import call_command

from leads.models import Lead, LeadSource, Submission
from tests.factories import AgentFactory, RosterFactory, RuleFactory

pytestmark = pytest.mark.django_db
FIXTURES = Path(__file__).parent / "fixtures" / "email"


@pytest.fixture
def bob():
    bob = AgentFactory(name="Bob", email="bob@example.com")
    RuleFactory(name="Everything", is_catch_all=True, roster=RosterFactory.with_members([bob]))
    return bob


def ingest(*args: str) -> str:
    out = StringIO()
    call_command("ingest_email", *args, stdout=out)
    return out.getvalue()


def test_a_portal_email_with_lead_tags_is_routed(bob):
    printed = ingest(str(FIXTURES / "portal_meta.eml"))
    lead = Lead.objects.get()
    assert (lead.first_name, lead.last_name, lead.email) == ("Dana", "Whitfield",
                                                             "dana.whitfield@example.org")
    assert lead.owner == bob and f"lead {lead.pk}" in printed
    submission = Submission.objects.get()
    assert submission.channel == "email" and "Message-ID" in submission.raw_body


def test_a_labelled_email_from_a_maildir_is_routed(bob, tmp_path):
    box = mailbox.Maildir(tmp_path / "inbox")
    box.add((FIXTURES / "labelled.eml").read_bytes())
    ingest(str(tmp_path / "inbox"))
    lead = Lead.objects.get()
    assert (lead.first_name, lead.last_name) == ("Marcus", "Ortega")
    assert lead.email == "marcus.ortega@example.org" and lead.owner == bob


def test_an_email_without_a_lead_is_kept_with_the_reason(bob, tmp_path):
    box = mailbox.mbox(tmp_path / "mail.mbox")
    box.add((FIXTURES / "newsletter.eml").read_bytes())
    box.flush()
    printed = ingest(str(tmp_path / "mail.mbox"))
    assert not Lead.objects.exists() and "rejected" in printed
    submission = Submission.objects.get()
    assert submission.outcome == Submission.Outcome.REJECTED
    assert "No lead found" in str(submission.errors)
    assert "market report" in submission.raw_body


def test_the_same_message_twice_from_standard_input_is_one_lead(bob, monkeypatch):
    raw = (FIXTURES / "labelled.eml").read_bytes()
    for _ in range(2):
        monkeypatch.setattr(sys, "stdin", io.TextIOWrapper(io.BytesIO(raw)))
        printed = ingest("-")
    assert Lead.objects.count() == 1 and "duplicate" in printed


def test_the_recipients_name_is_the_existing_source_in_any_case(bob):
    LeadSource.objects.create(name="Homes.com")
    LeadSource.objects.create(name="Homes")
    ingest(str(FIXTURES / "labelled.eml"))  # to homes@leads.example.com
    assert Lead.objects.get().source == "Homes"
    assert Submission.objects.get().source == "Homes"
    assert LeadSource.objects.filter(name__iexact="homes").count() == 1


def test_an_offered_lead_is_printed_with_the_agents_it_waits_on():
    ann = AgentFactory(name="Ann", email="ann@example.com")
    RuleFactory(name="Everything", is_catch_all=True, delivery="claim",
                roster=RosterFactory.with_members([ann]))
    printed = ingest(str(FIXTURES / "labelled.eml"))
    lead = Lead.objects.get()
    assert printed.strip() == f"labelled.eml: lead {lead.pk} offered to ann@example.com"
