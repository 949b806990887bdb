"""The auditor's API: the access log (list, CSV), bundle exports, and break-glass grants.

Auditors and owners read the log; it holds metadata only (who, what, when, outcome), never item
content. Every read here is itself an access event.
"""

from __future__ import annotations

import csv
import io
import tempfile
import uuid
from typing import Any

from django.conf import settings
from django.core.exceptions import ValidationError
from django.db import transaction
from django.db.models import OuterRef, QuerySet, Subquery
from django.http import FileResponse, Http404, StreamingHttpResponse
from drf_spectacular.utils import OpenApiParameter, OpenApiResponse, extend_schema
from rest_framework import exceptions, serializers, status
from rest_framework.request import Request
from rest_framework.response import Response

from tenants.api.base import StrictSerializer, TenantAPIView
from tenants.api.common import ERROR_RESPONSES
from tenants.api.pagination import IdCursorPagination
from tenants.audit import ids_detail
from tenants.models import AccessEvent, AccessSeal, AuditExport, OperatorGrant, Role
from tenants.services.grants import grant_approve, grant_deny, grant_revoke
from tenants.storage import TenantStorage

AUDIT_READERS = (Role.AUDITOR, Role.OWNER)
CSV_FIELDS = (
    "seq",
    "occurred_at",
    "actor_username",
    "actor_user_id",
    "actor_membership_id",
    "actor_role",
    "auth_method",
    "credential_id",
    "grant_id",
    "action",
    "resource_type",
    "resource_id",
    "outcome",
    "reason",
    "status_code",
    "request_id",
    "client_ip",
)
FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")


class EventFilter(StrictSerializer):
    """Query parameters of the event list and CSV (``cursor``/``page_size`` are paging)."""

    action = serializers.CharField(required=False, max_length=64)
    outcome = serializers.ChoiceField(choices=AccessEvent.Outcome.choices, required=False)
    actor = serializers.CharField(required=False, max_length=150, help_text="username")
    resource_type = serializers.CharField(required=False, max_length=64)
    resource_id = serializers.CharField(required=False, max_length=64)
    since = serializers.DateTimeField(required=False)
    until = serializers.DateTimeField(required=False)
    break_glass = serializers.BooleanField(required=False)

    def validate(self, data: dict[str, Any]) -> dict[str, Any]:
        if "since" in data and "until" in data and data["since"] >= data["until"]:
            raise serializers.ValidationError({"until": ["must be after since"]})
        return data


def _filters(request: Request) -> dict[str, Any]:
    params = {k: v for k, v in request.query_params.items() if k not in ("cursor", "page_size")}
    data = EventFilter(data=params)
    data.is_valid(raise_exception=True)
    return data.validated_data


def _events(filters: dict[str, Any]) -> QuerySet[AccessEvent]:
    qs = AccessEvent.objects.annotate(
        seq=Subquery(AccessSeal.objects.filter(event_id=OuterRef("id")).values("seq")[:1])
    )
    lookups = {
        "action": "action",
        "outcome": "outcome",
        "actor": "actor_username",
        "resource_type": "resource_type",
        "resource_id": "resource_id",
        "since": "occurred_at__gte",
        "until": "occurred_at__lt",
    }
    qs = qs.filter(**{lookups[k]: v for k, v in filters.items() if k in lookups})
    if "break_glass" in filters:
        qs = qs.filter(grant_id__isnull=not filters["break_glass"])
    return qs


class EventSerializer(serializers.Serializer):
    id = serializers.IntegerField()
    seq = serializers.IntegerField(allow_null=True, help_text="Null until sealed")
    occurred_at = serializers.DateTimeField()
    actor_user_id = serializers.IntegerField(allow_null=True)
    actor_username = serializers.CharField()
    actor_membership_id = serializers.UUIDField(allow_null=True)
    actor_role = serializers.CharField()
    auth_method = serializers.CharField()
    credential_id = serializers.CharField()
    grant_id = serializers.UUIDField(allow_null=True, help_text="Set under break-glass access")
    action = serializers.CharField()
    resource_type = serializers.CharField()
    resource_id = serializers.CharField()
    outcome = serializers.CharField()
    reason = serializers.CharField()
    status_code = serializers.IntegerField(allow_null=True)
    request_id = serializers.CharField()
    client_ip = serializers.CharField(allow_null=True)
    detail = serializers.DictField()


FILTER_PARAMETERS = [
    OpenApiParameter(name, str, required=False)
    for name in ("action", "outcome", "actor", "resource_type", "resource_id", "since", "until")
] + [OpenApiParameter("break_glass", bool, required=False)]


class AuditEventListApi(TenantAPIView):
    pagination_class = IdCursorPagination  # the OpenAPI schema shows the paged list
    audit_resource_type = "access_log"
    audit_actions = {"get": "audit.events.list"}

    @extend_schema(
        operation_id="audit_events_list",
        parameters=FILTER_PARAMETERS,
        responses={200: EventSerializer(many=True), **ERROR_RESPONSES},
        summary="The tenant's access log, newest first (auditor or owner)",
    )
    def get(self, request: Request, tenant: str) -> Response:
        self.require_role(*AUDIT_READERS)
        filters = _filters(request)
        paginator = IdCursorPagination()
        page = paginator.paginate_queryset(_events(filters), request, view=self)
        self.audit(
            detail={**ids_detail([e.id for e in page]), "filters": _plain(filters)}, last=True
        )
        return paginator.get_paginated_response(EventSerializer(page, many=True).data)


def _plain(filters: dict[str, Any]) -> dict[str, Any]:
    return {k: v.isoformat() if hasattr(v, "isoformat") else v for k, v in filters.items()}


def formula_safe(value: Any) -> str:
    """A CSV cell a spreadsheet will not run: text starting like a formula gets a quote."""
    text = "" if value is None else str(value)
    return "'" + text if text.startswith(FORMULA_STARTS) else text


class TooManyRows(exceptions.APIException):
    status_code = status.HTTP_400_BAD_REQUEST
    default_code = "too_many_rows"


class AuditEventCsvApi(TenantAPIView):
    audit_resource_type = "access_log"
    audit_actions = {"get": "audit.events.csv"}

    @extend_schema(
        operation_id="audit_events_csv",
        parameters=FILTER_PARAMETERS,
        responses={
            (200, "text/csv"): OpenApiResponse(description="CSV, formula-safe"),
            **ERROR_RESPONSES,
        },
        summary="The access log as CSV (auditor or owner); at most AUDIT_CSV_MAX_ROWS rows",
    )
    def get(self, request: Request, tenant: str) -> FileResponse:
        self.require_role(*AUDIT_READERS)
        filters = _filters(request)
        limit = settings.AUDIT_CSV_MAX_ROWS
        # Written to a temporary file inside the request's transaction (tenant scope on), then
        # streamed from it: memory stays flat, and nothing reads the database after commit.
        spool = tempfile.SpooledTemporaryFile(max_size=8 * 1024 * 1024)  # noqa: SIM115
        text = io.TextIOWrapper(spool, encoding="utf-8", newline="")
        writer = csv.writer(text)
        writer.writerow(CSV_FIELDS)
        rows = 0
        for event in _events(filters).order_by("id").iterator(chunk_size=2000):
            rows += 1
            if rows > limit:
                text.close()
                raise TooManyRows(
                    f"more than {limit} events match (AUDIT_CSV_MAX_ROWS); narrow the filter "
                    "(since, until, action, ...) or export a bundle"
                )
            writer.writerow([formula_safe(getattr(event, f)) for f in CSV_FIELDS])
        text.flush()
        text.detach()
        spool.seek(0)
        self.audit(detail={"rows": rows, "filters": _plain(filters)})
        response = FileResponse(spool, content_type="text/csv; charset=utf-8")
        response["Content-Disposition"] = f'attachment; filename="access-log-{tenant}.csv"'
        return response


class ExportSerializer(serializers.Serializer):
    id = serializers.UUIDField()
    period_from = serializers.DateTimeField()
    period_to = serializers.DateTimeField()
    state = serializers.CharField()
    created_at = serializers.DateTimeField()
    finished_at = serializers.DateTimeField(allow_null=True)
    events_total = serializers.IntegerField(allow_null=True)
    events_processed = serializers.IntegerField()
    size = serializers.IntegerField(allow_null=True)
    sha256 = serializers.CharField()
    error = serializers.CharField()


class ExportCreateInput(StrictSerializer):
    period_from = serializers.DateTimeField()
    period_to = serializers.DateTimeField()

    def validate(self, data: dict[str, Any]) -> dict[str, Any]:
        if data["period_from"] >= data["period_to"]:
            raise serializers.ValidationError({"period_to": ["must be after period_from"]})
        return data


class AuditExportListApi(TenantAPIView):
    pagination_class = IdCursorPagination  # the OpenAPI schema shows the paged list
    audit_resource_type = "audit_export"
    audit_actions = {"get": "audit.export.list", "post": "audit.export.create"}

    @extend_schema(
        operation_id="audit_exports_list",
        responses={200: ExportSerializer(many=True), **ERROR_RESPONSES},
    )
    def get(self, request: Request, tenant: str) -> Response:
        self.require_role(*AUDIT_READERS)
        paginator = IdCursorPagination()
        page = paginator.paginate_queryset(AuditExport.objects.all(), request, view=self)
        self.audit(detail=ids_detail([e.id for e in page]), last=True)
        return paginator.get_paginated_response(ExportSerializer(page, many=True).data)

    @extend_schema(
        operation_id="audit_exports_create",
        request=ExportCreateInput,
        responses={202: ExportSerializer, **ERROR_RESPONSES},
        summary="Export a signed bundle of the access log for a period (built by a worker)",
    )
    def post(self, request: Request, tenant: str) -> Response:
        self.require_role(*AUDIT_READERS)
        data = ExportCreateInput(data=request.data)
        data.is_valid(raise_exception=True)
        job = AuditExport.objects.create(
            tenant=self.tenant,
            period_from=data.validated_data["period_from"],
            period_to=data.validated_data["period_to"],
            created_by=request.user,
        )
        self.audit(resource_id=job.id, detail=_plain(data.validated_data))
        from workers.tasks.audit import audit_export_run_task

        tenant_id, job_id = str(self.tenant.id), str(job.id)
        transaction.on_commit(lambda: audit_export_run_task.delay(tenant_id, job_id))
        return Response(ExportSerializer(job).data, status=status.HTTP_202_ACCEPTED)


def _export_get(export_id: uuid.UUID) -> AuditExport:
    job = AuditExport.objects.filter(id=export_id).first()
    if job is None:
        raise Http404
    return job


class AuditExportDetailApi(TenantAPIView):
    audit_resource_type = "audit_export"
    audit_actions = {"get": "audit.export.read"}
    audit_resource_kwarg = "export_id"

    @extend_schema(
        operation_id="audit_exports_retrieve",
        responses={200: ExportSerializer, **ERROR_RESPONSES},
        summary="An export's state and progress",
    )
    def get(self, request: Request, tenant: str, export_id: uuid.UUID) -> Response:
        self.require_role(*AUDIT_READERS)
        job = _export_get(export_id)
        self.audit(last=True)
        return Response(ExportSerializer(job).data)


class NotReady(exceptions.APIException):
    status_code = status.HTTP_409_CONFLICT
    default_code = "not_ready"


class AuditExportBundleApi(TenantAPIView):
    audit_resource_type = "audit_export"
    audit_actions = {"get": "audit.export.download"}
    audit_resource_kwarg = "export_id"

    @extend_schema(
        operation_id="audit_exports_bundle",
        responses={
            (200, "application/zip"): OpenApiResponse(description="The bundle"),
            409: OpenApiResponse(description="Not finished yet"),
            **ERROR_RESPONSES,
        },
        summary="Download the bundle (verify it with tools/verify_bundle.py)",
    )
    def get(self, request: Request, tenant: str, export_id: uuid.UUID) -> StreamingHttpResponse:
        self.require_role(*AUDIT_READERS)
        job = _export_get(export_id)
        if job.state != AuditExport.State.SUCCEEDED:
            raise NotReady(f"the export is {job.state}")
        stream = TenantStorage(self.tenant.id).open(job.blob_key)
        self.audit(detail={"sha256": job.sha256, "size": job.size})

        def chunks() -> Any:
            with stream:
                while chunk := stream.read(256 * 1024):
                    yield chunk

        response = StreamingHttpResponse(chunks(), content_type="application/zip")
        response["Content-Length"] = str(job.size)
        response["Content-Disposition"] = (
            f'attachment; filename="audit-{tenant}-{str(job.id)[:8]}.zip"'
        )
        return response


# -- break-glass ----------------------------------------------------------------------------


class OperatorGrantSerializer(serializers.Serializer):
    id = serializers.UUIDField()
    operator = serializers.CharField(source="operator.username")
    role = serializers.CharField()
    reason = serializers.CharField()
    minutes = serializers.IntegerField()
    state = serializers.CharField()
    requested_at = serializers.DateTimeField()
    decided_at = serializers.DateTimeField(allow_null=True)
    expires_at = serializers.DateTimeField(allow_null=True)


class GrantListApi(TenantAPIView):
    pagination_class = IdCursorPagination  # the OpenAPI schema shows the paged list
    audit_resource_type = "operator_grant"
    audit_actions = {"get": "operator_grant.list"}

    @extend_schema(
        operation_id="operator_grants_list",
        responses={200: OperatorGrantSerializer(many=True), **ERROR_RESPONSES},
        summary="Operator access requests and grants (owner or auditor)",
    )
    def get(self, request: Request, tenant: str) -> Response:
        self.require_role(*AUDIT_READERS)
        paginator = IdCursorPagination()
        page = paginator.paginate_queryset(
            OperatorGrant.objects.select_related("operator"), request, view=self
        )
        self.audit(detail=ids_detail([g.id for g in page]), last=True)
        return paginator.get_paginated_response(OperatorGrantSerializer(page, many=True).data)


def _grant_get(grant_id: uuid.UUID) -> OperatorGrant:
    grant = OperatorGrant.objects.select_related("operator").filter(id=grant_id).first()
    if grant is None:
        raise Http404
    return grant


class GrantDetailApi(TenantAPIView):
    audit_resource_type = "operator_grant"
    audit_actions = {"get": "operator_grant.read"}
    audit_resource_kwarg = "grant_id"

    @extend_schema(
        operation_id="operator_grants_retrieve",
        responses={200: OperatorGrantSerializer, **ERROR_RESPONSES},
    )
    def get(self, request: Request, tenant: str, grant_id: uuid.UUID) -> Response:
        self.require_role(*AUDIT_READERS)
        grant = _grant_get(grant_id)
        self.audit(last=True)
        return Response(OperatorGrantSerializer(grant).data)


DECISIONS = {"approve": grant_approve, "deny": grant_deny, "revoke": grant_revoke}


class GrantDecisionApi(TenantAPIView):
    audit_resource_type = "operator_grant"
    audit_actions = {"post": "operator_grant.decide"}
    audit_resource_kwarg = "grant_id"

    @extend_schema(
        operation_id="operator_grants_decide",
        request=None,
        responses={200: OperatorGrantSerializer, **ERROR_RESPONSES},
        summary="Approve, deny or revoke an operator's access (owner only)",
    )
    def post(self, request: Request, tenant: str, grant_id: uuid.UUID, decision: str) -> Response:
        self.require_role(Role.OWNER)
        if decision not in DECISIONS:
            raise Http404
        grant = _grant_get(grant_id)
        try:
            grant = DECISIONS[decision](grant=grant, approver=self.membership)
        except ValidationError as exc:
            raise serializers.ValidationError(exc.message_dict) from None
        self.audit(
            detail={
                "decision": decision,
                "state": grant.state,
                "expires_at": _plain({"e": grant.expires_at})["e"],
            }
        )
        return Response(OperatorGrantSerializer(grant).data)
