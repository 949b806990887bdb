"""Row-level security, composite tenant keys and the append-only access log."""

from django.db import migrations

from tenants.rls import (
    MEMBERSHIP_PREDICATE,
    TOKEN_PREDICATE,
    append_only,
    enable_rls,
    tenant_foreign_key,
)


class Migration(migrations.Migration):
    dependencies = [("tenants", "0001_initial")]

    operations = [
        enable_rls("tenants_membership", MEMBERSHIP_PREDICATE),
        enable_rls("tenants_apitoken", TOKEN_PREDICATE),
        enable_rls("tenants_accessevent"),
        tenant_foreign_key("tenants_apitoken", "membership_id", "tenants_membership"),
        append_only("tenants_accessevent"),
    ]
