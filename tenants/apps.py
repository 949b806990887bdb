from django.apps import AppConfig
from django.db.backends.signals import connection_created
from django.db.models.signals import post_migrate


class TenantsConfig(AppConfig):
    name = "tenants"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        from tenants import dbroles, schema  # noqa: F401 - registers the OpenAPI extension

        connection_created.connect(dbroles.on_connection_created, dispatch_uid="role-check")
        post_migrate.connect(_grant, sender=self, dispatch_uid="grant-app-role")


def _grant(sender: AppConfig, using: str, **kwargs: object) -> None:
    from tenants.dbroles import grant_app_privileges

    grant_app_privileges(using)
