"""The agent's stages a brokerage starts with; managers rename and reorder them in the admin."""

from django.db import migrations

#: (key, name, outcome), in order.
DEFAULT_STAGES = [
    ("new", "New", "open"),
    ("attempting", "Attempting contact", "open"),
    ("contacted", "Contacted", "open"),
    ("appointment", "Appointment set", "open"),
    ("met", "Met", "open"),
    ("under_contract", "Under contract", "open"),
    ("closed", "Closed", "won"),
    ("nurture", "Nurture", "open"),
    ("lost", "Lost", "lost"),
]


def create_default_stages(apps, schema_editor):
    """Each default stage that is not there yet (by key), numbered from 1."""
    Stage = apps.get_model("leads", "Stage")
    for position, (key, name, outcome) in enumerate(DEFAULT_STAGES, start=1):
        Stage.objects.get_or_create(key=key, defaults={"name": name, "position": position,
                                                       "outcome": outcome})


def remove_default_stages(apps, schema_editor):
    """Back to no stages: leads forget theirs (the column goes with 0016)."""
    apps.get_model("leads", "Lead").objects.filter(stage__isnull=False).update(stage=None)
    apps.get_model("leads", "Stage").objects.filter(
        key__in=[key for key, _, _ in DEFAULT_STAGES]).delete()


class Migration(migrations.Migration):
    dependencies = [("leads", "0016_lead_stages")]

    operations = [migrations.RunPython(create_default_stages, remove_default_stages)]
