"""The demo a newcomer can watch: ISA queues in every stage, offers running out a few minutes
apart (the hot leads' not before there is time to log in), and leads arriving while it runs;
never with production settings."""

from __future__ import annotations

import io
from datetime import timedelta

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError
from django.utils import timezone

from agents.models import Agent
from leads.models import Lead
from routing.management.demo import HOT_FIRST, ISA_STAGES, WATCH_FIRST
from routing.models import Handoff, Offer

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def _demo(settings):
    settings.EMAIL_BACKEND = "django.core.mail.backends.locmem.EmailBackend"
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]


def seed() -> str:
    out = io.StringIO()
    call_command("seed_demo", stdout=out)
    return out.getvalue()


def open_deadlines(*, hot: bool) -> list:
    offers = Offer.objects.filter(status=Offer.Status.OFFERED)
    offers = offers.filter(rule__name="Hot leads") if hot else offers.exclude(
        rule__name="Hot leads")
    return sorted({o.deadline for o in offers})


def test_every_isa_has_a_lead_in_every_stage():
    text = seed()
    assert "ISA queues: 2 new, 2 contacted, 2 nurturing, 2 qualified, 2 handed off, 2 dead." \
        in text
    for isa in Agent.objects.filter(role=Agent.Role.ISA):
        stages = set(Lead.objects.filter(isa=isa).values_list("isa_stage", flat=True))
        stages |= {"new"} if Lead.objects.filter(owner=isa, isa_stage__in=["", "new"]) else set()
        assert set(ISA_STAGES) <= stages, (isa.name, stages)
    handoff = Handoff.objects.select_related("agent").get(isa__email="megan.doyle@example.com")
    assert handoff.agent.role == Agent.Role.AGENT
    assert Lead.objects.get(pk=handoff.lead_id).owner == handoff.agent


def test_the_five_hot_leads_wait_for_a_newcomer_and_run_out_one_by_one():
    before = timezone.now()
    seed()
    hot = Lead.objects.filter(rule__name="Hot leads", status=Lead.Status.OFFERED)
    assert hot.count() == 5
    deadlines = open_deadlines(hot=True)
    assert len(deadlines) == 5  # one after the other, not all at once
    assert deadlines[0] >= before + HOT_FIRST - timedelta(seconds=5)
    gaps = [b - a for a, b in zip(deadlines, deadlines[1:], strict=False)]
    assert all(gap >= timedelta(minutes=2) for gap in gaps)


def test_other_offers_run_out_while_you_watch():
    before = timezone.now()
    seed()
    deadlines = open_deadlines(hot=False)
    assert len(deadlines) >= 3
    assert deadlines[0] <= before + WATCH_FIRST + timedelta(minutes=1)
    assert deadlines[-1] <= before + timedelta(minutes=40)  # all within a demo's first half hour
    assert len(set(deadlines)) == len(deadlines)


def test_leads_keep_arriving_in_demo_mode(settings):
    settings.DEBUG = True
    seed()
    leads = Lead.objects.count()
    out = io.StringIO()
    call_command("demo_life", "--count", "4", stdout=out)
    assert Lead.objects.count() == leads + 4
    assert out.getvalue().count("Demo lead arrived:") == 4
    newest = list(Lead.objects.order_by("-id")[:4])
    assert any(lead.site == "openhouse.example.com" for lead in newest)  # one for the ISAs


def test_the_living_demo_never_runs_with_production_settings(settings, monkeypatch):
    settings.DEBUG = False
    with pytest.raises(CommandError, match="only with DEBUG on"):
        call_command("demo_life", "--loop")
    from routing.management.commands import serve

    monkeypatch.setattr(serve.subprocess, "Popen", lambda *a, **k: pytest.fail("started"))
    with pytest.raises(CommandError, match="only with DEBUG on"):
        call_command("serve", "--demo", stdout=io.StringIO())


def test_serve_in_demo_mode_starts_the_arrivals_beside_the_rest(settings, monkeypatch):
    from routing.management.commands import serve

    settings.DEBUG = True
    started: list[list[str]] = []

    class Process:  # stops at once, so that serve returns
        pid = 1

        def __init__(self, command: list[str], **_: object) -> None:
            started.append(command[2:])

        def poll(self) -> int:
            return 0

    monkeypatch.setattr(serve.subprocess, "Popen", Process)
    monkeypatch.setattr(serve, "stop_process", lambda process: None)
    monkeypatch.setattr(serve.signal, "signal", lambda *args: None)
    monkeypatch.setattr(serve, "call_command", lambda *args, **kwargs: None)
    call_command("serve", "--demo", stdout=io.StringIO())
    assert ["demo_life", "--loop"] in started
    started.clear()
    call_command("serve", stdout=io.StringIO())
    assert ["demo_life", "--loop"] not in started
