"""Tenant URLs of the access log, its exports and break-glass grants (included under
/api/v1/t/<tenant>/ by annotate/api/urls.py)."""

from django.urls import path

from tenants.api.audit import (
    AuditEventCsvApi,
    AuditEventListApi,
    AuditExportBundleApi,
    AuditExportDetailApi,
    AuditExportListApi,
    GrantDecisionApi,
    GrantDetailApi,
    GrantListApi,
)

audit_patterns = [
    path("audit/events", AuditEventListApi.as_view(), name="audit-event-list"),
    path("audit/events.csv", AuditEventCsvApi.as_view(), name="audit-event-csv"),
    path("audit/exports", AuditExportListApi.as_view(), name="audit-export-list"),
    path(
        "audit/exports/<uuid:export_id>", AuditExportDetailApi.as_view(), name="audit-export-detail"
    ),
    path(
        "audit/exports/<uuid:export_id>/bundle",
        AuditExportBundleApi.as_view(),
        name="audit-export-bundle",
    ),
    path("access-grants", GrantListApi.as_view(), name="grant-list"),
    path("access-grants/<uuid:grant_id>", GrantDetailApi.as_view(), name="grant-detail"),
    path(
        "access-grants/<uuid:grant_id>/<slug:decision>",
        GrantDecisionApi.as_view(),
        name="grant-decision",
    ),
]
