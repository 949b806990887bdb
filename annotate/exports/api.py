"""Project exports: start one (a worker builds it), watch it, download it.

Every endpoint needs the project's ``export`` permission: a member who cannot see the project
gets 404, one who sees it without ``export`` gets 403 naming the permission.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator

from django.http import Http404, StreamingHttpResponse
from django.urls import reverse
from django.utils import timezone
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiResponse, extend_schema
from rest_framework import exceptions, serializers, status
from rest_framework.request import Request
from rest_framework.response import Response

from annotate.api.access import project_requiring
from annotate.exports.models import ProjectExport
from annotate.exports.services import CONTENT_TYPES, export_filename, project_export_create
from annotate.models import Project
from tenants.api.base import StrictSerializer, TenantAPIView
from tenants.api.common import ERROR_RESPONSES
from tenants.api.pagination import IdCursorPagination
from tenants.audit import ids_detail
from tenants.storage import TenantStorage

DOWNLOAD_CHUNK = 256 * 1024


class NotReady(exceptions.APIException):
    status_code = status.HTTP_409_CONFLICT
    default_code = "not_ready"


class ProjectExportSerializer(serializers.Serializer):
    id = serializers.UUIDField()
    url = serializers.SerializerMethodField()
    download_url = serializers.SerializerMethodField()
    project_id = serializers.UUIDField()
    format = serializers.ChoiceField(choices=ProjectExport.Format.choices)
    state = serializers.ChoiceField(choices=ProjectExport.State.choices)
    items_total = serializers.IntegerField(
        allow_null=True, help_text="Items in the project when the run started; final when done"
    )
    items_written = serializers.IntegerField()
    rows_written = serializers.IntegerField(help_text="Lines (JSONL) or records (CSV) written")
    bytes_written = serializers.IntegerField()
    rate_items_per_second = serializers.SerializerMethodField()
    content_sha256 = serializers.CharField(help_text="SHA-256 of the file, once succeeded")
    attempts = serializers.IntegerField()
    errors = serializers.ListField(child=serializers.DictField())
    created_by = serializers.CharField(source="created_by.username")
    created_at = serializers.DateTimeField()
    started_at = serializers.DateTimeField(allow_null=True)
    finished_at = serializers.DateTimeField(allow_null=True)

    def _url_kwargs(self, export: ProjectExport) -> dict[str, object]:
        return {
            "tenant": self.context["tenant_slug"],
            "project_id": export.project_id,
            "project_export_id": export.id,
        }

    def get_url(self, export: ProjectExport) -> str:
        return reverse("project-export-detail", kwargs=self._url_kwargs(export))

    def get_download_url(self, export: ProjectExport) -> str | None:
        if export.state != ProjectExport.State.SUCCEEDED:
            return None
        return reverse("project-export-download", kwargs=self._url_kwargs(export))

    def get_rate_items_per_second(self, export: ProjectExport) -> float | None:
        if export.started_at is None or not export.items_written:
            return None
        end = export.finished_at or timezone.now()
        seconds = max((end - export.started_at).total_seconds(), 1e-3)
        return round(export.items_written / seconds, 1)


class ProjectExportCreateInput(StrictSerializer):
    format = serializers.ChoiceField(choices=ProjectExport.Format.choices)


def _export_get(project: Project, export_id: uuid.UUID) -> ProjectExport:
    """The export of this project (same 404 for missing, another project's or tenant's)."""
    export = (
        ProjectExport.objects.filter(project=project, id=export_id)
        .select_related("created_by")
        .first()
    )
    if export is None:
        raise Http404
    assert export.tenant_id == project.tenant_id
    return export


class ExportListApi(TenantAPIView):
    pagination_class = IdCursorPagination  # the OpenAPI schema shows the paged list
    audit_resource_type = "project_export"
    audit_actions = {"get": "export.list", "post": "export.create"}
    audit_resource_kwarg = "project_id"

    @extend_schema(
        operation_id="project_exports_list",
        responses={200: ProjectExportSerializer(many=True), **ERROR_RESPONSES},
        summary="List the project's exports, newest first",
    )
    def get(self, request: Request, tenant: str, project_id: uuid.UUID) -> Response:
        project = project_requiring(self, project_id, "export")
        paginator = IdCursorPagination()
        page = paginator.paginate_queryset(
            ProjectExport.objects.filter(project=project).select_related("created_by"),
            request,
            view=self,
        )
        self.audit(detail={"project": str(project.id), **ids_detail([e.id for e in page])})
        data = ProjectExportSerializer(
            page, many=True, context={"tenant_slug": self.tenant.slug}
        ).data
        return paginator.get_paginated_response(data)

    @extend_schema(
        operation_id="project_exports_create",
        request=ProjectExportCreateInput,
        responses={202: ProjectExportSerializer, **ERROR_RESPONSES},
        summary="Export the project's items and labels as JSONL or CSV (built by a worker)",
    )
    def post(self, request: Request, tenant: str, project_id: uuid.UUID) -> Response:
        project = project_requiring(self, project_id, "export")
        data = ProjectExportCreateInput(data=request.data)
        data.is_valid(raise_exception=True)
        export = project_export_create(
            project=project, membership=self.membership, fmt=data.validated_data["format"]
        )
        self.audit(
            resource_id=export.id, detail={"project": str(project.id), "format": export.format}
        )
        body = ProjectExportSerializer(export, context={"tenant_slug": self.tenant.slug}).data
        response = Response(body, status=status.HTTP_202_ACCEPTED)
        response["Location"] = body["url"]
        return response


class ExportDetailApi(TenantAPIView):
    audit_resource_type = "project_export"
    audit_actions = {"get": "export.read"}
    audit_resource_kwarg = "project_export_id"

    @extend_schema(
        operation_id="project_exports_retrieve",
        responses={200: ProjectExportSerializer, **ERROR_RESPONSES},
        summary="An export's state and progress (items written / total, attempts, errors)",
    )
    def get(
        self, request: Request, tenant: str, project_id: uuid.UUID, project_export_id: uuid.UUID
    ) -> Response:
        project = project_requiring(self, project_id, "export")
        export = _export_get(project, project_export_id)
        self.audit()
        return Response(
            ProjectExportSerializer(export, context={"tenant_slug": self.tenant.slug}).data
        )


class ExportDownloadApi(TenantAPIView):
    audit_resource_type = "project_export"
    audit_actions = {"get": "export.download"}
    audit_resource_kwarg = "project_export_id"

    @extend_schema(
        operation_id="project_exports_download",
        responses={
            (200, "application/x-ndjson"): OpenApiResponse(
                OpenApiTypes.BINARY, description="The file (JSONL)"
            ),
            (200, "text/csv"): OpenApiResponse(OpenApiTypes.BINARY, description="The file (CSV)"),
            409: OpenApiResponse(description="The export has not succeeded (yet)"),
            **ERROR_RESPONSES,
        },
        summary="Download the export's file (streamed, decrypted on the way out)",
    )
    def get(
        self, request: Request, tenant: str, project_id: uuid.UUID, project_export_id: uuid.UUID
    ) -> StreamingHttpResponse:
        project = project_requiring(self, project_id, "export")
        export = _export_get(project, project_export_id)
        if export.state != ProjectExport.State.SUCCEEDED:
            raise NotReady(f"the export is {export.state}; download it once it has succeeded")
        # Opened (data key resolved) inside the request's tenant context and transaction; the
        # response streams it after both have ended.
        stream = TenantStorage(self.tenant.id).open(export.blob_key)
        self.audit(
            detail={
                "project": str(project.id),
                "format": export.format,
                "bytes": export.bytes_written,
                "sha256": export.content_sha256,
            }
        )

        def chunks() -> Iterator[bytes]:
            with stream:
                while chunk := stream.read(DOWNLOAD_CHUNK):
                    yield chunk

        response = StreamingHttpResponse(chunks(), content_type=CONTENT_TYPES[export.format])
        response["Content-Length"] = str(export.bytes_written)
        response["Content-Disposition"] = f'attachment; filename="{export_filename(export)}"'
        response["X-Content-Type-Options"] = "nosniff"
        response["X-Content-SHA256"] = export.content_sha256
        return response
