"""Bench only: the app with the access-event write replaced by a no-op, served beside the real
one so that ``bench/audit_bench.py`` can time the same request with and without the event over
HTTP. Never deploy this module: it exists so that production code needs no switch for it."""

from annotate.wsgi import application  # noqa: F401 - configures Django first
from tenants.api import base


def _no_write(**kwargs: object) -> int:
    return 0


base.audit_record = _no_write  # type: ignore[assignment]
