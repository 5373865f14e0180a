"""The answer to the lead: sent by the task cluster once routing commits, never at night (it
goes out when the actionable window opens), never without consent where the source asks for
it, naming the agent who has the lead, and kept on the lead's timeline."""

from __future__ import annotations

from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
from django.core import mail
from django_q.models import OrmQ, Schedule

from agents.models import Agent
from leads import autoresponder
from leads.admin import AutoResponseForm
from leads.intake import receive_lead
from leads.models import Activity, AutoReply, AutoResponse, Lead, LeadSource
from notifications import sms
from routing.claims import claim_offer
from routing.models import Brokerage, Offer, Rule
from tests.factories import AgentFactory, RosterFactory, RuleFactory

pytestmark = pytest.mark.django_db

NY = ZoneInfo("America/New_York")
DAY = datetime(2026, 11, 18, 10, 0, tzinfo=NY)  # a Wednesday morning, inside 08:00-21:00
NIGHT = datetime(2026, 11, 18, 23, 30, tzinfo=NY)
MORNING = datetime(2026, 11, 19, 8, 0, tzinfo=NY)
SEC = timedelta(seconds=1)


@pytest.fixture(autouse=True)
def _backends(settings):
    settings.EMAIL_BACKEND = "django.core.mail.backends.locmem.EmailBackend"
    settings.SMS_BACKEND = "notifications.sms.LocmemSmsBackend"
    sms.outbox.clear()
    brokerage = Brokerage.load()
    brokerage.name = "Harbor Realty"
    brokerage.save()
    yield
    sms.outbox.clear()


def answered_rule(delivery: str = Rule.Delivery.ASSIGN, **template) -> tuple[Rule, Agent]:
    olivia = AgentFactory(name="Olivia Bennett", email="olivia@example.com", user=None,
                          phone="+12015550188")
    rule = RuleFactory(name="Everything else", is_catch_all=True, delivery=delivery,
                       roster=RosterFactory.with_members([olivia]))
    template.setdefault("email_subject", "Thanks {first_name}, {agent_name} here")
    template.setdefault("email_body", "Hi {first_name}, I am {agent_name} of {brokerage}. "
                                      "Call me at {agent_phone}.")
    template.setdefault("sms_body", "Hi {first_name}, {agent_name} ({brokerage}) will call "
                                    "you shortly: {agent_phone}")
    AutoResponse.objects.create(rule=rule, **template)
    return rule, olivia


def arrive(at: datetime, **fields) -> Lead:
    data = {"first_name": "Pat", "email": "pat@example.org", "phone": "+12015550123",
            "lead_type": "buyer", **fields}
    return Lead.objects.get(pk=receive_lead(data, channel="api", received_at=at).lead.pk)


def queued_reply_ids() -> list[int]:
    """The reply ids of the send tasks waiting in the cluster's queue."""
    found = []
    for row in OrmQ.objects.all():
        task = row.task
        if task["func"] == "leads.autoresponder.send_replies":
            found.extend(task["args"][0])
    return found


def timeline(lead: Lead) -> list[str]:
    return list(Activity.objects.filter(lead=lead, kind=Activity.Kind.AUTO_REPLY)
                .values_list("body", flat=True))


def test_the_reply_is_sent_by_a_task_committed_with_the_routing(
        django_capture_on_commit_callbacks):
    answered_rule()
    with django_capture_on_commit_callbacks(execute=False) as callbacks:
        lead = arrive(DAY)
    assert callbacks == []  # the ORM broker's tasks are written with the lead
    assert not mail.outbox and not sms.outbox  # nothing sent inside the request
    ids = queued_reply_ids()
    assert len(ids) == 2

    assert autoresponder.send_replies(ids, now=DAY + 2 * SEC) == 2
    [email] = mail.outbox
    assert email.to == ["pat@example.org"]
    assert email.subject == "Thanks Pat, Olivia Bennett here"
    assert "I am Olivia Bennett of Harbor Realty. Call me at (201) 555-0188." in email.body
    assert email.alternatives[0][1] == "text/html"
    [text] = sms.outbox
    assert (text.to, text.body) == (
        "+12015550123", "Hi Pat, Olivia Bennett (Harbor Realty) will call you shortly: "
                        "(201) 555-0188")
    assert set(AutoReply.objects.filter(lead=lead).values_list("status", flat=True)) == {"sent"}
    # A second run of the same task (a retried task) sends nothing again.
    assert autoresponder.send_replies(ids, now=DAY + 3 * SEC) == 0
    assert len(mail.outbox) == 1 and len(sms.outbox) == 1


def test_every_reply_lands_on_the_leads_timeline():
    answered_rule()
    lead = arrive(DAY)
    autoresponder.send_due_replies(now=DAY + SEC)
    entries = timeline(lead)
    assert len(entries) == 2
    assert entries[0].startswith("Auto-reply by email to pat@example.org:\n"
                                 "Thanks Pat, Olivia Bennett here")
    assert entries[1] == ("Auto-reply by text to +12015550123:\nHi Pat, Olivia Bennett "
                          "(Harbor Realty) will call you shortly: (201) 555-0188")


def test_a_lead_arriving_at_night_is_answered_when_the_window_opens(
        django_capture_on_commit_callbacks):
    answered_rule()
    with django_capture_on_commit_callbacks(execute=True):
        lead = arrive(NIGHT)
    assert queued_reply_ids() == []  # nothing to send at night
    assert {r.due_at for r in AutoReply.objects.filter(lead=lead)} == {MORNING}

    assert autoresponder.send_due_replies(now=MORNING - SEC) == 0  # 07:59:59: still waiting
    assert not mail.outbox and not sms.outbox and timeline(lead) == []
    assert autoresponder.send_due_replies(now=MORNING) == 2
    assert len(mail.outbox) == 1 and len(sms.outbox) == 1
    assert len(timeline(lead)) == 2


def test_the_sweep_that_sends_waiting_replies_runs_every_minute():
    schedule = Schedule.objects.get(name="send due auto-replies")
    assert schedule.func == "leads.autoresponder.send_due_replies"
    assert (schedule.schedule_type, schedule.minutes, schedule.repeats) == ("I", 1, -1)


def test_no_reply_without_consent_where_the_source_requires_it():
    answered_rule()
    LeadSource.objects.create(name="Zillow", requires_consent=True)
    silent = arrive(DAY, source="Zillow")
    agreed = arrive(DAY, source="Zillow", consent=True, email="sam@example.org",
                    phone="+12015550124", first_name="Sam")
    other = arrive(DAY, source="Open house", email="kim@example.org", phone="+12015550125",
                   first_name="Kim")  # this source asks for no consent
    assert autoresponder.send_due_replies(now=DAY + SEC) == 4

    assert not AutoReply.objects.filter(lead=silent).exists()
    assert timeline(silent) == ["No auto-reply: Zillow leads need the person's consent, and "
                                "none was given."]
    assert sorted(m.to[0] for m in mail.outbox) == ["kim@example.org", "sam@example.org"]
    assert sorted(m.to for m in sms.outbox) == ["+12015550124", "+12015550125"]
    assert Lead.objects.get(pk=agreed.pk).consent is True
    assert len(timeline(other)) == 2


def test_consent_false_from_a_form_is_no_consent():
    answered_rule()
    LeadSource.objects.create(name="Zillow", requires_consent=True)
    lead = arrive(DAY, source="Zillow", consent="false")
    assert lead.consent is False
    assert autoresponder.send_due_replies(now=DAY + SEC) == 0


def test_an_offered_lead_names_the_agent_who_claimed_it_by_then():
    rule, olivia = answered_rule(Rule.Delivery.CLAIM, email_body="", sms_body=(
        "Hi {first_name}, {agent_name} will call you."))
    lead = arrive(DAY)
    offer = Offer.objects.get(lead=lead, agent=olivia)
    claim_offer(offer.pk, olivia, now=DAY + SEC)
    autoresponder.send_due_replies(now=DAY + 2 * SEC)
    assert [m.body for m in sms.outbox] == ["Hi Pat, Olivia Bennett will call you."]


def test_an_offered_lead_nobody_has_claimed_yet_hears_from_the_team():
    answered_rule(Rule.Delivery.CLAIM, email_body="", sms_body=(
        "Hi {first_name}, {agent_name} at {brokerage} will call you."))
    arrive(DAY)
    autoresponder.send_due_replies(now=DAY + SEC)
    assert [m.body for m in sms.outbox] == ["Hi Pat, our team at Harbor Realty will call you."]


def test_a_rule_without_an_auto_response_sends_nothing():
    olivia = AgentFactory(name="Olivia", email="o@example.com", user=None)
    RuleFactory(name="Everything else", is_catch_all=True,
                roster=RosterFactory.with_members([olivia]))
    arrive(DAY)
    assert not AutoReply.objects.exists()


def test_a_failed_send_is_retried_by_the_sweep(settings):
    answered_rule(email_body="")
    settings.SMS_BACKEND = "tests.test_autoresponder.BrokenSms"
    lead = arrive(DAY)
    assert autoresponder.send_due_replies(now=DAY + SEC) == 0
    reply = AutoReply.objects.get(lead=lead)
    assert (reply.status, reply.last_error) == ("failed", "OSError: provider down")
    settings.SMS_BACKEND = "notifications.sms.LocmemSmsBackend"
    assert autoresponder.send_due_replies(now=DAY + 30 * SEC) == 0  # waits a minute
    assert autoresponder.send_due_replies(now=DAY + 70 * SEC) == 1
    assert len(sms.outbox) == 1 and len(timeline(lead)) == 1


class BrokenSms(sms.BaseSmsBackend):
    def send(self, to: str, body: str) -> None:
        raise OSError("provider down")


def test_the_admin_refuses_a_template_with_an_unknown_placeholder():
    rule = RuleFactory(name="Everything else", is_catch_all=True)
    form = AutoResponseForm(data={"rule": rule.pk, "active": True, "email_subject": "Hi",
                                  "email_body": "Hi {first}, {agent_name} here", "sms_body": ""})
    assert not form.is_valid()
    assert "Unknown placeholders: first" in form.errors["email_body"][0]
    empty = AutoResponseForm(data={"rule": rule.pk, "active": True, "email_subject": "",
                                   "email_body": "", "sms_body": ""})
    assert not empty.is_valid()


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_a_real_task_cluster_sends_the_reply_seconds_after_arrival(tmp_path):
    """The production path: the lead committed, a separate ``qcluster`` process sends it."""
    import os
    import subprocess
    import sys
    import time

    from django.db import connection
    from django.utils import timezone

    from leads.management.commands.bench_api import database_url
    from routing.management.commands.serve import stop_process

    answered_rule()
    Brokerage.objects.filter(pk=1).update(actionable_window=[])  # open whatever the hour
    env = {**os.environ, "DATABASE_URL": database_url(connection.settings_dict),
           "Q_BROKER": "orm", "Q_SYNC": "false", "Q_WORKERS": "1",
           "EMAIL_BACKEND": "django.core.mail.backends.filebased.EmailBackend",
           "EMAIL_FILE_PATH": str(tmp_path / "mail"),
           "SMS_BACKEND": "notifications.sms.FileSmsBackend",
           "SMS_FILE_PATH": str(tmp_path / "sms.jsonl")}
    with open(tmp_path / "qcluster.log", "w") as log:
        cluster = subprocess.Popen([sys.executable, "manage.py", "qcluster"], env=env,
                                   stdout=log, stderr=subprocess.STDOUT,
                                   start_new_session=True)
    try:
        lead = arrive(timezone.now())
        give_up = time.monotonic() + 60
        while time.monotonic() < give_up and AutoReply.objects.filter(
                lead=lead, status=AutoReply.Status.SENT).count() < 2:
            time.sleep(0.2)
    finally:
        stop_process(cluster, group=True)
    assert AutoReply.objects.filter(lead=lead, status=AutoReply.Status.SENT).count() == 2
    assert "Olivia Bennett (Harbor Realty)" in (tmp_path / "sms.jsonl").read_text()
    assert "Thanks Pat, Olivia Bennett here" in "".join(
        p.read_text() for p in (tmp_path / "mail").iterdir())
    assert len(timeline(lead)) == 2
