"""The single settings module: every environment runs this file; only environment values differ.

Concern modules are imported at the end and may read names defined above them; nothing is
computed after those imports.
"""

from __future__ import annotations

from pathlib import Path

from annotate.settings.env import env_bool, env_int, env_list, env_str

BASE_DIR = Path(__file__).resolve().parent.parent.parent

DEBUG = env_bool("DJANGO_DEBUG", False, "Django debug mode. Never on in production.")
_secret = env_str(
    "DJANGO_SECRET_KEY",
    None,
    "Signs sessions and CSRF tokens. Required unless DJANGO_DEBUG is on; `make run` generates "
    "one under var/.",
)
if _secret is None:
    if not DEBUG:
        from django.core.exceptions import ImproperlyConfigured

        raise ImproperlyConfigured("DJANGO_SECRET_KEY is required when DJANGO_DEBUG is off")
    _secret = "insecure-debug-only-key-" + "x" * 32
SECRET_KEY = _secret

ALLOWED_HOSTS = env_list(
    "DJANGO_ALLOWED_HOSTS", ["localhost", "127.0.0.1"], "Host names this deployment answers to."
)
CSRF_TRUSTED_ORIGINS = env_list(
    "DJANGO_CSRF_TRUSTED_ORIGINS",
    [],
    "Origins (scheme://host[:port]) allowed to POST with a session, when behind a proxy.",
)
TRUSTED_PROXY_COUNT = env_int(
    "TRUSTED_PROXY_COUNT",
    0,
    "How many reverse proxies in front of the app append to X-Forwarded-For. 0 means the "
    "client address in access events is the socket peer.",
    minimum=0,
    maximum=5,
)

INSTALLED_APPS = [
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.staticfiles",
    "rest_framework",
    "drf_spectacular",
    "drf_spectacular_sidecar",
    "guardian",
    "tenants.apps.TenantsConfig",
    "annotate.apps.AnnotateConfig",
    "annotate.webhooks.apps.WebhooksConfig",
    "annotate.exports.apps.ExportsConfig",
    "workers.apps.WorkersConfig",
]

MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "tenants.middleware.RequestIdMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
]

ROOT_URLCONF = "annotate.urls"
WSGI_APPLICATION = "annotate.wsgi.application"

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [BASE_DIR / "annotate" / "templates"],
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.contrib.auth.context_processors.auth",
            ],
        },
    },
]

AUTHENTICATION_BACKENDS = [
    "django.contrib.auth.backends.ModelBackend",
    "guardian.backends.ObjectPermissionBackend",
]
AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
]
if env_bool(
    "FAST_PASSWORD_HASHER",
    False,
    "Use a fast (insecure) password hasher. Only for the test suite.",
):
    PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]

LOGIN_URL = "/accounts/login/"
LOGIN_REDIRECT_URL = "/"
LOGOUT_REDIRECT_URL = "/accounts/login/"

LANGUAGE_CODE = "en-us"
TIME_ZONE = "UTC"
USE_I18N = True
USE_TZ = True

STATIC_URL = "/static/"
STATIC_ROOT = BASE_DIR / "var" / "static"
STATIC_ROOT.mkdir(parents=True, exist_ok=True)  # whitenoise warns on every request otherwise
FRONTEND_DIST = BASE_DIR / "frontend" / "dist"
STATICFILES_DIRS = [FRONTEND_DIST] if FRONTEND_DIST.exists() else []
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {"BACKEND": "whitenoise.storage.CompressedStaticFilesStorage"},
}
WHITENOISE_USE_FINDERS = True

DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

# django-guardian: no anonymous user (every access is by a named person), and our direct
# foreign-key tables are the only object-permission tables in use.
ANONYMOUS_USER_NAME = None
GUARDIAN_RAISE_403 = False

from annotate.settings.audit import *  # noqa: E402, F403
from annotate.settings.celery import *  # noqa: E402, F403
from annotate.settings.database import *  # noqa: E402, F403
from annotate.settings.limits import *  # noqa: E402, F403
from annotate.settings.logging import *  # noqa: E402, F403
from annotate.settings.rest_framework import *  # noqa: E402, F403
from annotate.settings.security import *  # noqa: E402, F403
from annotate.settings.storage import *  # noqa: E402, F403
from annotate.settings.webhooks import *  # noqa: E402, F403
