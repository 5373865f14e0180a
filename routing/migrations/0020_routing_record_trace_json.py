"""Routing traces stored as ``json`` on PostgreSQL, not ``jsonb``, and packed
(``routing.fields.TraceField``).

``jsonb`` parses each document into its binary form as it goes in: most of the server's cost
of the routing records a burst writes. ``json`` keeps the text, checked. Records stored
before keep their traces step by step, which read back the same. The column keeps its LZ4
compression (0016). Nothing changes on SQLite but the packing of new traces.
"""

from django.db import DatabaseError, migrations, transaction

import routing.fields

TABLE = "routing_routingrecord"


def _set_type(kind: str):
    def run(apps, schema_editor) -> None:
        connection = schema_editor.connection
        if connection.vendor != "postgresql":
            return
        with connection.cursor() as cursor:
            cursor.execute("SELECT data_type FROM information_schema.columns "
                           "WHERE table_name = %s AND column_name = 'trace'", [TABLE])
            row = cursor.fetchone()
        if not row or row[0] == kind:
            return
        schema_editor.execute(
            f'ALTER TABLE "{TABLE}" ALTER COLUMN "trace" TYPE {kind} USING "trace"::{kind}')
        if connection.pg_version >= 140000:
            try:
                with transaction.atomic(using=connection.alias):
                    schema_editor.execute(
                        f'ALTER TABLE "{TABLE}" ALTER COLUMN "trace" SET COMPRESSION lz4')
            except DatabaseError:  # a server built without LZ4: its default compression
                pass
    return run


class Migration(migrations.Migration):
    dependencies = [("routing", "0019_brokerage_gradual_return")]

    operations = [
        migrations.AlterField(
            model_name="routingrecord",
            name="trace",
            field=routing.fields.TraceField(default=list),
        ),
        migrations.RunPython(_set_type("json"), _set_type("jsonb")),
    ]
