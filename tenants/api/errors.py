"""One error shape for the whole API: ``{"error": {"code", "message", "fields"?}}``."""

from __future__ import annotations

from typing import Any

from django.core.exceptions import ValidationError as DjangoValidationError
from django.http import Http404
from rest_framework import exceptions, status
from rest_framework.response import Response
from rest_framework.views import exception_handler as drf_exception_handler

NOT_FOUND_MESSAGE = "Not found."


def _flatten(detail: Any, prefix: str = "") -> dict[str, list[str]]:
    """Turn DRF's nested error detail into ``{"field.sub[0]": ["message", ...]}``."""
    out: dict[str, list[str]] = {}
    if isinstance(detail, dict):
        for key, value in detail.items():
            name = f"{prefix}.{key}" if prefix else str(key)
            out.update(_flatten(value, name))
    elif isinstance(detail, list):
        if all(not isinstance(v, (dict, list)) for v in detail):
            out[prefix or "non_field_errors"] = [str(v) for v in detail]
        else:
            for i, value in enumerate(detail):
                out.update(_flatten(value, f"{prefix}[{i}]"))
    else:
        out[prefix or "non_field_errors"] = [str(detail)]
    return out


def exception_handler(exc: Exception, context: dict[str, Any]) -> Response | None:
    if isinstance(exc, DjangoValidationError):
        # Services raise Django's ValidationError; the API answers it as a 400 by field.
        exc = exceptions.ValidationError(
            exc.message_dict if hasattr(exc, "error_dict") else {"non_field_errors": exc.messages}
        )
    if isinstance(exc, Http404):
        # Same words for "missing" and "someone else's": nothing to tell them apart.
        exc = exceptions.NotFound(NOT_FOUND_MESSAGE)
    response = drf_exception_handler(exc, context)
    if response is None:
        return None
    if isinstance(exc, exceptions.ValidationError):
        fields = _flatten(exc.detail)
        body: dict[str, Any] = {
            "code": "invalid",
            "message": "Invalid input: "
            + "; ".join(f"{k}: {' '.join(v)}" for k, v in list(fields.items())[:5]),
            "fields": fields,
        }
    elif isinstance(exc, exceptions.APIException):
        detail = exc.detail
        message = str(detail)
        code = (
            exc.get_codes() if not isinstance(exc.get_codes(), (dict, list)) else exc.default_code
        )
        body = {"code": str(code), "message": message}
    else:  # pragma: no cover - DRF only handles the above
        body = {"code": "error", "message": str(exc)}
    if response.status_code == status.HTTP_404_NOT_FOUND:
        body = {"code": "not_found", "message": NOT_FOUND_MESSAGE}
    response.data = {"error": body}
    return response


def csrf_failure(request: Any, reason: str = "", template_name: str = "") -> Any:
    """CSRF refusals in the API's error shape (Django's default is an HTML page)."""
    from django.http import JsonResponse

    return JsonResponse(
        {"error": {"code": "csrf_failed", "message": f"CSRF check failed: {reason}"}}, status=403
    )
