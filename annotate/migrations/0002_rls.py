"""Row-level security on projects and on guardian's permission tables."""

from django.db import migrations

from tenants.rls import deny_all_rls, enable_rls, tenant_foreign_key


class Migration(migrations.Migration):
    dependencies = [
        ("annotate", "0001_initial"),
        ("guardian", "0003_remove_groupobjectpermission_guardian_gr_content_ae6aec_idx_and_more"),
    ]

    operations = [
        enable_rls("annotate_project"),
        enable_rls("annotate_projectuserobjectpermission"),
        enable_rls("annotate_projectgroupobjectpermission"),
        tenant_foreign_key(
            "annotate_projectuserobjectpermission", "content_object_id", "annotate_project",
            on_delete="CASCADE",
        ),
        tenant_foreign_key(
            "annotate_projectgroupobjectpermission", "content_object_id", "annotate_project",
            on_delete="CASCADE",
        ),
        # guardian's generic tables carry no tenant and must stay unused: deny every row.
        deny_all_rls("guardian_userobjectpermission"),
        deny_all_rls("guardian_groupobjectpermission"),
    ]
