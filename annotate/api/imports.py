"""Imports: upload a dataset (streamed into encrypted tenant storage), then watch it."""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterator

from django.conf import settings
from django.http import Http404
from django.urls import reverse
from django.utils import timezone
from drf_spectacular.utils import OpenApiParameter, OpenApiResponse, extend_schema
from rest_framework import exceptions, serializers, status
from rest_framework.parsers import BaseParser, DataAndFiles, MultiPartParser
from rest_framework.request import Request
from rest_framework.response import Response

from annotate.api.access import project_requiring
from annotate.api.uploads import ImportUploadHandler
from annotate.models import ImportJob
from annotate.services.imports import (
    IdempotencyConflict,
    StoredUpload,
    UploadTooLarge,
    import_create,
    upload_store,
)
from tenants.api.base import StrictSerializer, TenantAPIView
from tenants.api.common import ERROR_RESPONSES
from tenants.api.pagination import IdCursorPagination
from tenants.api.parsers import LimitedJSONParser, PayloadTooLarge
from tenants.audit import ids_detail
from tenants.storage import TenantStorage

CHUNK = 256 * 1024
CONTENT_TYPE_FORMATS = {
    "application/x-ndjson": "jsonl",
    "application/jsonl": "jsonl",
    "application/jsonlines": "jsonl",
    "text/csv": "csv",
    "application/zip": "zip",
}


class Conflict(exceptions.APIException):
    status_code = status.HTTP_409_CONFLICT
    default_code = "conflict"


class ImportErrorSerializer(serializers.Serializer):
    file = serializers.CharField()
    line = serializers.IntegerField(
        allow_null=True, help_text="Line (JSONL, CSV) or item index (JSON array)"
    )
    field = serializers.CharField()
    message = serializers.CharField()


class ImportSerializer(serializers.Serializer):
    id = serializers.UUIDField()
    url = serializers.SerializerMethodField()
    state = serializers.ChoiceField(choices=ImportJob.State.choices)
    format = serializers.CharField()
    filename = serializers.CharField()
    dataset_id = serializers.UUIDField()
    bytes_total = serializers.IntegerField()
    bytes_processed = serializers.IntegerField()
    items_processed = serializers.IntegerField()
    items_total = serializers.IntegerField(allow_null=True)
    rate_items_per_second = serializers.SerializerMethodField()
    error_count = serializers.IntegerField()
    errors = ImportErrorSerializer(many=True)
    attempts = serializers.IntegerField()
    created_at = serializers.DateTimeField()
    started_at = serializers.DateTimeField(allow_null=True)
    finished_at = serializers.DateTimeField(allow_null=True)

    def get_url(self, job: ImportJob) -> str:
        return reverse(
            "import-detail",
            kwargs={
                "tenant": self.context["tenant_slug"],
                "project_id": job.project_id,
                "import_id": job.id,
            },
        )

    def get_rate_items_per_second(self, job: ImportJob) -> float | None:
        if job.started_at is None or not job.items_processed:
            return None
        end = job.finished_at or timezone.now()
        seconds = max((end - job.started_at).total_seconds(), 1e-3)
        return round(job.items_processed / seconds, 1)


class ItemsBodySerializer(StrictSerializer):
    items = serializers.ListField(child=serializers.JSONField(), allow_empty=False)
    dataset = serializers.CharField(max_length=200, required=False, allow_blank=True)


class FileBodyParser(BaseParser):
    """Any other body (JSONL, CSV, ZIP, octet-stream) is a file the view streams itself.

    TRICKY: DRF parses the body as soon as anything reads ``request.data`` or
    ``request.POST``, and the CSRF check of a session-authenticated request (the browser app)
    reads ``request.POST``. Without a parser for these types that check answered 415; this
    one accepts them and reads nothing, so ``_body_chunks`` still streams the whole body.
    """

    media_type = "*/*"

    def parse(
        self, stream: object, media_type: str | None = None, parser_context: object = None
    ) -> DataAndFiles:
        return DataAndFiles({}, {})


def _body_chunks(request: Request) -> Iterator[bytes]:
    stream = request._request
    while True:
        chunk = stream.read(CHUNK)
        if not chunk:
            return
        yield chunk


class ImportListApi(TenantAPIView):
    pagination_class = IdCursorPagination  # the OpenAPI schema shows the paged list
    parser_classes = [LimitedJSONParser, MultiPartParser, FileBodyParser]
    audit_resource_type = "import"
    audit_actions = {"get": "import.list", "post": "import.create"}
    audit_resource_kwarg = "project_id"

    @extend_schema(
        operation_id="imports_list",
        responses={200: ImportSerializer(many=True), **ERROR_RESPONSES},
        summary="List the project's imports",
    )
    def get(self, request: Request, tenant: str, project_id: uuid.UUID) -> Response:
        project = project_requiring(self, project_id, "manage")
        paginator = IdCursorPagination()
        page = paginator.paginate_queryset(
            ImportJob.objects.filter(project=project), request, view=self
        )
        self.audit(detail=ids_detail([j.id for j in page]), last=True)
        data = ImportSerializer(page, many=True, context={"tenant_slug": self.tenant.slug}).data
        return paginator.get_paginated_response(data)

    @extend_schema(
        operation_id="imports_create",
        parameters=[
            OpenApiParameter(
                "format",
                enum=["jsonl", "json", "csv", "zip"],
                description="Format of a file body; default from Content-Type "
                "(application/x-ndjson, text/csv)",
            ),
            OpenApiParameter("dataset", str, description="Name of the dataset the import creates"),
            OpenApiParameter(
                "filename", str, description="Name to show in errors (default: upload.<format>)"
            ),
            OpenApiParameter(
                "Idempotency-Key",
                str,
                OpenApiParameter.HEADER,
                description="Retry-safe key: the same key and body return the same import; "
                "a different body is 409",
            ),
        ],
        request={
            "application/x-ndjson": {"type": "string", "format": "binary"},
            "text/csv": {"type": "string", "format": "binary"},
            "application/zip": {"type": "string", "format": "binary"},
            "application/octet-stream": {"type": "string", "format": "binary"},
            "application/json": ItemsBodySerializer,
            "multipart/form-data": {
                "type": "object",
                "properties": {"file": {"type": "string", "format": "binary"}},
                "required": ["file"],
            },
        },
        responses={
            202: ImportSerializer,
            409: OpenApiResponse(description="Idempotency-Key reused with a different body"),
            413: OpenApiResponse(description="Upload over IMPORT_MAX_UPLOAD_BYTES"),
            **ERROR_RESPONSES,
        },
        summary="Start an import: a JSONL, JSON-array or CSV file body, or a JSON body of items",
    )
    def post(self, request: Request, tenant: str, project_id: uuid.UUID) -> Response:
        project = project_requiring(self, project_id, "manage")
        key = request.headers.get("Idempotency-Key") or None
        if key is not None and not (1 <= len(key) <= 200 and key.isprintable()):
            raise exceptions.ValidationError(
                {"Idempotency-Key": ["must be 1 to 200 printable characters"]}
            )
        content_type = (request.content_type or "").split(";")[0].strip().lower()
        fmt = request.query_params.get("format") or CONTENT_TYPE_FORMATS.get(content_type)
        if fmt is not None and fmt not in ImportJob.Format.values:
            raise exceptions.ValidationError({"format": [FORMAT_HELP]})
        dataset_name = request.query_params.get("dataset", "")[:200]
        storage = TenantStorage(self.tenant.id)
        length = request.META.get("CONTENT_LENGTH")
        if length and length.isdigit() and int(length) > settings.IMPORT_MAX_UPLOAD_BYTES:
            raise PayloadTooLarge(
                f"the upload exceeds the limit of {settings.IMPORT_MAX_UPLOAD_BYTES} bytes "
                "(IMPORT_MAX_UPLOAD_BYTES)"
            )
        try:
            if content_type == "multipart/form-data":
                upload, fmt = self._multipart(request, storage, fmt, dataset_name)
            elif fmt is None and content_type == "application/json":
                body = ItemsBodySerializer(data=request.data)
                body.is_valid(raise_exception=True)
                fmt = "jsonl"
                dataset_name = body.validated_data.get("dataset", "") or dataset_name
                lines = (
                    json.dumps(item, ensure_ascii=False).encode() + b"\n"
                    for item in body.validated_data["items"]
                )
                upload = upload_store(
                    storage=storage,
                    chunks=lines,
                    fmt=fmt,
                    dataset_name=dataset_name,
                    filename="request body",
                )
            else:
                if fmt is None:
                    raise exceptions.ValidationError({"format": [FORMAT_HELP]})
                upload = upload_store(
                    storage=storage,
                    chunks=_body_chunks(request),
                    fmt=fmt,
                    dataset_name=dataset_name,
                    filename=request.query_params.get("filename", "") or f"upload.{fmt}",
                )
            job, created = import_create(
                project=project,
                membership=self.membership,
                upload=upload,
                fmt=fmt,
                dataset_name=dataset_name,
                idempotency_key=key,
            )
        except UploadTooLarge as exc:
            raise PayloadTooLarge(str(exc)) from None
        except IdempotencyConflict as exc:
            raise Conflict(str(exc)) from None
        self.audit(
            resource_id=job.id,
            detail={"bytes": job.bytes_total, "format": fmt, "replayed": not created},
        )
        body = ImportSerializer(job, context={"tenant_slug": self.tenant.slug}).data
        response = Response(body, status=status.HTTP_202_ACCEPTED)
        response["Location"] = body["url"]
        if not created:
            response["Idempotent-Replayed"] = "true"
        return response

    def _multipart(
        self, request: Request, storage: TenantStorage, fmt: str | None, dataset_name: str
    ) -> tuple[StoredUpload, str]:
        handler = ImportUploadHandler(storage=storage, fmt=fmt, dataset_name=dataset_name)
        request._request.upload_handlers = [handler]
        request.data  # noqa: B018 - parsing streams the file through the handler
        if handler.error:
            raise exceptions.ValidationError({"file": [handler.error]})
        if handler.stored is None or handler.fmt is None:
            raise exceptions.ValidationError(
                {"file": ["a multipart import needs a file field named 'file'"]}
            )
        return handler.stored, handler.fmt


FORMAT_HELP = (
    "say the format with ?format=jsonl|json|csv|zip, or send Content-Type application/x-ndjson, "
    "text/csv or application/zip, or a multipart form with a 'file' named .jsonl, .json, .csv "
    "or .zip (application/json is a body of items)"
)


class ImportDetailApi(TenantAPIView):
    audit_resource_type = "import"
    audit_actions = {"get": "import.read"}
    audit_resource_kwarg = "import_id"

    @extend_schema(
        operation_id="imports_retrieve",
        responses={200: ImportSerializer, **ERROR_RESPONSES},
        summary="Import status: state, progress, rate and errors (file, line, field, message)",
    )
    def get(
        self, request: Request, tenant: str, project_id: uuid.UUID, import_id: uuid.UUID
    ) -> Response:
        project = project_requiring(self, project_id, "manage")
        job = ImportJob.objects.filter(project=project, id=import_id).first()
        if job is None:
            raise Http404
        self.audit(last=True)
        return Response(ImportSerializer(job, context={"tenant_slug": self.tenant.slug}).data)
