from django.apps import AppConfig


class ExportsConfig(AppConfig):
    name = "annotate.exports"
    label = "exports"
    verbose_name = "Project exports"
    default_auto_field = "django.db.models.BigAutoField"
