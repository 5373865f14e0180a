"""The people groups: Managers run routing from the admin; Agents and ISAs use their pages."""

from django.contrib.auth.management import create_permissions
from django.db import migrations

MANAGED = {
    "agents": ["agent", "roster", "rostermember", "shift"],
    "routing": ["brokerage", "rule", "rulecriterion", "rulewindow"],
}
VIEW_AND_CHANGE = {
    "leads": ["lead", "activity"],
    "routing": ["offer", "routingrecord", "rotationstate"],
}
VIEW_ONLY = {"leads": ["submission"], "notifications": ["notification", "delivery"]}


def create_groups(apps, schema_editor):
    for app_config in apps.get_app_configs():
        app_config.models_module = True
        create_permissions(app_config, apps=apps, verbosity=0)
        app_config.models_module = None
    Group = apps.get_model("auth", "Group")
    Permission = apps.get_model("auth", "Permission")

    def perms(spec, actions):
        return [
            Permission.objects.get(content_type__app_label=app, codename=f"{action}_{model}")
            for app, models in spec.items() for model in models for action in actions
        ]

    managers, _ = Group.objects.get_or_create(name="Managers")
    managers.permissions.set(
        perms(MANAGED, ("add", "change", "delete", "view"))
        + perms(VIEW_AND_CHANGE, ("change", "view"))
        + perms(VIEW_ONLY, ("view",))
    )
    Group.objects.get_or_create(name="Agents")
    Group.objects.get_or_create(name="ISAs")


def remove_groups(apps, schema_editor):
    apps.get_model("auth", "Group").objects.filter(
        name__in=["Managers", "Agents", "ISAs"]).delete()


class Migration(migrations.Migration):
    dependencies = [
        ("agents", "0001_initial"),
        ("auth", "0012_alter_user_first_name_max_length"),
        ("contenttypes", "0002_remove_content_type_name"),
        ("routing", "0005_remove_offer_one_offer_per_agent_lead_offer_round_and_more"),
        ("leads", "0004_lead_routing_round"),
        ("notifications", "0002_delivery_next_attempt_at_alter_notification_event_and_more"),
    ]

    operations = [migrations.RunPython(create_groups, remove_groups)]
