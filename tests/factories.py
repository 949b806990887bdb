"""Test data built in code (factory_boy), never from a committed dump."""

from __future__ import annotations

import factory
from django.contrib.auth import get_user_model

from annotate.models import Project
from tenants.models import Membership, Tenant
from tenants.scoping import tenant_context
from tenants.services.memberships import IssuedToken, membership_add, token_create

SCHEMA = {
    "version": 1,
    "data": {"text": {"type": "text"}},
    "fields": [{"name": "sentiment", "type": "choices", "choices": ["pos", "neg"]}],
}


class UserFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = get_user_model()

    username = factory.Sequence(lambda n: f"user{n}")
    password = factory.django.Password("pw-for-tests-1")


class TenantFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Tenant

    slug = factory.Sequence(lambda n: f"tenant-{n}")
    name = factory.LazyAttribute(lambda o: o.slug.title())


def member(tenant: Tenant, role: str, username: str | None = None) -> Membership:
    user = UserFactory(username=username) if username else UserFactory()
    return membership_add(tenant=tenant, user=user, role=role)


def token_for(membership: Membership, **kwargs: object) -> IssuedToken:
    with tenant_context(membership.tenant_id):
        return token_create(membership=membership, name="test", created_by=None, **kwargs)


def project_in(tenant: Tenant, creator: Membership, **kwargs: object) -> Project:
    with tenant_context(tenant.id):
        return Project.objects.create(
            tenant=tenant,
            name=kwargs.pop("name", "Project"),
            label_schema=kwargs.pop("label_schema", SCHEMA),
            created_by_id=creator.user_id,
            **kwargs,
        )
