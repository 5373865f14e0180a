"""The task cluster reads the agents' away calendars every 15 minutes."""

from django.db import migrations

SCHEDULE = "refresh away calendars"


def create_schedule(apps, schema_editor):
    apps.get_model("django_q", "Schedule").objects.update_or_create(
        name=SCHEDULE,
        defaults={"func": "agents.away_feed.refresh_away_calendars",
                  "schedule_type": "I", "minutes": 15, "repeats": -1},
    )


def remove_schedule(apps, schema_editor):
    apps.get_model("django_q", "Schedule").objects.filter(name=SCHEDULE).delete()


class Migration(migrations.Migration):

    dependencies = [
        ("agents", "0006_time_off"),
        ("django_q", "0019_alter_task_options_alter_ormq_key_alter_ormq_lock_and_more"),
    ]

    operations = [migrations.RunPython(create_schedule, remove_schedule)]
