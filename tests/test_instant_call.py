"""Instant call: agents are phoned one after another, press 1 claims and connects to the lead.

Outbound calls go through the official Twilio client to a local fake of Twilio's REST API;
the voice webhooks are posted signed with ``RequestValidator``. No test reaches the network.
"""

from __future__ import annotations

from datetime import timedelta
from decimal import Decimal
from xml.etree import ElementTree

import pytest
from django.utils import timezone

from agents.models import Agent
from leads.intake import receive_lead
from leads.models import Activity, Lead
from routing import calls
from routing.admin.rule_forms import RuleAdminForm
from routing.call_flow import place_call
from routing.clock import run_clock
from routing.config_file import RoutingFileError, load_routing_file
from routing.engine import step_text
from routing.models import Brokerage, Offer, OfferCall, Rule
from tests.factories import AgentFactory, RosterFactory, RuleFactory
from tests.twilio_fake import FakeTwilio, LocalHttpClient, post_signed

pytestmark = pytest.mark.django_db

TOKEN = "test-auth-token-0123456789abcdef"
LEAD_PHONE = "+12015550123"
ALL_WEEK = ["mon", "tue", "wed", "thu", "fri", "sat", "sun"]


@pytest.fixture
def twilio(settings, monkeypatch):
    """Twilio Voice pointed at the local fake; tasks run as the cluster would, after commit."""
    fake = FakeTwilio()
    LocalHttpClient.base = fake.base
    settings.VOICE_BACKEND = "tests.twilio_fake.LocalTwilioBackend"
    settings.TWILIO_ACCOUNT_SID = "AC" + "0" * 32
    settings.TWILIO_AUTH_TOKEN = TOKEN
    settings.VOICE_FROM = "+12015550100"
    settings.SITE_URL = "https://leads.example.com"
    queued: list[int] = []

    def run_task(name: str, call_id: int, **kwargs) -> None:
        assert name == calls.PLACE_TASK
        queued.append(call_id)
        place_call(call_id)

    monkeypatch.setattr(calls, "async_task", run_task)
    fake.queued = queued
    yield fake
    fake.close()


def agent(name: str, phone: str) -> Agent:
    return AgentFactory(name=name, email=f"{name.lower()}@example.com", user=None, phone=phone)


def calling_rule(*agents: Agent, **kw) -> Rule:
    kw.setdefault("call_timeout_seconds", 30)
    return RuleFactory(name="Instant call", is_catch_all=True, delivery=Rule.Delivery.INSTANT_CALL,
                       roster=RosterFactory.with_members(list(agents)), **kw)


def always_open() -> None:
    Brokerage.objects.update_or_create(pk=1, defaults={"actionable_window": []})


def receive(capture, at=None) -> Lead:
    with capture(execute=True):
        result = receive_lead({"first_name": "Pat", "last_name": "Buyer",
                               "email": "pat@example.org", "phone": LEAD_PHONE,
                               "lead_type": "buyer", "price": "450000", "city": "Hoboken",
                               "source": "Zillow"},
                              channel="api", received_at=at or timezone.now())
    return result.lead


def call_of(lead: Lead, who: Agent) -> OfferCall:
    return OfferCall.objects.get(lead=lead, agent=who)


def twiml(response) -> ElementTree.Element:
    assert response.status_code == 200, response.content
    assert response["Content-Type"] == "text/xml"
    return ElementTree.fromstring(response.content)


def webhook(client, name: str, call: OfferCall, capture, **params):
    with capture(execute=True):
        return post_signed(client, f"/voice/calls/{call.pk}/{name}/",
                           {"CallSid": call.sid, "AccountSid": "AC" + "0" * 32, **params})


def timeline(lead: Lead) -> list[str]:
    return list(lead.activities.order_by("id").values_list("body", flat=True))


def test_press_1_claims_the_lead_and_connects_the_agent(twilio, client,
                                                         django_capture_on_commit_callbacks):
    always_open()
    ann, bob = agent("Ann", "+12015550001"), agent("Bob", "+12015550002")
    calling_rule(ann, bob)
    lead = receive(django_capture_on_commit_callbacks)

    assert lead.status == Lead.Status.OFFERED
    assert len(twilio.calls) == 1  # one agent at a time
    sent = twilio.calls[0]
    call = call_of(lead, ann)
    assert twilio.paths[0] == f"/2010-04-01/Accounts/AC{'0' * 32}/Calls.json"
    assert sent["To"] == ["+12015550001"] and sent["From"] == ["+12015550100"]
    assert sent["Url"] == [f"https://leads.example.com/voice/calls/{call.pk}/answer/"]
    assert sent["StatusCallback"] == [f"https://leads.example.com/voice/calls/{call.pk}/status/"]
    assert sent["Timeout"] == ["30"] and sent["MachineDetection"] == ["Enable"]
    assert call.sid.startswith("CA") and call.placed_at is not None

    spoken = twiml(webhook(client, "answer", call, django_capture_on_commit_callbacks,
                           AnsweredBy="human"))
    gather = spoken.find("Gather")
    assert gather.get("numDigits") == "1"
    assert gather.get("action") == f"https://leads.example.com/voice/calls/{call.pk}/press/"
    said = gather.find("Say").text
    assert "Pat Buyer" in said and "Buyer." in said and "$450,000" in said
    assert "Hoboken" in said and "Zillow" in said and "Press 1 to accept" in said
    assert LEAD_PHONE[-4:] not in said and "pat@example.org" not in said  # no contact details

    connected = twiml(webhook(client, "press", call, django_capture_on_commit_callbacks,
                              Digits="1"))
    assert connected.find("Dial").text == LEAD_PHONE
    lead.refresh_from_db()
    assert lead.owner == ann and lead.status == Lead.Status.ASSIGNED
    assert call_of(lead, ann).outcome == OfferCall.Outcome.ACCEPTED
    assert len(twilio.calls) == 1  # Bob is never called
    bodies = timeline(lead)
    assert any(b.startswith("Instant call to Ann (+12015550001)") for b in bodies)
    assert "Claimed by Ann" in bodies
    assert "Ann pressed 1 on the instant call: connecting them to the lead" in bodies
    record = lead.routing_records.get()
    assert "by instant call" in " ".join(step_text(s) for s in record.trace)

    # Twilio's retry of the same press, or the call ending, changes nothing.
    again = twiml(webhook(client, "press", call, django_capture_on_commit_callbacks, Digits="1"))
    assert "already claimed" in again.find("Say").text
    webhook(client, "status", call, django_capture_on_commit_callbacks, CallStatus="completed")
    lead.refresh_from_db()
    assert lead.owner == ann
    assert lead.activities.filter(kind=Activity.Kind.CLAIMED).count() == 1


@pytest.mark.parametrize("how", ["no-answer", "busy", "voicemail", "press 2", "no key",
                                 "hung up"])
def test_no_accept_moves_on_to_the_next_agent(how, twilio, client,
                                              django_capture_on_commit_callbacks):
    always_open()
    ann, bob = agent("Ann", "+12015550001"), agent("Bob", "+12015550002")
    calling_rule(ann, bob)
    lead = receive(django_capture_on_commit_callbacks)
    call = call_of(lead, ann)
    hook = django_capture_on_commit_callbacks
    if how in ("no-answer", "busy"):
        webhook(client, "status", call, hook, CallStatus=how)
    elif how == "voicemail":
        answer = twiml(webhook(client, "answer", call, hook, AnsweredBy="machine_start"))
        assert answer.find("Hangup") is not None and answer.find("Gather") is None
    else:
        twiml(webhook(client, "answer", call, hook, AnsweredBy="human"))
        if how == "hung up":
            webhook(client, "status", call, hook, CallStatus="completed")
        else:
            said = twiml(webhook(client, "press", call, hook,
                                 Digits="2" if how == "press 2" else ""))
            assert "next agent" in said.find("Say").text

    assert Offer.objects.get(lead=lead, agent=ann).status in (Offer.Status.EXPIRED,
                                                              Offer.Status.DECLINED)
    assert Offer.objects.get(lead=lead, agent=bob).status == Offer.Status.OFFERED
    assert [c["To"] for c in twilio.calls] == [["+12015550001"], ["+12015550002"]]
    expected = {"no-answer": OfferCall.Outcome.NO_ANSWER, "busy": OfferCall.Outcome.NO_ANSWER,
                "voicemail": OfferCall.Outcome.VOICEMAIL, "press 2": OfferCall.Outcome.DECLINED,
                "no key": OfferCall.Outcome.NO_DIGITS, "hung up": OfferCall.Outcome.NO_DIGITS}
    assert call_of(lead, ann).outcome == expected[how]
    assert call_of(lead, bob).placed_at is not None
    lead.refresh_from_db()
    assert lead.status == Lead.Status.OFFERED and lead.owner is None
    assert any(b.startswith("Instant call to Bob") for b in timeline(lead))


def test_unanswered_call_times_out_with_the_clock_then_the_rule_escalates(
        twilio, client, django_capture_on_commit_callbacks):
    always_open()
    ann, bob = agent("Ann", "+12015550001"), agent("Bob", "+12015550002")
    boss = AgentFactory(name="Boss", email="boss@example.com", user=None,
                        role=Agent.Role.MANAGER)
    calling_rule(ann, bob, escalate_to=boss)
    lead = receive(django_capture_on_commit_callbacks)
    offer = Offer.objects.get(lead=lead, agent=ann)
    # 30 s of ringing and 30 s to hear the lead and press 1.
    assert offer.deadline - offer.offered_at == timedelta(seconds=60)
    assert offer.remind_at is None

    with django_capture_on_commit_callbacks(execute=True):
        run_clock(offer.deadline)
    assert Offer.objects.get(pk=offer.pk).status == Offer.Status.EXPIRED
    assert [c["To"] for c in twilio.calls] == [["+12015550001"], ["+12015550002"]]
    # Ann answering late hears that the lead moved on; nothing changes.
    late = twiml(webhook(client, "answer", call_of(lead, ann), django_capture_on_commit_callbacks,
                         AnsweredBy="human"))
    assert "already moved on" in late.find("Say").text
    assert call_of(lead, ann).outcome == OfferCall.Outcome.TOO_LATE

    webhook(client, "status", call_of(lead, bob), django_capture_on_commit_callbacks,
            CallStatus="no-answer")
    lead.refresh_from_db()
    assert lead.owner == boss and lead.status == Lead.Status.ASSIGNED
    assert len(twilio.calls) == 2


def test_outside_the_actionable_window_the_call_waits_for_the_window(
        twilio, django_capture_on_commit_callbacks):
    now = timezone.now()
    local = timezone.localtime(now, timezone.get_fixed_timezone(0))
    opens = (local + timedelta(hours=2)).replace(second=0, microsecond=0)
    closes = opens + timedelta(hours=1)
    Brokerage.objects.update_or_create(pk=1, defaults={"timezone": "UTC", "actionable_window": [
        {"days": ALL_WEEK, "start": f"{opens:%H:%M}", "end": f"{closes:%H:%M}"}]})
    ann = agent("Ann", "+12015550001")
    calling_rule(ann)
    lead = receive(django_capture_on_commit_callbacks, at=now)
    offer = Offer.objects.get(lead=lead)
    assert offer.status == Offer.Status.OFFERED and offer.clock_starts_at == opens
    assert twilio.calls == [] and not OfferCall.objects.exists()
    assert "the call starts when the actionable window opens" in " ".join(
        step_text(s) for s in lead.routing_records.get().trace)

    with django_capture_on_commit_callbacks(execute=True):
        assert run_clock(opens - timedelta(seconds=1)).calls == 0
    assert twilio.calls == []
    with django_capture_on_commit_callbacks(execute=True):
        assert run_clock(opens).calls == 1
    with django_capture_on_commit_callbacks(execute=True):
        assert run_clock(opens + timedelta(seconds=1)).calls == 0  # never twice
    assert [c["To"] for c in twilio.calls] == [["+12015550001"]]


def test_after_hours_assign_rule_assigns_without_a_call(twilio,
                                                        django_capture_on_commit_callbacks):
    local = timezone.localtime(timezone.now(), timezone.get_fixed_timezone(0))
    opens = local + timedelta(hours=2)
    Brokerage.objects.update_or_create(pk=1, defaults={"timezone": "UTC", "actionable_window": [
        {"days": ALL_WEEK, "start": f"{opens:%H:%M}", "end": f"{opens + timedelta(hours=1):%H:%M}"}
    ]})
    ann = agent("Ann", "+12015550001")
    calling_rule(ann, after_hours=Rule.AfterHours.ASSIGN)
    lead = receive(django_capture_on_commit_callbacks)
    assert lead.owner == ann and twilio.calls == []


def test_calls_are_placed_only_after_the_commit(twilio, django_capture_on_commit_callbacks):
    always_open()
    calling_rule(agent("Ann", "+12015550001"))
    with django_capture_on_commit_callbacks(execute=False) as pending:
        receive_lead({"first_name": "Pat", "email": "p@example.org"}, channel="api",
                     received_at=timezone.now())
    assert twilio.calls == [] and OfferCall.objects.get().placed_at is None
    for callback in pending:
        callback()
    assert len(twilio.calls) == 1


def test_a_refused_call_or_a_missing_number_moves_on(twilio, django_capture_on_commit_callbacks):
    always_open()
    ann, bob, cy = (agent("Ann", ""), agent("Bob", "+12015550002"),
                    agent("Cy", "+12015550003"))
    calling_rule(ann, bob, cy)
    twilio.refuse = {"+12015550002"}
    lead = receive(django_capture_on_commit_callbacks)
    assert call_of(lead, ann).outcome == OfferCall.Outcome.FAILED  # no phone number
    assert call_of(lead, bob).outcome == OfferCall.Outcome.FAILED  # Twilio refused
    assert "Invalid 'To' Phone Number" in call_of(lead, bob).error
    assert [c["To"] for c in twilio.calls] == [["+12015550003"]]
    assert "Ann could not be called: the agent has no phone number" in timeline(lead)


def test_webhooks_need_a_valid_signature(twilio, client, django_capture_on_commit_callbacks):
    always_open()
    calling_rule(agent("Ann", "+12015550001"))
    lead = receive(django_capture_on_commit_callbacks)
    call = OfferCall.objects.get()
    path = f"/voice/calls/{call.pk}/press/"
    assert client.post(path, {"Digits": "1"}).status_code == 403
    forged = post_signed(client, path, {"Digits": "1"}, token="not-the-token")
    assert forged.status_code == 403
    assert client.get(path).status_code in (403, 405)
    lead.refresh_from_db()
    assert lead.status == Lead.Status.OFFERED
    assert post_signed(client, "/voice/calls/999999/press/", {"Digits": "1"}).status_code == 404


def test_routing_file_accepts_instant_call():
    text = """
timezone: America/New_York
agents: [{email: ann@example.com, name: Ann, phone: "+12015550001"}]
rosters: [{name: Office, members: [ann@example.com]}]
rules:
  - {name: Calls, catch_all: true, roster: Office, delivery: instant_call,
     call_timeout_seconds: 25}
"""
    data = load_routing_file(text)
    assert data.rules[0].delivery == "instant_call"
    assert data.rules[0].call_timeout_seconds == 25
    with pytest.raises(RoutingFileError) as caught:
        load_routing_file(text.replace("25}", "5}"))
    assert any("call_timeout_seconds" in e and "between 10 and 600" in e
               for e in caught.value.errors)
    target = text + ("handoff_targets: [{name: Desk, roster: Office, "
                     "delivery: instant_call}]\n")
    with pytest.raises(RoutingFileError) as caught:
        load_routing_file(target)
    assert any("delivery" in e for e in caught.value.errors)


def test_export_keeps_the_seconds_to_answer():
    from routing.config_file import apply_routing_file, export_routing

    apply_routing_file(load_routing_file("""
timezone: America/New_York
agents: [{email: ann@example.com, name: Ann}]
rosters: [{name: Office, members: [ann@example.com]}]
rules:
  - {name: Calls, catch_all: true, roster: Office, delivery: instant_call,
     call_timeout_seconds: 25}
"""))
    rule = Rule.objects.get()
    assert (rule.delivery, rule.call_timeout_seconds) == ("instant_call", 25)
    assert "call_timeout_seconds: 25" in export_routing()


def test_rule_form_checks_the_seconds_to_answer():
    roster = RosterFactory.with_members([agent("Ann", "+12015550001")])
    base = {"name": "Calls", "is_active": "on", "roster": roster.pk, "selection": "rotation",
            "delivery": "instant_call", "claim_timeout_minutes": "5", "after_hours": "offer",
            "add_tags": ""}
    form = RuleAdminForm(data={**base, "call_timeout_seconds": "3"})
    assert not form.is_valid()
    assert "between 10 and 600" in form.errors["call_timeout_seconds"][0]
    form = RuleAdminForm(data={**base, "call_timeout_seconds": "40"})
    assert form.is_valid(), form.errors
    assert form.cleaned_data["call_timeout_seconds"] == 40
    assert Rule.Delivery.INSTANT_CALL in form.fields["delivery"].widget.attrs[
        "data-claim-deliveries"]


def test_price_words():
    from routing.call_flow import essentials

    lead = Lead(first_name="", last_name="", lead_type="seller", price=Decimal("1250000"),
                neighborhood="Downtown", city="Hoboken", source="Realtor.com", phone=LEAD_PHONE)
    said = essentials(lead)
    assert said.startswith("New lead: Seller lead, Downtown, Hoboken.")
    assert "$1,250,000" in said and "Realtor.com" in said and "0123" not in said
