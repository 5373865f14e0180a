"""Texts through Twilio: sent via the real client to a local fake, statuses, STOP/START, and
claiming an offer by replying 1, with every webhook's signature checked."""

from __future__ import annotations

import pytest
from django.test import Client
from django.utils import timezone

from agents.models import Agent
from leads.intake import receive_lead
from leads.models import Activity, Lead
from notifications.models import Delivery, Notification, Preference, TextOptOut
from notifications.services import notify
from notifications.tasks import send_notifications
from routing.claims import claim_offer
from routing.models import Offer, Rule
from tests.factories import AgentFactory, RosterFactory, RuleFactory
from tests.twilio_messages_fake import ACCOUNT_SID, AUTH_TOKEN, FROM, SITE, serve, signed_post

pytestmark = pytest.mark.django_db

ANN = "+12015550111"
BEN = "+12015550122"
LEAD_PHONES = {"Pat": "+12015550199", "Sam": "+12015550188"}
INBOUND = "/sms/inbound/"
STATUS = "/sms/status/"


@pytest.fixture
def twilio(settings):
    fake, server = serve()
    settings.SMS_BACKEND = "notifications.sms.TwilioSmsBackend"
    settings.TWILIO_ACCOUNT_SID = ACCOUNT_SID
    settings.TWILIO_AUTH_TOKEN = AUTH_TOKEN
    settings.TWILIO_API_BASE = fake.url
    settings.SMS_FROM = FROM
    settings.SITE_URL = SITE
    settings.EMAIL_BACKEND = "django.core.mail.backends.locmem.EmailBackend"
    yield fake
    server.shutdown()
    server.server_close()


def texting_agent(name: str, phone: str) -> Agent:
    agent = AgentFactory(name=name, phone=phone)
    Preference.objects.create(agent=agent, email=False, sms=True)
    return agent


def offer_to(*agents: Agent, delivery: str = Rule.Delivery.CLAIM, first_name: str = "Pat"):
    """A lead offered now to these agents (the catch-all rule), its texts sent."""
    if not Rule.objects.exists():
        RuleFactory(name="Everything else", is_catch_all=True, delivery=delivery,
                    roster=RosterFactory.with_members(list(agents)))
    lead = receive_lead({"first_name": first_name, "last_name": "Buyer",
                         "email": f"{first_name.lower()}@example.org",
                         "phone": LEAD_PHONES[first_name]},
                        channel="api", received_at=timezone.now()).lead
    send_notifications(list(Notification.objects.filter(dispatched_at__isnull=True)
                            .values_list("pk", flat=True)))
    return lead


def reply(text: str, sender: str = ANN, **kw):
    return signed_post(Client(), INBOUND, {"From": sender, "To": FROM, "Body": text,
                                           "MessageSid": "SM" + "1" * 32}, **kw)


def answer_of(response) -> str:
    body = response.content.decode()
    assert response["Content-Type"].startswith("text/xml")
    return body


# --- Outbound through the real client, and status callbacks -----------------------------------


def test_an_offer_goes_out_through_twilio_with_reply_1_to_claim_and_a_status_callback(twilio):
    ann = texting_agent("Ann", ANN)

    lead = offer_to(ann)

    assert lead.status == Lead.Status.OFFERED
    [message] = twilio.messages
    assert message["To"] == ANN and message["From"] == FROM
    assert "Reply 1 to claim." in message["Body"]
    assert message["StatusCallback"] == f"{SITE}/sms/status/"
    delivery = Delivery.objects.get(channel=Delivery.Channel.SMS)
    assert delivery.status == Delivery.Status.SENT
    assert delivery.provider_message_id == message["sid"]


def test_status_callbacks_are_recorded_on_the_delivery_and_never_go_back(twilio):
    ann = texting_agent("Ann", ANN)
    offer_to(ann)
    delivery = Delivery.objects.get(channel=Delivery.Channel.SMS)
    sid = delivery.provider_message_id

    for status in ("sent", "delivered", "sent"):  # the late "sent" arrives after "delivered"
        response = signed_post(Client(), STATUS, {"MessageSid": sid, "MessageStatus": status,
                                                  "AccountSid": ACCOUNT_SID})
        assert response.status_code == 204

    delivery.refresh_from_db()
    assert delivery.provider_status == "delivered" and delivery.status == Delivery.Status.SENT
    assert delivery.provider_status_at is not None


def test_an_undelivered_text_marks_the_delivery_failed_with_twilios_reason(twilio):
    ann = texting_agent("Ann", ANN)
    offer_to(ann)
    delivery = Delivery.objects.get(channel=Delivery.Channel.SMS)

    signed_post(Client(), STATUS, {"MessageSid": delivery.provider_message_id,
                                   "MessageStatus": "undelivered", "ErrorCode": "30006"})

    delivery.refresh_from_db()
    assert delivery.status == Delivery.Status.FAILED and delivery.next_attempt_at is None
    assert delivery.last_error == "Twilio: undelivered (error 30006)"
    assert delivery.provider_error_code == "30006"


def test_a_number_twilio_refuses_as_unsubscribed_is_recorded_as_opted_out(twilio):
    ann = texting_agent("Ann", ANN)
    twilio.opted_out.add(ANN)

    offer_to(ann)

    delivery = Delivery.objects.get(channel=Delivery.Channel.SMS)
    assert delivery.status == Delivery.Status.FAILED and delivery.next_attempt_at is None
    assert "opted out" in delivery.last_error
    assert TextOptOut.objects.filter(phone=ANN).exists()


# --- Signatures --------------------------------------------------------------------------------


@pytest.mark.parametrize("path", [INBOUND, STATUS])
def test_webhooks_with_a_bad_or_missing_signature_are_refused(twilio, path):
    data = {"From": ANN, "Body": "STOP", "MessageSid": "SMx", "MessageStatus": "failed"}

    forged = signed_post(Client(), path, data, token="someone-elses-token")
    tampered = signed_post(Client(), path, data, signature="AAAA")
    unsigned = Client().post(path, data)
    valid = signed_post(Client(), path, data)

    assert [forged.status_code, tampered.status_code, unsigned.status_code] == [403, 403, 403]
    assert valid.status_code in (200, 204)


def test_a_forged_stop_changes_nothing(twilio):
    texting_agent("Ann", ANN)

    reply("STOP", token="someone-elses-token")

    assert not TextOptOut.objects.exists()


# --- STOP, START, HELP ------------------------------------------------------------------------


def test_after_stop_an_offer_sends_no_text_and_start_turns_texts_back_on(twilio):
    ann = texting_agent("Ann", ANN)

    stopped = reply("stop")

    assert stopped.status_code == 200 and "<Message>" not in answer_of(stopped)
    offer_to(ann, first_name="Pat")
    assert twilio.messages == []
    assert not Delivery.objects.filter(channel=Delivery.Channel.SMS).exists()
    assert Notification.objects.filter(recipient=ann).count() == 1  # still told in-app

    started = reply("START")

    assert "You will get leadrouter texts again" in answer_of(started)
    offer_to(ann, first_name="Sam")
    assert [m["To"] for m in twilio.messages] == [ANN]


def test_a_stop_after_the_delivery_was_made_still_stops_the_text(twilio, settings):
    ann = texting_agent("Ann", ANN)
    [note] = notify([ann.pk], Notification.Event.LEAD_ASSIGNED, "Lead assigned", now=timezone.now())
    Delivery.objects.create(notification=note, channel=Delivery.Channel.SMS,
                            next_attempt_at=timezone.now())
    reply("UNSUBSCRIBE")

    send_notifications([note.pk])

    assert twilio.messages == []
    assert Delivery.objects.get().status == Delivery.Status.FAILED


def test_help_says_what_can_be_texted(twilio):
    assert "reply 1 to claim" in answer_of(reply("help")).lower()


# --- Claim by text ----------------------------------------------------------------------------


def test_replying_1_claims_the_offer_and_answers_with_the_leads_contact(twilio):
    ann = texting_agent("Ann", ANN)
    lead = offer_to(ann)

    answer = answer_of(reply("1"))

    lead.refresh_from_db()
    assert lead.status == Lead.Status.ASSIGNED and lead.owner == ann
    assert "You claimed Pat Buyer. Contact them now: +12015550199." in answer
    assert f"{SITE}/leads/{lead.pk}/" in answer
    assert Activity.objects.filter(lead=lead, kind=Activity.Kind.CLAIMED).count() == 1


def test_a_second_reply_is_told_the_lead_is_already_theirs(twilio):
    ann = texting_agent("Ann", ANN)
    offer_to(ann)
    reply("1")

    assert "Pat Buyer: You have already claimed this lead." in answer_of(reply("1"))


def test_a_lost_reply_is_told_another_agent_was_first(twilio):
    ann, ben = texting_agent("Ann", ANN), texting_agent("Ben", BEN)
    lead = offer_to(ann, ben, delivery=Rule.Delivery.FIRST_TO_CLAIM)
    claim_offer(Offer.objects.get(lead=lead, agent=ben).pk, ben, now=timezone.now())

    answer = answer_of(reply("1"))

    assert "Pat Buyer: Another agent claimed this lead first." in answer
    lead.refresh_from_db()
    assert lead.owner == ben


def test_a_late_reply_is_told_the_window_closed(twilio):
    ann = texting_agent("Ann", ANN)
    lead = offer_to(ann)
    Offer.objects.filter(lead=lead).update(deadline=timezone.now())

    answer = answer_of(reply("1"))

    assert "Too late: the claim window for this lead has closed." in answer
    lead.refresh_from_db()
    assert lead.owner is None


def test_with_two_live_offers_1_claims_the_newest_and_names_the_next(twilio):
    ann = texting_agent("Ann", ANN)
    older = offer_to(ann, first_name="Pat")
    newer = offer_to(ann, first_name="Sam")

    first = answer_of(reply("1"))

    assert "You claimed Sam Buyer." in first and "Next open offer: Pat Buyer." in first
    second = answer_of(reply("1"))
    assert "You claimed Pat Buyer." in second and "Next open offer" not in second
    assert set(Lead.objects.filter(owner=ann).values_list("pk", flat=True)) == {older.pk,
                                                                                newer.pk}


def test_a_reply_from_an_unknown_number_claims_nothing(twilio):
    ann = texting_agent("Ann", ANN)
    lead = offer_to(ann)

    answer = answer_of(reply("1", sender="+12015550999"))

    assert "not on any leadrouter agent's profile" in answer
    lead.refresh_from_db()
    assert lead.status == Lead.Status.OFFERED


def test_a_reply_with_no_offer_at_all(twilio):
    texting_agent("Ann", ANN)

    assert "You have no lead offers to claim right now." in answer_of(reply("1"))


# --- The race: a text and a button at the same instant (PostgreSQL) ---------------------------


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
@pytest.mark.parametrize("run", range(5))
def test_claim_by_text_races_a_button_claim_and_exactly_one_wins(twilio, run):
    from tests.threads import together

    ann, ben = texting_agent("Ann", ANN), texting_agent("Ben", BEN)
    lead = offer_to(ann, ben, delivery=Rule.Delivery.FIRST_TO_CLAIM)
    ben_offer = Offer.objects.get(lead=lead, agent=ben)

    text, button = together([lambda: answer_of(reply("1")),
                             lambda: claim_offer(ben_offer.pk, ben, now=timezone.now())])

    lead.refresh_from_db()
    statuses = sorted(Offer.objects.filter(lead=lead).values_list("status", flat=True))
    assert statuses == [Offer.Status.CLAIMED, Offer.Status.WITHDRAWN]
    assert Activity.objects.filter(lead=lead, kind=Activity.Kind.CLAIMED).count() == 1
    if isinstance(button, Lead):  # the button won: the text is told so
        assert lead.owner == ben and "Another agent claimed this lead first." in text
    else:  # the text won: the button was refused
        assert lead.owner == ann and "You claimed Pat Buyer." in text
        assert "Another agent claimed this lead first." in str(button)
