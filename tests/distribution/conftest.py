"""Fixtures for work distribution: projects with items, annotators with the grant."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
from django.db import connection
from rest_framework.test import APIClient

from annotate.models import Dataset, Item, Project
from annotate.services.projects import project_permission_grant
from tenants.models import Membership
from tenants.scoping import tenant_context
from tests.factories import member, token_for

SCHEMA = {
    "version": 1,
    "data": {"text": {"type": "text"}},
    "fields": [{"name": "label", "type": "choices", "choices": ["a", "b"]}],
}


def add_items(project: Project, count: int, priorities: list[int] | None = None) -> list[Item]:
    with tenant_context(project.tenant_id):
        dataset = Dataset.objects.create(project=project, name="batch")
        items = [
            Item(
                tenant_id=project.tenant_id,
                project=project,
                dataset=dataset,
                external_id=f"x{i}",
                data={"text": f"text {i}"},
                priority=priorities[i] if priorities else 0,
                seq=i + 1,
                queue_key=i + 1,
            )
            for i in range(count)
        ]
        return Item.objects.bulk_create(items)


def annotator(project: Project, name: str) -> Membership:
    """A new annotator of the project's tenant with the annotate grant on it."""
    from tenants.models import Tenant

    membership = member(Tenant.objects.get(id=project.tenant_id), "annotator", username=name)
    with tenant_context(project.tenant_id):
        project_permission_grant(project=project, membership=membership, permission="annotate")
    return membership


def client_for(membership: Membership) -> APIClient:
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {token_for(membership).raw}")
    return client


def configure(project: Project, **fields: Any) -> None:
    with tenant_context(project.tenant_id):
        for name, value in fields.items():
            setattr(project, name, value)
        project.label_schema = fields.get("label_schema", SCHEMA)
        project.save()


INVARIANT_SQL = """
SELECT i.id, i.slots_taken, i.done_count, i.status,
       (SELECT count(*) FROM annotate_lease l
         WHERE l.tenant_id = i.tenant_id AND l.item_id = i.id AND NOT l.gold
           AND (l.state IN ('queued', 'active') OR (l.state = 'skipped' AND l.slot_kept)))
     + (SELECT count(*) FROM annotate_annotation a
         WHERE a.tenant_id = i.tenant_id AND a.item_id = i.id AND a.lease_id IS NOT NULL
           AND a.status IN ('pending_review', 'accepted', 'superseded')
           AND i.status <> 'gold') AS holding
  FROM annotate_item i
 WHERE i.tenant_id = %s AND i.project_id = %s
"""


def check_invariants(project: Project) -> dict[str, int]:
    """The slot counter matches the rows, never exceeds the overlap, and no annotator holds
    two leases on one item. Returns totals for the caller's own assertions."""
    with tenant_context(project.tenant_id), connection.cursor() as cursor:
        cursor.execute(INVARIANT_SQL, [project.tenant_id, project.id])
        rows = cursor.fetchall()
        for item_id, slots, _done, _status, holding in rows:
            assert slots == holding, f"item {item_id}: counter {slots}, rows {holding}"
            assert holding <= project.overlap, f"item {item_id}: {holding} > {project.overlap}"
        cursor.execute(
            "SELECT item_id, annotator_id, count(*) FROM annotate_lease WHERE tenant_id = %s "
            "AND project_id = %s GROUP BY 1, 2 HAVING count(*) > 1",
            [project.tenant_id, project.id],
        )
        assert cursor.fetchall() == []
        cursor.execute(
            "SELECT count(*) FROM annotate_annotation WHERE tenant_id = %s AND project_id = %s",
            [project.tenant_id, project.id],
        )
        annotations = cursor.fetchone()[0]
    return {"items": len(rows), "annotations": annotations}


@pytest.fixture
def make_annotator() -> Callable[[Project, str], Membership]:
    return annotator
