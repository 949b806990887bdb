"""Row-level security and composite tenant keys on the distribution tables."""

from django.db import migrations

from tenants.rls import enable_rls, tenant_foreign_key

TABLES = ("annotate_competitor", "annotate_lease", "annotate_annotation", "annotate_review")


class Migration(migrations.Migration):
    dependencies = [("annotate", "0006_distribution")]

    operations = [
        *(enable_rls(table) for table in TABLES),
        tenant_foreign_key("annotate_lease", "project_id", "annotate_project", on_delete="CASCADE"),
        tenant_foreign_key("annotate_lease", "item_id", "annotate_item", on_delete="CASCADE"),
        tenant_foreign_key("annotate_lease", "membership_id", "tenants_membership"),
        tenant_foreign_key(
            "annotate_annotation", "project_id", "annotate_project", on_delete="CASCADE"
        ),
        tenant_foreign_key("annotate_annotation", "item_id", "annotate_item", on_delete="CASCADE"),
        tenant_foreign_key("annotate_annotation", "lease_id", "annotate_lease", on_delete="CASCADE"),
        tenant_foreign_key(
            "annotate_annotation", "parent_id", "annotate_annotation", on_delete="CASCADE"
        ),
        tenant_foreign_key("annotate_review", "project_id", "annotate_project", on_delete="CASCADE"),
        tenant_foreign_key(
            "annotate_review", "annotation_id", "annotate_annotation", on_delete="CASCADE"
        ),
        tenant_foreign_key(
            "annotate_review", "correction_id", "annotate_annotation", on_delete="CASCADE"
        ),
    ]
