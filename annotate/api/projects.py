"""Project endpoints: one view per resource path, thin (validate, call, serialize, audit)."""

from __future__ import annotations

import uuid
from typing import Any

from drf_spectacular.utils import OpenApiResponse, extend_schema
from rest_framework import serializers, status
from rest_framework.request import Request
from rest_framework.response import Response

from annotate.models import Project
from annotate.permissions import project_permissions_for, project_permissions_for_many
from annotate.selectors.projects import (
    project_get_for_member,
    project_get_requiring,
    project_list_for_member,
)
from annotate.services.projects import project_create, project_delete, project_update
from tenants.api.base import StrictSerializer, TenantAPIView
from tenants.api.common import ERROR_RESPONSES, UserRefSerializer
from tenants.api.pagination import IdCursorPagination
from tenants.audit import ids_detail


class ProjectOutputSerializer(serializers.Serializer):
    id = serializers.UUIDField()
    name = serializers.CharField()
    description = serializers.CharField()
    instructions = serializers.CharField()
    label_schema = serializers.JSONField()
    overlap = serializers.IntegerField()
    lease_seconds = serializers.IntegerField()
    ordering = serializers.ChoiceField(choices=Project.Ordering.choices)
    random_seed = serializers.IntegerField()
    max_items_per_annotator = serializers.IntegerField(allow_null=True)
    skipped_items_return = serializers.BooleanField()
    review_ratio = serializers.FloatField()
    gold_ratio = serializers.FloatField()
    created_by = UserRefSerializer()
    created_at = serializers.DateTimeField()
    updated_at = serializers.DateTimeField()
    permissions = serializers.SerializerMethodField()

    def get_permissions(self, project: Project) -> list[str]:
        perms = self.context.get("permissions")
        if perms is None:
            perms = self.context["permissions_by_project"].get(project.id, frozenset())
        return sorted(perms)


class ProjectInputSerializer(StrictSerializer):
    name = serializers.CharField(max_length=200)
    description = serializers.CharField(max_length=10_000, allow_blank=True, required=False)
    instructions = serializers.CharField(max_length=100_000, allow_blank=True, required=False)
    label_schema = serializers.JSONField(
        help_text="Label schema, see docs/label-schema.md. Validated; errors name the JSON path."
    )
    overlap = serializers.IntegerField(
        min_value=1, max_value=100, required=False, help_text="Annotations wanted per item"
    )
    lease_seconds = serializers.IntegerField(
        min_value=30, max_value=86_400, required=False, help_text="How long a lease lasts"
    )
    ordering = serializers.ChoiceField(
        choices=Project.Ordering.choices,
        required=False,
        help_text="priority: priority, then import order; random: shuffled by random_seed",
    )
    random_seed = serializers.IntegerField(min_value=-(2**63), max_value=2**63 - 1, required=False)
    max_items_per_annotator = serializers.IntegerField(min_value=1, allow_null=True, required=False)
    skipped_items_return = serializers.BooleanField(
        required=False, help_text="false: a skip uses up the item's slot"
    )
    review_ratio = serializers.FloatField(
        min_value=0, max_value=1, required=False, help_text="Share of results sent to review"
    )
    gold_ratio = serializers.FloatField(
        min_value=0, max_value=1, required=False, help_text="Share of gold items in queues"
    )


def _project_body(project: Project, perms: frozenset[str]) -> dict[str, Any]:
    return ProjectOutputSerializer(project, context={"permissions": perms}).data


class ProjectListApi(TenantAPIView):
    pagination_class = IdCursorPagination  # the OpenAPI schema shows the paged list
    audit_resource_type = "project"
    audit_actions = {"get": "project.list", "post": "project.create"}

    @extend_schema(
        operation_id="projects_list",
        responses={200: ProjectOutputSerializer(many=True), **ERROR_RESPONSES},
        summary="List the projects you can see in this tenant",
    )
    def get(self, request: Request, tenant: str) -> Response:
        paginator = IdCursorPagination()
        page = paginator.paginate_queryset(
            project_list_for_member(membership=self.membership), request, view=self
        )
        perms = project_permissions_for_many(membership=self.membership, projects=list(page))
        self.audit(detail=ids_detail([p.id for p in page]), last=True)
        data = ProjectOutputSerializer(
            page, many=True, context={"permissions_by_project": perms}
        ).data
        return paginator.get_paginated_response(data)

    @extend_schema(
        operation_id="projects_create",
        request=ProjectInputSerializer,
        responses={201: ProjectOutputSerializer, **ERROR_RESPONSES},
        summary="Create a project (owner or manager)",
    )
    def post(self, request: Request, tenant: str) -> Response:
        self.require_manager()
        serializer = ProjectInputSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        project = project_create(
            tenant=self.tenant, membership=self.membership, **serializer.validated_data
        )
        self.audit(resource_id=project.id, detail={"name": project.name})
        perms = project_permissions_for(membership=self.membership, project=project)
        return Response(_project_body(project, perms), status=status.HTTP_201_CREATED)


class ProjectDetailApi(TenantAPIView):
    audit_resource_type = "project"
    audit_actions = {"get": "project.read", "patch": "project.update", "delete": "project.delete"}
    audit_resource_kwarg = "project_id"

    @extend_schema(
        operation_id="projects_retrieve",
        responses={200: ProjectOutputSerializer, **ERROR_RESPONSES},
        summary="Read a project",
    )
    def get(self, request: Request, tenant: str, project_id: uuid.UUID) -> Response:
        project, perms = project_get_for_member(membership=self.membership, project_id=project_id)
        self.audit(last=True)
        return Response(_project_body(project, perms))

    @extend_schema(
        operation_id="projects_partial_update",
        request=ProjectInputSerializer(partial=True),
        responses={200: ProjectOutputSerializer, **ERROR_RESPONSES},
        summary="Change a project (needs the project's manage permission)",
    )
    def patch(self, request: Request, tenant: str, project_id: uuid.UUID) -> Response:
        project, perms = project_get_requiring(
            membership=self.membership, project_id=project_id, any_of={"manage"}
        )
        serializer = ProjectInputSerializer(data=request.data, partial=True)
        serializer.is_valid(raise_exception=True)
        project = project_update(project=project, changes=dict(serializer.validated_data))
        self.audit(detail={"changed": sorted(serializer.validated_data)})
        return Response(_project_body(project, perms))

    @extend_schema(
        operation_id="projects_destroy",
        responses={204: OpenApiResponse(description="Deleted"), **ERROR_RESPONSES},
        summary="Delete a project (owner or manager)",
    )
    def delete(self, request: Request, tenant: str, project_id: uuid.UUID) -> Response:
        project, _ = project_get_for_member(membership=self.membership, project_id=project_id)
        self.require_manager()
        self.audit(detail={"name": project.name})
        project_delete(project=project)
        return Response(status=status.HTTP_204_NO_CONTENT)
