"""Indexes for searching, filtering and sorting the customer index.

Every database gets one (column, tatum_id) index per sortable column. PostgreSQL also gets pg_trgm and a
GIN trigram index on UPPER(external_id), the expression Django's icontains compiles to there, so a
partial external-id search does not read the whole table.
"""

from django.contrib.postgres.operations import TrigramExtension
from django.db import migrations, models

TRIGRAM_INDEX_NAME = "cr_external_id_trgm"


def add_trigram_index(apps, schema_editor):
    if schema_editor.connection.vendor != "postgresql":
        return
    table = schema_editor.quote_name(apps.get_model("customers", "CustomerRecord")._meta.db_table)
    # The expression must be the one `external_id__icontains` compiles to on PostgreSQL, UPPER(...) LIKE
    # UPPER(...), or the planner cannot use the index. (Django's OpClass needs django.contrib.postgres
    # installed as an app to write this; the dashboard does not otherwise need it.)
    schema_editor.execute(
        f"CREATE INDEX {schema_editor.quote_name(TRIGRAM_INDEX_NAME)} ON {table} "
        'USING gin (UPPER("external_id") gin_trgm_ops)'
    )


def remove_trigram_index(apps, schema_editor):
    if schema_editor.connection.vendor != "postgresql":
        return
    schema_editor.execute(f"DROP INDEX IF EXISTS {schema_editor.quote_name(TRIGRAM_INDEX_NAME)}")


class Migration(migrations.Migration):
    dependencies = [
        ("customers", "0012_customer_index_compliance"),
    ]

    operations = [
        # Does nothing on databases other than PostgreSQL.
        TrigramExtension(),
        migrations.AddIndex(
            model_name="customerrecord",
            index=models.Index(fields=["external_id", "tatum_id"], name="cr_external_id_sort"),
        ),
        migrations.AddIndex(
            model_name="customerrecord",
            index=models.Index(fields=["accounting_currency", "tatum_id"], name="cr_currency_sort"),
        ),
        migrations.AddIndex(
            model_name="customerrecord",
            index=models.Index(fields=["customer_country", "tatum_id"], name="cr_country_sort"),
        ),
        migrations.AddIndex(
            model_name="customerrecord",
            index=models.Index(fields=["provider_country", "tatum_id"], name="cr_provider_country_sort"),
        ),
        migrations.AddIndex(
            model_name="customerrecord",
            index=models.Index(fields=["active", "tatum_id"], name="cr_active_sort"),
        ),
        migrations.AddIndex(
            model_name="customerrecord",
            index=models.Index(fields=["enabled", "tatum_id"], name="cr_enabled_sort"),
        ),
        migrations.AddIndex(
            model_name="customerrecord",
            index=models.Index(fields=["compliance_gap", "tatum_id"], name="cr_gap_sort"),
        ),
        migrations.AddIndex(
            model_name="customerrecord",
            index=models.Index(fields=["first_seen_at", "tatum_id"], name="cr_first_seen_sort"),
        ),
        migrations.AddIndex(
            model_name="customerrecord",
            index=models.Index(fields=["last_seen_at", "tatum_id"], name="cr_last_seen_sort"),
        ),
        migrations.AddIndex(
            model_name="customerrecord",
            index=models.Index(fields=["missing_since", "tatum_id"], name="cr_missing_sort"),
        ),
        migrations.RunPython(add_trigram_index, remove_trigram_index),
    ]
