"""Content negotiation with the API's common case answered first.

The API renders JSON only. Nearly every request says so (``Accept: application/json``), or
accepts anything (``*/*``, or no ``Accept`` at all, which means the same); for those the
answer is the JSON renderer, as DRF's negotiation would conclude after parsing and ranking
the header. Anything else (several types, parameters such as ``indent=4``, a type the API
cannot give, which is a 406) goes through DRF's negotiation unchanged."""

from __future__ import annotations

from typing import Any

from rest_framework.negotiation import DefaultContentNegotiation

_SIMPLE_ACCEPTS = frozenset({"*/*", "application/json"})


class JsonFirstNegotiation(DefaultContentNegotiation):
    def select_renderer(
        self, request: Any, renderers: list[Any], format_suffix: str | None = None
    ) -> tuple[Any, str]:
        accept = request.META.get("HTTP_ACCEPT", "*/*")
        if (
            format_suffix is None
            and accept in _SIMPLE_ACCEPTS
            and renderers
            and renderers[0].media_type == "application/json"
            and self.settings.URL_FORMAT_OVERRIDE is None
        ):
            return renderers[0], "application/json"
        return super().select_renderer(request, renderers, format_suffix)
