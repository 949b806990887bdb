from __future__ import annotations

from django.conf import settings
from rest_framework.pagination import CursorPagination


class IdCursorPagination(CursorPagination):
    """Cursor pagination over time-ordered UUIDv7 ids: stable under inserts, no counts (a total
    count is a volume signal nobody needs to page through a list)."""

    ordering = "-id"
    page_size = settings.API_PAGE_SIZE
    page_size_query_param = "page_size"
    max_page_size = settings.API_MAX_PAGE_SIZE
