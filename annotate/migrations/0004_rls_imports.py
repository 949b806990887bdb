"""Row-level security and composite tenant keys on datasets, imports and items."""

from django.db import migrations

from tenants.rls import enable_rls, tenant_foreign_key

ITEM_KEY = "annotate_item_dataset_tenant_fk"


class Migration(migrations.Migration):
    dependencies = [("annotate", "0003_datasets_imports_items")]

    operations = [
        enable_rls("annotate_dataset"),
        enable_rls("annotate_importjob"),
        enable_rls("annotate_item"),
        tenant_foreign_key("annotate_dataset", "project_id", "annotate_project", on_delete="CASCADE"),
        tenant_foreign_key("annotate_importjob", "project_id", "annotate_project", on_delete="CASCADE"),
        tenant_foreign_key("annotate_importjob", "dataset_id", "annotate_dataset"),
        # One key per item row implies dataset, project and tenant (see annotate.models.Item).
        migrations.RunSQL(
            f"ALTER TABLE annotate_item ADD CONSTRAINT {ITEM_KEY} "
            "FOREIGN KEY (tenant_id, dataset_id, project_id) "
            "REFERENCES annotate_dataset (tenant_id, id, project_id) ON DELETE CASCADE "
            "DEFERRABLE INITIALLY DEFERRED;",
            f"ALTER TABLE annotate_item DROP CONSTRAINT IF EXISTS {ITEM_KEY};",
        ),
    ]
