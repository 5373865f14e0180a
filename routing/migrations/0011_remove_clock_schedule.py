"""The claim clock left the task queue: its own process (``run_clock --loop``) runs it.

A ``tick`` task in the cluster's first-in-first-out queue waited behind the notification and
webhook tasks its own expiries created; the schedule that started it is removed.
"""

from django.db import migrations


def remove_schedule(apps, schema_editor):
    schedules = apps.get_model("django_q", "Schedule").objects
    schedules.filter(name="routing clock").delete()
    schedules.filter(func="routing.clock.tick").delete()


class Migration(migrations.Migration):
    dependencies = [
        ("routing", "0010_handoff_clock_path"),
        ("django_q", "0019_alter_task_options_alter_ormq_key_alter_ormq_lock_and_more"),
    ]

    # Going back does not bring the schedule back: the task it started is gone too.
    operations = [migrations.RunPython(remove_schedule, migrations.RunPython.noop)]
