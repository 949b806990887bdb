"""Drop the single-column tenant indexes of access events and seals (the composite indexes led
by the tenant serve every query). Only the indexes: Django's AlterField would also drop and
re-add the foreign keys, re-validating every row of the log for nothing."""

import django.db.models.deletion
from django.db import migrations, models


def _tenant_fk() -> models.ForeignKey:
    return models.ForeignKey(
        db_index=False,
        editable=False,
        on_delete=django.db.models.deletion.PROTECT,
        related_name="+",
        to="tenants.tenant",
    )


class Migration(migrations.Migration):
    dependencies = [
        ("tenants", "0005_seal_tenant_event_index"),
    ]

    operations = [
        migrations.SeparateDatabaseAndState(
            state_operations=[
                migrations.AlterField(model_name="accessevent", name="tenant", field=_tenant_fk()),
                migrations.AlterField(model_name="accessseal", name="tenant", field=_tenant_fk()),
            ],
            database_operations=[
                migrations.RunSQL(
                    "DROP INDEX IF EXISTS tenants_accessevent_tenant_id_b9a24ab0",
                    "CREATE INDEX tenants_accessevent_tenant_id_b9a24ab0 "
                    "ON tenants_accessevent (tenant_id)",
                ),
                migrations.RunSQL(
                    "DROP INDEX IF EXISTS tenants_accessseal_tenant_id_2f8f95a0",
                    "CREATE INDEX tenants_accessseal_tenant_id_2f8f95a0 "
                    "ON tenants_accessseal (tenant_id)",
                ),
            ],
        )
    ]
