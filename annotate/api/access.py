"""How an API view gets at a project: (tenant, id) lookup, then the permission it needs."""

from __future__ import annotations

import uuid

from annotate.models import Project
from annotate.selectors.projects import project_get_requiring
from tenants.api.base import TenantAPIView


def project_requiring(view: TenantAPIView, project_id: uuid.UUID, *any_of: str) -> Project:
    """The project, if the caller holds one of ``any_of`` on it: 404 when they cannot see it
    (or it is another tenant's, or missing), 403 naming the permissions when they can."""
    return project_get_requiring(
        membership=view.membership, project_id=project_id, any_of=set(any_of)
    )[0]
