"""Project export URL patterns, mounted under /api/v1/t/<tenant>/ by annotate.api.urls.

The export's URL kwarg is ``project_export_id`` (``export_id`` names audit-log exports)."""

from django.urls import path

from annotate.exports.api import ExportDetailApi, ExportDownloadApi, ExportListApi

export_patterns = [
    path("projects/<uuid:project_id>/exports", ExportListApi.as_view(), name="project-export-list"),
    path(
        "projects/<uuid:project_id>/exports/<uuid:project_export_id>",
        ExportDetailApi.as_view(),
        name="project-export-detail",
    ),
    path(
        "projects/<uuid:project_id>/exports/<uuid:project_export_id>/download",
        ExportDownloadApi.as_view(),
        name="project-export-download",
    ),
]
