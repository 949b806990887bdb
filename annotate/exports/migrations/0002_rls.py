"""Row-level security and the composite tenant key on project exports."""

from django.db import migrations

from tenants.rls import enable_rls, tenant_foreign_key


class Migration(migrations.Migration):
    dependencies = [("exports", "0001_initial")]

    operations = [
        enable_rls("exports_projectexport"),
        tenant_foreign_key(
            "exports_projectexport", "project_id", "annotate_project", on_delete="CASCADE"
        ),
    ]
