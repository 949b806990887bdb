from django.urls import include, path, re_path

from annotate.api.media import media_signed
from annotate.health import healthz
from annotate.spa import spa_index

urlpatterns = [
    path("healthz", healthz, name="healthz"),
    path("api/v1/", include("annotate.api.urls")),
    path("media/s/<str:token>", media_signed, name="media-signed"),
    path("", spa_index, name="spa-root"),
    re_path(r"^t/(?P<path>.*)$", spa_index, name="spa-tenant"),
]
