"""Many new rows from plain values (``config.rows``): ``COPY`` on PostgreSQL, ``bulk_create``
elsewhere, the same rows stored either way."""

from __future__ import annotations

import json

import pytest
from django.db import connection
from django.utils import timezone

from config.rows import COPY_FROM, insert_instances, new_row
from leads.intake import build_lead, validate_lead
from leads.models import Activity, Lead
from routing.engine import member_step
from routing.models import RoutingRecord
from routing.recording import insert_records
from tests.factories import LeadFactory

pytestmark = pytest.mark.django_db


def test_a_burst_of_entries_is_stored_as_given_each_with_its_id():
    lead = LeadFactory()
    now = timezone.now()
    shared = {"agent": "ann@example.com", "eligible": True}  # one step in many documents
    entries = [Activity(lead=lead, kind=Activity.Kind.EXPIRED, created_at=now,
                        body=f"Offer {i} expired", data=[shared, {"n": i}])
               for i in range(COPY_FROM + 5)]
    insert_instances(entries)
    assert all(entry.pk for entry in entries)
    assert len({entry.pk for entry in entries}) == len(entries)
    stored = {a.pk: a for a in Activity.objects.filter(lead=lead)}
    for i, entry in enumerate(entries):
        row = stored[entry.pk]
        assert (row.kind, row.body, row.created_at) == ("expired", f"Offer {i} expired", now)
        assert row.data == [shared, {"n": i}]


def test_a_few_rows_go_in_as_ever():
    lead = LeadFactory()
    entries = [Activity(lead=lead, kind=Activity.Kind.NOTE, created_at=timezone.now(),
                        body="a note")]
    insert_instances(entries)
    assert Activity.objects.get(pk=entries[0].pk).body == "a note"


@pytest.mark.parametrize("count", [1, COPY_FROM + 5])
def test_routing_traces_are_stored_packed_and_read_back_as_made(count):
    """A record's trace goes in packed, whether alone (the ORM) or in a burst (``COPY`` on
    PostgreSQL), and every reader gets the member steps back."""
    lead = LeadFactory()
    walk = [member_step("agent", agent=f"a{i}@example.com", name=f"A{i}", position=i,
                        per_round=1, why=None if i else "paused", roster="Team")
            for i in range(3)]
    trace = [{"stage": "clock", "text": "Arrived"}, *walk, {"stage": "result", "text": "Offered"}]
    records = [RoutingRecord(lead=lead, created_at=timezone.now(), outcome="offered",
                             reason="rule", summary=f"Offered {i}", trace=trace)
               for i in range(count)]
    insert_records(records)
    assert [r.trace for r in RoutingRecord.objects.filter(lead=lead)] == [trace] * count
    assert list(RoutingRecord.objects.filter(lead=lead).values_list("trace", flat=True)) == (
        [trace] * count)
    with connection.cursor() as cursor:
        cursor.execute("SELECT trace FROM routing_routingrecord WHERE lead_id = %s", [lead.pk])
        raw = cursor.fetchone()[0]
    stored = raw if isinstance(raw, list) else json.loads(raw)
    assert [s["stage"] for s in stored] == ["clock", "members", "result"]


def test_a_row_built_for_bulk_writing_is_the_instance_django_would_build(django_assert_num_queries):
    """``new_row`` takes the positional path of ``Model.__init__``: the same values, defaults
    and relations as keywords give, the relation's object kept (reading it costs no query)."""
    from config.rows import new_row
    from notifications.models import Notification

    lead = LeadFactory()
    now = timezone.now()
    values = {"lead": lead, "kind": Activity.Kind.NOTE, "created_at": now, "body": "Called"}
    fast, usual = new_row(Activity, **values), Activity(**values)
    assert ({f.attname: getattr(fast, f.attname) for f in Activity._meta.concrete_fields}
            == {f.attname: getattr(usual, f.attname) for f in Activity._meta.concrete_fields})
    assert fast._state.adding and fast.pk is None
    with django_assert_num_queries(0):
        assert fast.lead is lead and fast.actor is None
    notice = new_row(Notification, recipient_id=lead.pk, event="x", lead_id=lead.pk,
                     title="t", created_at=now)
    assert notice.body == Notification(title="t").body and notice.lead_id == lead.pk
    with pytest.raises(TypeError):
        new_row(Activity, lead=lead, colour="red")


def _stored(lead: Lead) -> dict:
    """Every column of a stored lead but its id, as the ORM reads it back."""
    return {f.attname: getattr(lead, f.attname) for f in Lead._meta.concrete_fields
            if not f.primary_key}


def test_a_batch_of_leads_is_stored_as_the_orm_saves_one_each_with_its_id():
    """A batch's leads (``COPY`` on PostgreSQL) get every column a lead saved alone gets: the
    defaults, the phone number in its stored form, tags, price, consent, and their own ids."""
    now = timezone.now()
    cleaned, errors = validate_lead({
        "first_name": "Pat", "last_name": "Buyer", "email": "Pat@Example.org",
        "phone": "(212) 555-0100", "price": "450000.50", "tags": "web; spring",
        "consent": True, "source": "Zillow", "city": "Queens", "lead_type": "buyer"})
    assert errors is None
    saved = build_lead(cleaned, received_at=now)
    saved.save()
    batch = [build_lead(cleaned, received_at=now) for _ in range(COPY_FROM + 5)]
    batch[1].phone = ""  # no phone
    batch[2].price = None

    insert_instances(batch)

    assert all(lead.pk and not lead._state.adding for lead in batch)
    assert len({lead.pk for lead in batch} | {saved.pk}) == len(batch) + 1
    expected = _stored(Lead.objects.get(pk=saved.pk))
    assert expected["phone"] == "+12125550100" and expected["status"] == "unassigned"
    stored = Lead.objects.in_bulk([lead.pk for lead in batch])
    for at, lead in enumerate(batch):
        row = _stored(stored[lead.pk])
        if at == 1:
            assert row.pop("phone") == "" and expected.get("phone")
            row["phone"] = expected["phone"]
        if at == 2:
            assert row["price"] is None
            row["price"] = expected["price"]
        assert row == expected
    with connection.cursor() as cursor:
        cursor.execute("SELECT phone FROM leads_lead WHERE id = %s", [batch[0].pk])
        assert cursor.fetchone()[0] == "+12125550100"
    assert Lead.objects.create(received_at=now, first_name="Next").pk > max(
        lead.pk for lead in batch)  # ids drawn from the table's own sequence


def _orm_prepared(rows) -> list:
    """Every value of these new rows as Django's compiler prepares it for an ``INSERT``."""
    from django.db import connections

    db = connections["default"]
    fields = [f for f in type(rows[0])._meta.concrete_fields
              if not f.primary_key and not f.generated]
    return [field.get_db_prep_save(field.pre_save(row, add=True), db)
            for row in rows for field in fields]


def _comparable(value):
    """A driver's wrapper (``Jsonb``, ``Int8``) by its type and what it holds."""
    return type(value), getattr(value, "obj", value)


@pytest.mark.parametrize("phone", ["(212) 555-0100", "+44 20 7946 0958", "+1 212 555 0100", ""])
def test_an_insert_built_by_hand_sends_the_values_the_orm_prepares(phone):
    """``values_insert`` takes short ways for the values Django's fields send as they are:
    every value it sends is the one ``get_db_prep_save`` makes, of the same type, for the
    tables a lead's arrival writes (a lead, its record, offer, notice, log entry, answer)."""
    from config.rows import values_insert
    from leads.models import IdempotencyRecord, LeadSource, Submission
    from notifications.models import Notification
    from routing.models import Offer
    from tests.factories import AgentFactory

    now = timezone.now()
    cleaned, errors = validate_lead({
        "first_name": "Pat", "email": "pat@example.org", "phone": phone, "price": "450000.50",
        "tags": "web; spring", "consent": True, "source": "Zillow", "lead_type": "buyer",
        "score": 7, "external_id": "ext-1"})
    assert errors is None
    lead = build_lead(cleaned, received_at=now)
    agent = AgentFactory()
    lead.owner, lead.status, lead.assigned_at = agent, Lead.Status.ASSIGNED, now
    saved = LeadFactory()
    source = LeadSource.objects.create(name="Zillow")
    submission = Submission(channel=Submission.Channel.API, source="Zillow", received_at=now,
                            payload={"first_name": "Pat"}, lead=saved,
                            outcome=Submission.Outcome.ACCEPTED, response={"lead": saved.pk})
    batches = [
        [lead], [submission],
        [IdempotencyRecord(source=source, kind=IdempotencyRecord.Kind.HEADER, key_hash="ab" * 32,
                           status_code=201, response={"lead": saved.pk}, lead=saved,
                           submission=None, created_at=now, request_digest="cd" * 32)],
        [RoutingRecord(lead=saved, created_at=now, outcome="offered", reason="rule",
                       summary="Offered", trace=[{"stage": "result", "text": "Offered"}])],
        [Offer(lead=saved, agent=agent, deadline=now), Offer(lead=saved, agent=agent,
                                                            deadline=now)],
        [new_row(Notification, recipient_id=agent.pk, event=Notification.Event.LEAD_OFFERED,
                 lead_id=saved.pk, title="Lead offered", body="", created_at=now)],
        [Activity(lead=saved, kind=Activity.Kind.NOTE, created_at=now, body="Called")],
    ]
    for rows in batches:
        sql, params = values_insert(rows)
        assert sql.count("%s") == len(params)
        assert [_comparable(v) for v in params] == [
            _comparable(v) for v in _orm_prepared(rows)], type(rows[0]).__name__
    stored_phone = values_insert([lead])[1][
        [f.name for f in Lead._meta.concrete_fields if not f.primary_key].index("phone")]
    assert stored_phone == (lead.phone.as_e164 if phone else "")
