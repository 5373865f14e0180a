"""Notifications remember when a task handled them; a schedule sweeps those no task did.

Existing notifications count as handled (their task ran long ago): the sweep sends only what is
written from now on and never reached a worker.
"""

from django.db import migrations, models
from django.db.models import F

SCHEDULE = "send undelivered notifications"


def mark_existing_dispatched(apps, schema_editor):
    apps.get_model("notifications", "Notification").objects.filter(
        dispatched_at__isnull=True).update(dispatched_at=F("created_at"))


def create_schedule(apps, schema_editor):
    apps.get_model("django_q", "Schedule").objects.update_or_create(
        name=SCHEDULE,
        defaults={"func": "notifications.tasks.send_undelivered_notifications",
                  "schedule_type": "I", "minutes": 1, "repeats": -1},
    )


def remove_schedule(apps, schema_editor):
    apps.get_model("django_q", "Schedule").objects.filter(name=SCHEDULE).delete()


class Migration(migrations.Migration):

    dependencies = [
        ("notifications", "0005_webhookendpoint_health"),
        ("django_q", "0019_alter_task_options_alter_ormq_key_alter_ormq_lock_and_more"),
    ]

    operations = [
        migrations.AddField(
            model_name="notification",
            name="dispatched_at",
            field=models.DateTimeField(blank=True, db_index=True, editable=False, null=True),
        ),
        migrations.RunPython(mark_existing_dispatched, migrations.RunPython.noop),
        migrations.RunPython(create_schedule, remove_schedule),
    ]
