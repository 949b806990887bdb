"""OpenAPI description of the token authentication (loaded by TenantsConfig.ready)."""

from drf_spectacular.extensions import OpenApiAuthenticationExtension


class ApiTokenScheme(OpenApiAuthenticationExtension):
    target_class = "tenants.authentication.ApiTokenAuthentication"
    name = "apiToken"

    def get_security_definition(self, auto_schema: object) -> dict[str, str]:
        return {
            "type": "http",
            "scheme": "bearer",
            "bearerFormat": "ant_<43 characters>",
            "description": "An API token, bound to one membership of one tenant. "
            "Create one with `manage.py add_member` or POST /api/v1/t/{tenant}/tokens.",
        }
