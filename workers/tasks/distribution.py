"""Distribution jobs: refill annotators' queues ahead of need, expire leases and catch
unmarked finished projects on a schedule."""

from __future__ import annotations

import uuid

from workers.base import PlatformTask, TenantTask
from workers.celery import app


@app.task(base=TenantTask, name="workers.tasks.distribution.refill_queue", bind=True)
def refill_queue(
    self: TenantTask, tenant_id: uuid.UUID, project_id: str, membership_id: str
) -> int:
    from annotate.models import Project
    from annotate.services.distribution import queue_refill
    from tenants.audit import audit_record
    from tenants.models import Membership

    project = Project.objects.filter(id=project_id).first()
    membership = Membership.objects.filter(id=membership_id).first()
    if project is None or membership is None:
        return 0
    reserved = queue_refill(project=project, membership=membership)
    if reserved:
        audit_record(
            tenant_id=tenant_id,
            actor=self.actor(),
            action="lease.reserve",
            resource_type="project",
            resource_id=project.id,
            detail={"leases": reserved, "annotator": membership.user_id},
        )
    return reserved


@app.task(base=PlatformTask, name="workers.tasks.distribution.expire_leases", bind=True)
def expire_leases(self: PlatformTask) -> int:
    """Every tenant in turn, each in its own tenant context and transaction."""
    from annotate.services.distribution import leases_expire
    from tenants.audit import Actor, audit_record
    from tenants.scoping import tenant_context
    from tenants.services.isolation import tenant_ids_active

    actor = Actor.for_task(self.name, self.request.id or "")
    total = 0
    for tenant_id in tenant_ids_active():
        with tenant_context(tenant_id):
            freed = leases_expire(tenant_id=tenant_id)
            if freed:
                audit_record(
                    tenant_id=tenant_id,
                    actor=actor,
                    action="lease.expire",
                    resource_type="lease",
                    detail={"items_returned": freed},
                )
        total += freed
    return total


@app.task(base=PlatformTask, name="workers.tasks.distribution.complete_projects", bind=True)
def complete_projects(self: PlatformTask) -> int:
    """Catch projects whose last item's after-commit completion check was lost: every tenant
    in turn, each in its own tenant context and transaction."""
    from annotate.services.distribution import projects_complete_sweep
    from tenants.audit import Actor, audit_record
    from tenants.scoping import tenant_context
    from tenants.services.isolation import tenant_ids_active

    actor = Actor.for_task(self.name, self.request.id or "")
    total = 0
    for tenant_id in tenant_ids_active():
        with tenant_context(tenant_id):
            for project in projects_complete_sweep():
                audit_record(
                    tenant_id=tenant_id,
                    actor=actor,
                    action="project.complete",
                    resource_type="project",
                    resource_id=project.id,
                    detail={"by": "sweep"},
                )
                total += 1
    return total


@app.task(base=TenantTask, name="workers.tasks.distribution.rekey_queue", bind=True)
def rekey_queue(self: TenantTask, tenant_id: uuid.UUID, project_id: str) -> int:
    """Re-order a project's queue after its ordering or seed changed."""
    from annotate.models import Project
    from annotate.services.queue import queue_keys_recompute
    from tenants.audit import audit_record

    project = Project.objects.filter(id=project_id).first()
    if project is None:
        return 0
    count = queue_keys_recompute(project=project)
    audit_record(
        tenant_id=tenant_id,
        actor=self.actor(),
        action="project.requeue",
        resource_type="project",
        resource_id=project.id,
        detail={"items": count, "ordering": project.ordering},
    )
    return count


@app.task(base=TenantTask, name="workers.tasks.distribution.item_completed", bind=True)
def item_completed(self: TenantTask, tenant_id: uuid.UUID, project_id: str, item_id: str) -> str:
    """After an item completes: its agreement (overlap > 1), then, if it was the project's last
    open item, mark the project completed once and tell its webhooks."""
    from annotate.models import Item, Project
    from annotate.services.agreement import item_agreement_compute
    from annotate.services.distribution import project_complete_once
    from tenants.audit import audit_record

    project = Project.objects.filter(id=project_id).first()
    item = Item.objects.filter(id=item_id, project_id=project_id).first()
    if project is None or item is None:
        return "gone"
    agreement = item_agreement_compute(project=project, item=item) if project.overlap > 1 else None
    finished = project_complete_once(project=project)
    audit_record(
        tenant_id=tenant_id,
        actor=self.actor(),
        action="item.agreement",
        resource_type="item",
        resource_id=item.id,
        detail={"agreement": agreement is not None, "project_completed": finished},
    )
    return "project_completed" if finished else "ok"
