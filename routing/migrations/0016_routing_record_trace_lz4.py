"""Routing traces compressed with LZ4 on PostgreSQL (14 and later, when built with it).

A trace is kilobytes of JSON, stored out of line and compressed; PostgreSQL's default
compression (pglz) costs the server several times the CPU of LZ4 for each record written, and
the clock writes a record for every offer it moves on. Stored records keep their compression
until rewritten; nothing changes on SQLite.
"""

from django.db import DatabaseError, migrations, transaction

TABLE = "routing_routingrecord"


def _set_compression(method: str):
    def run(apps, schema_editor) -> None:
        connection = schema_editor.connection
        if connection.vendor != "postgresql" or connection.pg_version < 140000:
            return
        try:
            with transaction.atomic(using=connection.alias):
                schema_editor.execute(
                    f'ALTER TABLE "{TABLE}" ALTER COLUMN "trace" SET COMPRESSION {method}')
        except DatabaseError:  # a server built without LZ4: the default compression stays
            if method != "default":
                return
            raise
    return run


class Migration(migrations.Migration):
    dependencies = [("routing", "0015_report_indexes")]

    operations = [
        migrations.RunPython(_set_compression("lz4"), _set_compression("default")),
    ]
