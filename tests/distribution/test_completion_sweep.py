"""The beat sweep marks projects whose last item's after-commit completion check was lost:
once, with its access event, in each tenant's own context, and never a project with work left
or with nothing done. (The webhook is ``project_complete_once``'s, tested with the worker.)"""

from __future__ import annotations

from annotate.models import Item, Project
from annotate.services.projects import project_create
from tenants.models import AccessEvent
from tenants.scoping import tenant_context
from tests.conftest import World
from tests.distribution.conftest import SCHEMA, add_items
from workers.tasks.distribution import complete_projects


def _project(world: World, name: str) -> Project:
    with tenant_context(world.a.id):
        return project_create(
            tenant=world.a,
            membership=world.m("a", "manager"),
            name=name,
            label_schema=SCHEMA,
        )


def test_sweep_marks_finished_projects_once_and_leaves_the_others(world: World) -> None:
    done, open_, _empty = (_project(world, n) for n in ("done", "open", "empty"))
    for project, statuses in ((done, ["completed", "completed"]), (open_, ["completed", "new"])):
        items = add_items(project, len(statuses))
        with tenant_context(world.a.id):
            for item, status in zip(items, statuses, strict=True):
                Item.objects.filter(id=item.id).update(status=status)
    # The B tenant's project with every item completed is swept in B's own context.
    b_items = add_items(world.project_b, 1)
    with tenant_context(world.b.id):
        Item.objects.filter(id=b_items[0].id).update(status="completed")

    # .run: the task body, without the worker's connection housekeeping (this test's data
    # lives in its open transaction).
    assert complete_projects.run() == 2
    assert complete_projects.run() == 0  # once

    with tenant_context(world.a.id):
        marked = dict(Project.objects.values_list("name", "completed_at"))
        events = list(AccessEvent.objects.filter(action="project.complete"))
    assert marked["done"] is not None
    assert marked["open"] is None and marked["empty"] is None
    assert [(e.resource_id, e.auth_method, e.detail) for e in events] == [
        (str(done.id), "task", {"by": "sweep"})
    ]
    assert events[0].actor_username == "task:workers.tasks.distribution.complete_projects"
    with tenant_context(world.b.id):
        assert Project.objects.get(id=world.project_b.id).completed_at is not None
        b_events = list(AccessEvent.objects.filter(action="project.complete"))
    assert [e.resource_id for e in b_events] == [str(world.project_b.id)]
