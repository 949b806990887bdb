"""Per-project permission grants (django-guardian, direct FK table with a tenant column)."""

from __future__ import annotations

import uuid

from drf_spectacular.utils import OpenApiResponse, extend_schema
from rest_framework import serializers, status
from rest_framework.exceptions import ValidationError
from rest_framework.request import Request
from rest_framework.response import Response

from annotate.api.access import project_requiring
from annotate.models import PROJECT_PERMISSIONS, Project
from annotate.permissions import ROLE_DEFAULTS
from annotate.selectors.projects import project_grants
from annotate.services.projects import (
    GrantRefused,
    project_permission_grant,
    project_permission_revoke,
)
from tenants.api.base import StrictSerializer, TenantAPIView
from tenants.api.common import ERROR_RESPONSES, UserRefSerializer
from tenants.models import Membership
from tenants.selectors import membership_get


class GrantSerializer(serializers.Serializer):
    membership_id = serializers.UUIDField()
    user = UserRefSerializer()
    role = serializers.CharField()
    permission = serializers.ChoiceField(choices=PROJECT_PERMISSIONS)


class GrantInput(StrictSerializer):
    membership = serializers.UUIDField()
    permission = serializers.ChoiceField(choices=PROJECT_PERMISSIONS)


def _grant_rows(project: Project) -> list[dict[str, object]]:
    grants = list(project_grants(project=project))
    members = {
        m.user_id: m for m in Membership.objects.filter(user_id__in={g.user_id for g in grants})
    }
    rows = []
    for grant in grants:
        member = members.get(grant.user_id)
        if member is None:
            continue
        rows.append(
            {
                "membership_id": member.id,
                "user": grant.user,
                "role": member.role,
                "permission": grant.permission.codename.removesuffix("_project"),
            }
        )
    return rows


class ProjectPermissionListApi(TenantAPIView):
    audit_resource_type = "project_permission"
    audit_actions = {"get": "project_permission.list", "post": "project_permission.grant"}
    audit_resource_kwarg = "project_id"

    @extend_schema(
        operation_id="project_permissions_list",
        responses={200: GrantSerializer(many=True), **ERROR_RESPONSES},
        summary="List per-project grants (role defaults are not listed; see docs/permissions.md)",
    )
    def get(self, request: Request, tenant: str, project_id: uuid.UUID) -> Response:
        project = project_requiring(self, project_id, "manage")
        rows = _grant_rows(project)
        self.audit(detail={"count": len(rows)}, last=True)
        return Response(GrantSerializer(rows, many=True).data)

    @extend_schema(
        operation_id="project_permissions_grant",
        request=GrantInput,
        responses={201: GrantSerializer, **ERROR_RESPONSES},
        summary="Grant a member a permission on the project",
    )
    def post(self, request: Request, tenant: str, project_id: uuid.UUID) -> Response:
        project = project_requiring(self, project_id, "manage")
        data = GrantInput(data=request.data)
        data.is_valid(raise_exception=True)
        member = membership_get(
            tenant_id=self.tenant.id, membership_id=data.validated_data["membership"]
        )
        permission = data.validated_data["permission"]
        try:
            project_permission_grant(project=project, membership=member, permission=permission)
        except GrantRefused as exc:
            raise ValidationError({"membership": [str(exc)]}) from None
        self.audit(detail={"membership": str(member.id), "permission": permission})
        body = {
            "membership_id": member.id,
            "user": member.user,
            "role": member.role,
            "permission": permission,
        }
        return Response(GrantSerializer(body).data, status=status.HTTP_201_CREATED)


class ProjectPermissionDetailApi(TenantAPIView):
    audit_resource_type = "project_permission"
    audit_actions = {"delete": "project_permission.revoke"}
    audit_resource_kwarg = "project_id"

    @extend_schema(
        operation_id="project_permissions_revoke",
        responses={204: OpenApiResponse(description="Revoked"), **ERROR_RESPONSES},
        summary="Revoke a member's grant on the project",
    )
    def delete(
        self,
        request: Request,
        tenant: str,
        project_id: uuid.UUID,
        membership_id: uuid.UUID,
        permission: str,
    ) -> Response:
        project = project_requiring(self, project_id, "manage")
        member = membership_get(tenant_id=self.tenant.id, membership_id=membership_id)
        if permission not in PROJECT_PERMISSIONS:
            raise ValidationError({"permission": [f"one of {', '.join(PROJECT_PERMISSIONS)}"]})
        existed = project_permission_revoke(
            project=project, membership=member, permission=permission
        )
        if not existed:
            if permission in ROLE_DEFAULTS[member.role]:
                reason = (
                    f"{permission!r} comes with the {member.role} role, not a grant; "
                    "change the role instead"
                )
            else:
                reason = f"the member has no {permission!r} grant on this project"
            raise ValidationError({"permission": [reason]})
        self.audit(detail={"membership": str(member.id), "permission": permission})
        return Response(status=status.HTTP_204_NO_CONTENT)
