"""Cookies, CSRF, headers. Secure cookies whenever the app is not in debug mode."""

from annotate.settings.base import DEBUG
from annotate.settings.env import env_bool

SESSION_COOKIE_HTTPONLY = True
SESSION_COOKIE_SAMESITE = "Lax"
CSRF_COOKIE_SAMESITE = "Lax"
_secure = env_bool(
    "SECURE_COOKIES",
    not DEBUG,
    "Send session and CSRF cookies only over HTTPS. Defaults to on unless DJANGO_DEBUG.",
)
SESSION_COOKIE_SECURE = _secure
CSRF_COOKIE_SECURE = _secure
CSRF_FAILURE_VIEW = "tenants.api.errors.csrf_failure"
SECURE_CONTENT_TYPE_NOSNIFF = True
SECURE_REFERRER_POLICY = "same-origin"
X_FRAME_OPTIONS = "DENY"
SECURE_PROXY_SSL_HEADER = (
    ("HTTP_X_FORWARDED_PROTO", "https")
    if env_bool("BEHIND_TLS_PROXY", False, "Trust X-Forwarded-Proto from the reverse proxy.")
    else None
)
