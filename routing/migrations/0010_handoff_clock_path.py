"""The hand-off clock moved to the ISA's home: point its schedule at the new path."""

from django.db import migrations

HANDOFF_SCHEDULE = "hand-off clock"
OLD, NEW = "routing.handoff.run_handoff_clock", "leads.isa.handoffs.run_handoff_clock"


def forwards(apps, schema_editor):
    apps.get_model("django_q", "Schedule").objects.filter(func=OLD).update(func=NEW)


def backwards(apps, schema_editor):
    apps.get_model("django_q", "Schedule").objects.filter(func=NEW).update(func=OLD)


class Migration(migrations.Migration):

    dependencies = [
        ("django_q", "0019_alter_task_options_alter_ormq_key_alter_ormq_lock_and_more"),
        ("routing", "0009_routing_trace_document"),
    ]

    operations = [migrations.RunPython(forwards, backwards)]
