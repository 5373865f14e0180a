"""Instant calls racing on PostgreSQL: one press of 1 wins, whatever else arrives at once."""

from __future__ import annotations

import pytest
from django.test import Client
from django.utils import timezone

from leads.intake import receive_lead
from leads.models import Activity, Lead
from routing import calls
from routing.call_flow import place_call
from routing.clock import run_clock
from routing.models import Brokerage, Offer, OfferCall, Rule
from tests.factories import AgentFactory, RosterFactory, RuleFactory
from tests.threads import together
from tests.twilio_fake import FakeTwilio, LocalHttpClient, post_signed

pytestmark = [pytest.mark.postgres, pytest.mark.django_db(transaction=True)]


@pytest.fixture
def twilio(settings, monkeypatch):
    fake = FakeTwilio()
    LocalHttpClient.base = fake.base
    settings.VOICE_BACKEND = "tests.twilio_fake.LocalTwilioBackend"
    settings.TWILIO_ACCOUNT_SID = "AC" + "0" * 32
    settings.TWILIO_AUTH_TOKEN = "test-auth-token"
    settings.VOICE_FROM = "+12015550100"
    settings.SITE_URL = "https://leads.example.com"
    monkeypatch.setattr(calls, "async_task", lambda name, call_id, **kw: place_call(call_id))
    yield fake
    fake.close()


def offered_lead(*phones: str) -> Lead:
    Brokerage.objects.update_or_create(pk=1, defaults={"actionable_window": []})
    agents = [AgentFactory(user=None, name=f"Agent {i}", email=f"a{i}@example.com", phone=p)
              for i, p in enumerate(phones)]
    RuleFactory(name="Calls", is_catch_all=True, delivery=Rule.Delivery.INSTANT_CALL,
                roster=RosterFactory.with_members(agents))
    result = receive_lead({"first_name": "Pat", "email": "pat@example.org",
                           "phone": "+12015550123"}, channel="api", received_at=timezone.now())
    return result.lead


def press_1(call: OfferCall):
    return lambda: post_signed(Client(), f"/voice/calls/{call.pk}/press/", {"Digits": "1"})


def test_two_presses_of_1_at_once_claim_once(twilio):
    lead = offered_lead("+12015550001", "+12015550002")
    call = OfferCall.objects.get(lead=lead)
    answers = together([press_1(call), press_1(call), press_1(call)])
    bodies = [a.content.decode() for a in answers]
    assert sum("<Dial" in b for b in bodies) == 1
    assert sum("already claimed" in b for b in bodies) == 2
    lead.refresh_from_db()
    assert lead.status == Lead.Status.ASSIGNED and lead.owner_id == call.agent_id
    assert lead.activities.filter(kind=Activity.Kind.CLAIMED).count() == 1
    assert len(twilio.calls) == 1


@pytest.mark.parametrize("rival", ["clock", "no-answer"])
def test_press_1_against_the_timeout_has_one_outcome(rival, twilio):
    lead = offered_lead("+12015550001", "+12015550002")
    call = OfferCall.objects.get(lead=lead)
    offer = Offer.objects.get(pk=call.offer_id)
    if rival == "clock":
        other = lambda: run_clock(offer.deadline)  # noqa: E731
    else:
        other = lambda: post_signed(Client(), f"/voice/calls/{call.pk}/status/",  # noqa: E731
                                    {"CallStatus": "no-answer"})
    answers = together([press_1(call), other])
    lead.refresh_from_db()
    offer.refresh_from_db()
    pressed = answers[0].content.decode()
    if "<Dial" in pressed:  # the press won: nobody else is ever called
        assert offer.status == Offer.Status.CLAIMED and lead.owner_id == call.agent_id
        assert len(twilio.calls) == 1
    else:  # the timeout won: the press hears so and the next agent is called
        assert offer.status == Offer.Status.EXPIRED and lead.owner_id is None
        assert "Too late" in pressed
        assert [c["To"] for c in twilio.calls] == [["+12015550001"], ["+12015550002"]]
    assert lead.activities.filter(kind=Activity.Kind.CLAIMED).count() == (
        1 if "<Dial" in pressed else 0)
