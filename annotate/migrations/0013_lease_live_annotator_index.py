"""The annotator's live leases get an index of their own (``Lease.Meta``): built concurrently,
so that a deployment's lease table takes writes while it is built."""

from django.contrib.postgres.operations import AddIndexConcurrently
from django.db import migrations, models


class Migration(migrations.Migration):
    atomic = False

    dependencies = [
        ("annotate", "0012_queue_position"),
    ]

    operations = [
        AddIndexConcurrently(
            model_name="lease",
            index=models.Index(
                condition=models.Q(("state__in", ["queued", "active"])),
                fields=["tenant", "project", "annotator", "created_at"],
                name="lease_live_annotator_idx",
            ),
        ),
    ]
