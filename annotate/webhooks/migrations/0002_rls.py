"""Row-level security and composite tenant keys on webhooks and their deliveries."""

from django.db import migrations

from tenants.rls import enable_rls, tenant_foreign_key


class Migration(migrations.Migration):
    dependencies = [("webhooks", "0001_initial")]

    operations = [
        enable_rls("webhooks_webhook"),
        enable_rls("webhooks_webhookdelivery"),
        tenant_foreign_key("webhooks_webhook", "project_id", "annotate_project", on_delete="CASCADE"),
        tenant_foreign_key(
            "webhooks_webhookdelivery", "webhook_id", "webhooks_webhook", on_delete="CASCADE"
        ),
    ]
