"""Emails an agent can act on: HTML and plain text, the lead's essentials without contact
details, the deadline in the brokerage's time, one button to the offer or the lead."""

from __future__ import annotations

from datetime import datetime
from zoneinfo import ZoneInfo

import pytest
from django.core import mail

from leads.intake import receive_lead
from notifications.channels import email_content
from notifications.models import Notification
from notifications.tasks import send_notifications
from routing.claims import claim_offer
from routing.models import Brokerage
from tests.factories import AgentFactory, RosterFactory, RuleFactory

pytestmark = pytest.mark.django_db

TZ = "America/Chicago"
NOW = datetime(2026, 11, 20, 17, 31, tzinfo=ZoneInfo(TZ))
ALL_WEEK = [{"days": ["mon", "tue", "wed", "thu", "fri", "sat", "sun"],
             "start": "00:00", "end": "23:59"}]
SECRETS = ("pat.secret@example.org", "5550199", "555-0199")


@pytest.fixture(autouse=True)
def _mail(settings):
    settings.EMAIL_BACKEND = "django.core.mail.backends.locmem.EmailBackend"
    settings.SITE_URL = "https://leads.example.com"


def offered(delivery: str = "claim"):
    brokerage = Brokerage.load()
    brokerage.name = "Harbor Realty"
    brokerage.timezone = TZ
    brokerage.actionable_window = ALL_WEEK
    brokerage.save()
    ann = AgentFactory(name="Ann Lee", email="ann@example.com")
    RuleFactory(name="Everyone", is_catch_all=True, delivery=delivery,
                roster=RosterFactory.with_members([ann]))
    result = receive_lead({
        "first_name": "", "last_name": "", "email": SECRETS[0], "phone": "+13125550199",
        "source": "Zillow", "lead_type": "buyer", "price": "450000", "city": "Hoboken",
        "zip_code": "07030", "message": "Can we see it Saturday morning?",
    }, channel="api", received_at=NOW)
    return ann, result.lead


def test_an_offer_email_is_html_and_text_with_essentials_deadline_and_one_button():
    ann, lead = offered()
    offer = lead.offers.get()
    deadline = offer.deadline.astimezone(ZoneInfo(TZ))
    note = Notification.objects.get(recipient=ann, event=Notification.Event.LEAD_OFFERED)

    assert email_content(note, now=NOW).subject == (
        f"New buyer lead, $450,000, Hoboken: claim by {deadline:%H:%M}")

    send_notifications([note.pk])
    [message] = mail.outbox
    assert message.subject.startswith("New buyer lead, $450,000, Hoboken: claim by ")
    assert message.to == ["ann@example.com"]
    [(html, mimetype)] = message.alternatives
    assert mimetype == "text/html"
    button = f"https://leads.example.com/offers/#offer-{offer.pk}"
    for part in (message.body, html):
        for essential in ("Buyer lead, Hoboken", "Buyer", "$450,000", "Hoboken, 07030",
                          "Zillow", "Can we see it Saturday morning?",
                          "Claim by ", f"{deadline:%H:%M} ({TZ} time)", button):
            assert essential in part, (essential, part)
        for secret in SECRETS:
            assert secret not in part
    assert html.count("<a href=") == 1  # one button
    assert f'<a href="{button}"' in html


def test_an_assigned_lead_email_opens_the_lead_and_gives_the_first_contact_deadline():
    ann, lead = offered()
    claim_offer(lead.offers.get().pk, ann, now=NOW)
    lead.refresh_from_db()
    note = Notification.objects.create(recipient=ann, event=Notification.Event.LEAD_ASSIGNED,
                                       lead=lead, title=f"New lead: {lead.title}",
                                       created_at=NOW)
    content = email_content(note, now=NOW)
    assert content.button_url == f"https://leads.example.com/leads/{lead.pk}/"
    assert content.subject == "Yours now: buyer lead, $450,000, Hoboken"
    lead.first_contact_due_at = datetime(2026, 11, 20, 17, 45, tzinfo=ZoneInfo(TZ))
    lead.save()
    note.refresh_from_db()
    content = email_content(note, now=NOW)
    assert content.subject == (
        "Yours now: buyer lead, $450,000, Hoboken: first contact by 17:45")
    assert content.deadline == f"First contact by 17:45 ({TZ} time)"


def test_an_ended_offer_email_points_to_the_lead_not_a_deadline():
    ann, lead = offered()
    offer = lead.offers.get()
    note = Notification.objects.get(recipient=ann, event=Notification.Event.LEAD_OFFERED)
    offer.status = offer.Status.EXPIRED
    offer.save()
    content = email_content(note, now=NOW)
    assert content.subject == "New buyer lead, $450,000, Hoboken"
    assert content.deadline == "" and content.button_label == "Open the lead"
