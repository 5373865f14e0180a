"""An offer's lead has no index of its own: the unique (lead, agent, round) leads with the lead,
and serves every read by lead. Only the index goes: the foreign key's constraint stays as it
is (Django's own alteration would drop it and check every row again)."""

import django.db.models.deletion
from django.db import migrations, models

INDEX = "routing_offer_lead_id_c89c2665"


class Migration(migrations.Migration):

    dependencies = [
        ("leads", "0017_default_stages"),
        ("routing", "0020_routing_record_trace_json"),
    ]

    operations = [
        migrations.SeparateDatabaseAndState(
            state_operations=[
                migrations.AlterField(
                    model_name="offer",
                    name="lead",
                    field=models.ForeignKey(db_index=False,
                                            on_delete=django.db.models.deletion.CASCADE,
                                            related_name="offers", to="leads.lead"),
                ),
            ],
            database_operations=[
                migrations.RunSQL(
                    f'DROP INDEX IF EXISTS "{INDEX}"',
                    reverse_sql=f'CREATE INDEX "{INDEX}" ON "routing_offer" ("lead_id")',
                ),
            ],
        ),
    ]
