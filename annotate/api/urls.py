"""/api/v1/... Every tenant resource is under /api/v1/t/<tenant>/."""

from django.urls import include, path
from drf_spectacular.views import SpectacularAPIView, SpectacularRedocView, SpectacularSwaggerView

from annotate.api.dashboard import ProjectProgressApi
from annotate.api.imports import ImportDetailApi, ImportListApi
from annotate.api.items import ItemDetailApi, ItemListApi
from annotate.api.media import ItemMediaApi, ItemMediaUrlApi
from annotate.api.my_work import MyWorkApi
from annotate.api.permissions import ProjectPermissionDetailApi, ProjectPermissionListApi
from annotate.api.projects import ProjectDetailApi, ProjectListApi
from annotate.api.review import (
    AnnotationDetailApi,
    AnnotationListApi,
    ReviewDecideApi,
    ReviewNextApi,
)
from annotate.api.work import (
    CompetitorDetailApi,
    CompetitorListApi,
    LeaseListApi,
    LeaseNextApi,
    LeaseReleaseApi,
    LeaseSkipApi,
    LeaseSubmitApi,
    ProjectStatsApi,
    WorkforceReportApi,
)
from annotate.exports.urls import export_patterns
from annotate.webhooks.urls import webhook_patterns
from tenants.api.me import CsrfApi, LoginApi, LogoutApi, MeApi
from tenants.api.members import MemberDetailApi, MemberListApi, TokenDetailApi, TokenListApi
from tenants.api.urls import audit_patterns

tenant_patterns = [
    path("projects", ProjectListApi.as_view(), name="project-list"),
    path("projects/<uuid:project_id>", ProjectDetailApi.as_view(), name="project-detail"),
    path(
        "projects/<uuid:project_id>/permissions",
        ProjectPermissionListApi.as_view(),
        name="project-permission-list",
    ),
    path(
        "projects/<uuid:project_id>/permissions/<uuid:membership_id>/<str:permission>",
        ProjectPermissionDetailApi.as_view(),
        name="project-permission-detail",
    ),
    path("projects/<uuid:project_id>/imports", ImportListApi.as_view(), name="import-list"),
    path(
        "projects/<uuid:project_id>/imports/<uuid:import_id>",
        ImportDetailApi.as_view(),
        name="import-detail",
    ),
    path("projects/<uuid:project_id>/items", ItemListApi.as_view(), name="item-list"),
    path(
        "projects/<uuid:project_id>/items/<uuid:item_id>",
        ItemDetailApi.as_view(),
        name="item-detail",
    ),
    path(
        "projects/<uuid:project_id>/items/<uuid:item_id>/media/<slug:field>",
        ItemMediaApi.as_view(),
        name="item-media",
    ),
    path(
        "projects/<uuid:project_id>/items/<uuid:item_id>/media/<slug:field>/url",
        ItemMediaUrlApi.as_view(),
        name="item-media-url",
    ),
    path("projects/<uuid:project_id>/next", LeaseNextApi.as_view(), name="lease-next"),
    path("projects/<uuid:project_id>/leases", LeaseListApi.as_view(), name="lease-list"),
    path(
        "projects/<uuid:project_id>/leases/<uuid:lease_id>/submit",
        LeaseSubmitApi.as_view(),
        name="lease-submit",
    ),
    path(
        "projects/<uuid:project_id>/leases/<uuid:lease_id>/skip",
        LeaseSkipApi.as_view(),
        name="lease-skip",
    ),
    path(
        "projects/<uuid:project_id>/leases/<uuid:lease_id>/release",
        LeaseReleaseApi.as_view(),
        name="lease-release",
    ),
    path(
        "projects/<uuid:project_id>/workforce",
        WorkforceReportApi.as_view(),
        name="project-workforce",
    ),
    path("projects/<uuid:project_id>/review/next", ReviewNextApi.as_view(), name="review-next"),
    path("projects/<uuid:project_id>/stats", ProjectStatsApi.as_view(), name="project-stats"),
    path(
        "projects/<uuid:project_id>/progress",
        ProjectProgressApi.as_view(),
        name="project-progress",
    ),
    path(
        "projects/<uuid:project_id>/annotations",
        AnnotationListApi.as_view(),
        name="annotation-list",
    ),
    path(
        "projects/<uuid:project_id>/annotations/<uuid:annotation_id>",
        AnnotationDetailApi.as_view(),
        name="annotation-detail",
    ),
    path(
        "projects/<uuid:project_id>/annotations/<uuid:annotation_id>/review",
        ReviewDecideApi.as_view(),
        name="annotation-review",
    ),
    path("my-work", MyWorkApi.as_view(), name="my-work"),
    path("competitors", CompetitorListApi.as_view(), name="competitor-list"),
    path(
        "competitors/<uuid:competitor_id>",
        CompetitorDetailApi.as_view(),
        name="competitor-detail",
    ),
    path("members", MemberListApi.as_view(), name="member-list"),
    path("members/<uuid:membership_id>", MemberDetailApi.as_view(), name="member-detail"),
    path("tokens", TokenListApi.as_view(), name="token-list"),
    path("tokens/<uuid:token_id>", TokenDetailApi.as_view(), name="token-detail"),
    *audit_patterns,
    *webhook_patterns,
    *export_patterns,
]

urlpatterns = [
    path("schema/", SpectacularAPIView.as_view(), name="schema"),
    path("docs/", SpectacularSwaggerView.as_view(url_name="schema"), name="swagger-ui"),
    path("redoc/", SpectacularRedocView.as_view(url_name="schema"), name="redoc"),
    path("auth/csrf", CsrfApi.as_view(), name="auth-csrf"),
    path("auth/login", LoginApi.as_view(), name="auth-login"),
    path("auth/logout", LogoutApi.as_view(), name="auth-logout"),
    path("me", MeApi.as_view(), name="me"),
    path("t/<slug:tenant>/", include(tenant_patterns)),
]
