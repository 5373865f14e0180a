"""Deliveries: a "sending" claim, one delivery per channel, the retry schedule.

Also lets Managers edit notification preferences (and retry deliveries) in the admin.
"""

from django.contrib.auth.management import create_permissions
from django.db import migrations, models

SCHEDULE = "retry notification deliveries"
MANAGER_PERMISSIONS = [
    "add_preference", "change_preference", "delete_preference", "view_preference",
    "change_delivery",
]


def drop_duplicate_deliveries(apps, schema_editor):
    """Keep one delivery per notification and channel (a sent one if any) before the constraint."""
    Delivery = apps.get_model("notifications", "Delivery")
    kept = set()
    rows = Delivery.objects.values_list("pk", "notification_id", "channel", "status")
    duplicates = []
    for pk, notification_id, channel, _status in sorted(
        rows, key=lambda r: (r[1], r[2], r[3] != "sent", r[0])
    ):
        if (notification_id, channel) in kept:
            duplicates.append(pk)
        else:
            kept.add((notification_id, channel))
    for start in range(0, len(duplicates), 500):
        Delivery.objects.filter(pk__in=duplicates[start:start + 500]).delete()


def create_schedule(apps, schema_editor):
    Schedule = apps.get_model("django_q", "Schedule")
    Schedule.objects.update_or_create(
        name=SCHEDULE,
        defaults={"func": "notifications.tasks.retry_failed_deliveries", "schedule_type": "I",
                  "minutes": 1, "repeats": -1},
    )


def remove_schedule(apps, schema_editor):
    apps.get_model("django_q", "Schedule").objects.filter(name=SCHEDULE).delete()


def grant_managers(apps, schema_editor):
    app_config = apps.get_app_config("notifications")
    app_config.models_module = True
    create_permissions(app_config, apps=apps, verbosity=0)
    app_config.models_module = None
    managers = apps.get_model("auth", "Group").objects.filter(name="Managers").first()
    if managers is not None:
        managers.permissions.add(*apps.get_model("auth", "Permission").objects.filter(
            content_type__app_label="notifications", codename__in=MANAGER_PERMISSIONS))


def revoke_managers(apps, schema_editor):
    managers = apps.get_model("auth", "Group").objects.filter(name="Managers").first()
    if managers is not None:
        managers.permissions.remove(*apps.get_model("auth", "Permission").objects.filter(
            content_type__app_label="notifications", codename__in=MANAGER_PERMISSIONS))


class Migration(migrations.Migration):

    dependencies = [
        ("notifications", "0002_delivery_next_attempt_at_alter_notification_event_and_more"),
        ("django_q", "0019_alter_task_options_alter_ormq_key_alter_ormq_lock_and_more"),
        ("agents", "0002_groups"),
        ("auth", "0012_alter_user_first_name_max_length"),
        ("contenttypes", "0002_remove_content_type_name"),
    ]

    operations = [
        migrations.AlterField(
            model_name="delivery",
            name="status",
            field=models.CharField(
                choices=[("pending", "Pending"), ("sending", "Sending"), ("sent", "Sent"),
                         ("failed", "Failed")],
                default="pending", max_length=10),
        ),
        migrations.RunPython(drop_duplicate_deliveries, migrations.RunPython.noop),
        migrations.AddConstraint(
            model_name="delivery",
            constraint=models.UniqueConstraint(fields=("notification", "channel"),
                                               name="one_delivery_per_channel"),
        ),
        migrations.RunPython(create_schedule, remove_schedule),
        migrations.RunPython(grant_managers, revoke_managers),
    ]
