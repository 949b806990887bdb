"""Access events: no foreign-key constraint on the tenant (see AccessEvent.tenant: its check
locked the tenant's row in every request)."""

import django.db.models.deletion
from django.db import migrations, models


class Migration(migrations.Migration):
    dependencies = [
        ("tenants", "0006_event_seal_no_tenant_index"),
    ]

    operations = [
        migrations.SeparateDatabaseAndState(
            state_operations=[
                migrations.AlterField(
                    model_name="accessevent",
                    name="tenant",
                    field=models.ForeignKey(
                        db_constraint=False,
                        db_index=False,
                        editable=False,
                        on_delete=django.db.models.deletion.PROTECT,
                        related_name="+",
                        to="tenants.tenant",
                    ),
                ),
            ],
            database_operations=[
                migrations.RunSQL(
                    "ALTER TABLE tenants_accessevent DROP CONSTRAINT IF EXISTS "
                    "tenants_accessevent_tenant_id_b9a24ab0_fk_tenants_tenant_id",
                    "ALTER TABLE tenants_accessevent ADD CONSTRAINT "
                    "tenants_accessevent_tenant_id_b9a24ab0_fk_tenants_tenant_id FOREIGN KEY "
                    "(tenant_id) REFERENCES tenants_tenant (id) DEFERRABLE INITIALLY DEFERRED",
                ),
            ],
        )
    ]
