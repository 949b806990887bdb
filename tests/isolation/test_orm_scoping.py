"""Wall 1 (ORM safety net): the fail-closed manager and the tenant context."""

from __future__ import annotations

import pytest
from django.db import connection

from annotate.models import Project, ProjectUserObjectPermission
from tenants.models import AccessEvent, ApiToken, Membership
from tenants.scoping import (
    CrossTenantWrite,
    TenantContextMissing,
    current_tenant_id,
    tenant_context,
)
from tests.conftest import World


@pytest.mark.parametrize(
    "model", [Project, ProjectUserObjectPermission, Membership, ApiToken, AccessEvent]
)
def test_manager_raises_without_a_tenant(world: World, model: type) -> None:
    with pytest.raises(TenantContextMissing, match="outside a tenant context"):
        list(model.objects.all())


def test_manager_filters_by_the_current_tenant(world: World) -> None:
    with tenant_context(world.a.id):
        assert list(Project.objects.values_list("name", flat=True)) == ["A secret project"]
        # Even asking for B's id explicitly finds nothing.
        assert not Project.objects.filter(id=world.project_b.id).exists()
        # And the unscoped escape is still limited by RLS in the database.
        assert list(Project.dangerously_unscoped.values_list("name", flat=True)) == [
            "A secret project"
        ]


def test_save_refuses_a_row_of_another_tenant(world: World) -> None:
    with tenant_context(world.a.id), pytest.raises(CrossTenantWrite):
        world.project_b.name = "x"
        world.project_b.save()


def test_save_without_context_or_tenant_refuses(world: World) -> None:
    with pytest.raises(TenantContextMissing):
        Project(name="x", label_schema={}, created_by_id=world.m("a", "owner").user_id).save()


def test_nested_context_of_another_tenant_is_refused(world: World) -> None:
    with tenant_context(world.a.id):
        with pytest.raises(CrossTenantWrite), tenant_context(world.b.id):
            pass
        assert current_tenant_id() == world.a.id


def test_context_is_gone_after_the_block(world: World) -> None:
    with tenant_context(world.a.id):
        pass
    assert current_tenant_id() is None
    with connection.cursor() as cursor:
        cursor.execute("SELECT coalesce(current_setting('app.tenant_id', true), '')")
        assert cursor.fetchone() == ("",)
