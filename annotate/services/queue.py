"""The distribution queue's order: ``ORDER BY priority DESC, queue_key``.

In "priority" ordering ``queue_key`` is the item's project-wide import position; in "random"
ordering it is a hash of (project seed, item id): a shuffle that the seed reproduces, kept in an
indexed column so that handing out the next item stays one index scan.
"""

from __future__ import annotations

from django.db import connection

from annotate.models import Project
from annotate.services.distribution import queue_rewound

# 60 bits of md5(seed || id), as a non-negative bigint.
RANDOM_QUEUE_KEY_SQL = (
    "('x' || substr(md5(({seed})::text || ({id})::text), 1, 15))::bit(60)::bigint"
)


def queue_keys_recompute(*, project: Project) -> int:
    """Re-key every item of the project for its current ordering (after a change of ordering
    or seed). Returns the number of items re-keyed. Runs in the caller's transaction."""
    if project.ordering == Project.Ordering.RANDOM:
        expression = RANDOM_QUEUE_KEY_SQL.format(seed="%s", id="id")
        sql = (
            f"UPDATE annotate_item SET queue_key = {expression} "
            "WHERE tenant_id = %s AND project_id = %s"
        )
        params: list[object] = [project.random_seed, project.tenant_id, project.id]
    else:
        # Import order: datasets are uuid7 (creation order), lines within each.
        sql = """
            UPDATE annotate_item i SET queue_key = o.position
              FROM (SELECT id, row_number() OVER (ORDER BY dataset_id, seq) AS position
                      FROM annotate_item WHERE tenant_id = %s AND project_id = %s) o
             WHERE i.tenant_id = %s AND i.id = o.id
        """
        params = [project.tenant_id, project.id, project.tenant_id]
    with connection.cursor() as cursor:
        cursor.execute(sql, params)
        count = cursor.rowcount
    if project.ordering == Project.Ordering.PRIORITY:
        Project.objects.filter(id=project.id).update(item_positions=count)
    # Every item moved: annotators' queue positions are meaningless now.
    queue_rewound(tenant_id=project.tenant_id, project_id=project.id)
    return count
