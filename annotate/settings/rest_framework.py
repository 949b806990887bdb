"""Django REST Framework and the OpenAPI schema."""

from annotate.settings.env import env_int

API_PAGE_SIZE = env_int(
    "API_PAGE_SIZE", 50, "Default page size of list endpoints.", minimum=1, maximum=1000
)
API_MAX_PAGE_SIZE = env_int(
    "API_MAX_PAGE_SIZE", 500, "Largest page size a client may ask for.", minimum=1, maximum=10000
)

REST_FRAMEWORK = {
    "DEFAULT_AUTHENTICATION_CLASSES": [
        "tenants.authentication.ApiTokenAuthentication",
        "rest_framework.authentication.SessionAuthentication",
    ],
    "DEFAULT_PERMISSION_CLASSES": ["rest_framework.permissions.IsAuthenticated"],
    "DEFAULT_RENDERER_CLASSES": ["rest_framework.renderers.JSONRenderer"],
    "DEFAULT_PARSER_CLASSES": ["tenants.api.parsers.LimitedJSONParser"],
    "DEFAULT_CONTENT_NEGOTIATION_CLASS": "tenants.api.negotiation.JsonFirstNegotiation",
    "DEFAULT_SCHEMA_CLASS": "drf_spectacular.openapi.AutoSchema",
    "EXCEPTION_HANDLER": "tenants.api.errors.exception_handler",
    "UNAUTHENTICATED_USER": None,
    # `?format=` names an import file format, not a renderer: the API only speaks JSON.
    "URL_FORMAT_OVERRIDE": None,
}

SPECTACULAR_SETTINGS = {
    "TITLE": "Annotate API",
    "DESCRIPTION": (
        "Multi-tenant annotation platform. Every tenant resource lives under "
        "`/api/v1/t/{tenant}/`; a token is bound to one membership of one tenant. Another "
        "tenant's objects answer 404 exactly like missing ones."
    ),
    "VERSION": "1.0.0",
    "SERVE_INCLUDE_SCHEMA": False,
    "COMPONENT_SPLIT_REQUEST": True,
    "SCHEMA_PATH_PREFIX": r"/api/v1",
    # Swagger UI assets are served from our own static files: no CDN, the app runs air-gapped.
    "SWAGGER_UI_DIST": "SIDECAR",
    "SWAGGER_UI_FAVICON_HREF": "SIDECAR",
    "REDOC_DIST": "SIDECAR",
    "ENUM_NAME_OVERRIDES": {
        # Imports and project exports share these states: one named enum for both.
        "JobStateEnum": "annotate.exports.models.ProjectExport.State",
        "ItemStatusEnum": "annotate.models.dataset.Item.Status",
        "AnnotationStatusEnum": "annotate.models.work.Annotation.Status",
        "LeaseStateEnum": "annotate.models.work.Lease.State",
    },
}
