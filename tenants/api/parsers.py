"""JSON bodies with the limits enforced (DRF's parser reads the stream unbounded)."""

from __future__ import annotations

import json
from typing import Any

from django.conf import settings
from rest_framework import exceptions, status
from rest_framework.parsers import JSONParser


class PayloadTooLarge(exceptions.APIException):
    status_code = status.HTTP_413_REQUEST_ENTITY_TOO_LARGE
    default_code = "too_large"


def json_depth_exceeds(value: Any, limit: int) -> bool:
    """Iterative, so a hostile document cannot exhaust the stack while being measured."""
    stack = [(value, 1)]
    while stack:
        item, depth = stack.pop()
        if depth > limit:
            return True
        if isinstance(item, dict):
            stack.extend((v, depth + 1) for v in item.values())
        elif isinstance(item, list):
            stack.extend((v, depth + 1) for v in item)
    return False


class LimitedJSONParser(JSONParser):
    def parse(self, stream: Any, media_type: str | None = None, parser_context: Any = None) -> Any:
        limit = settings.DATA_UPLOAD_MAX_MEMORY_SIZE
        raw = stream.read(limit + 1) if stream is not None else b""
        if len(raw) > limit:
            raise PayloadTooLarge(
                f"Request body exceeds the limit of {limit} bytes (MAX_JSON_BODY_BYTES)."
            )
        try:
            data = json.loads(raw.decode("utf-8"))
        except UnicodeDecodeError as exc:
            raise exceptions.ParseError(f"JSON parse error - body is not UTF-8: {exc}") from None
        except (ValueError, RecursionError) as exc:
            raise exceptions.ParseError(f"JSON parse error - {exc}") from None
        if json_depth_exceeds(data, settings.JSON_MAX_DEPTH):
            raise exceptions.ParseError(
                f"JSON nested deeper than the limit of {settings.JSON_MAX_DEPTH} (JSON_MAX_DEPTH)."
            )
        return data
