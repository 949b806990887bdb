"""Serve the built browser app (frontend/dist/index.html) for its client-side routes."""

from __future__ import annotations

from django.conf import settings
from django.http import HttpRequest, HttpResponse
from django.views.decorators.csrf import ensure_csrf_cookie

# The app's policy: code and styles only from this origin (no inline script or style, no eval),
# no plugins, no <base> tricks, never framed. Item media are same-origin images; data: and
# blob: images are the app's own. Item text reaches the page as text nodes only (frontend/
# src/dom.ts), and this policy is the second wall should a bug ever inject markup.
CONTENT_SECURITY_POLICY = "; ".join(
    [
        "default-src 'self'",
        "script-src 'self'",
        "style-src 'self'",
        "img-src 'self' data: blob:",
        "connect-src 'self'",
        "font-src 'self'",
        "object-src 'none'",
        "base-uri 'none'",
        "form-action 'self'",
        "frame-ancestors 'none'",
    ]
)


@ensure_csrf_cookie
def spa_index(request: HttpRequest, **kwargs: object) -> HttpResponse:
    index = settings.FRONTEND_DIST / "index.html"
    if not index.exists():
        return HttpResponse(
            "The browser app is not built. Run `make frontend` (make run does it for you).",
            status=503,
            content_type="text/plain",
        )
    response = HttpResponse(index.read_bytes(), content_type="text/html; charset=utf-8")
    response["Cache-Control"] = "no-cache"
    response["Content-Security-Policy"] = CONTENT_SECURITY_POLICY
    return response
