"""Autovacuum leaves the hot path's fast-growing tables alone until 5,000 rows have changed.

The hot path's statements are prepared, each with one generic plan per connection (item 11 of
docs/distribution.md, "Performance"), planned on the statistics of the moment and kept until
the next ANALYZE or VACUUM of the table. By default autovacuum takes a table's first
statistics after 50 changes: planned on a 50-row lease table, the lease look-ups by key
became sequential scans, kept while the table grew to thousands of rows before the next
autovacuum (every submit read the whole table: 2.4 → 6 ms of database CPU per annotation over
3,000 annotations). A table never analysed counts as at least 10 pages, which gives the
index plans; from 5,000 rows on, its real statistics do too. Past that, the default scale
factors (10 % and 20 % of the table) dominate, so large tables are vacuumed as before.
"""

from django.db import migrations

TABLES = ("annotate_item", "annotate_lease", "annotate_annotation", "annotate_queueposition")
OPTIONS = (
    "autovacuum_analyze_threshold",
    "autovacuum_vacuum_threshold",
    "autovacuum_vacuum_insert_threshold",
)


class Migration(migrations.Migration):
    dependencies = [
        ("annotate", "0013_lease_live_annotator_index"),
    ]

    operations = [
        migrations.RunSQL(
            [
                f"ALTER TABLE {table} SET ({', '.join(f'{o} = 5000' for o in OPTIONS)})"
                for table in TABLES
            ],
            reverse_sql=[f"ALTER TABLE {table} RESET ({', '.join(OPTIONS)})" for table in TABLES],
        ),
    ]
