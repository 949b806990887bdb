"""Test only: answers the keys of its WSGI environ, as served (``/raw``) and as the Django app
sees it behind ``annotate.wsgi.request_only`` (any other path). Used by tests/test_wsgi.py."""

import json
import os
from collections.abc import Iterable
from typing import Any

from annotate.wsgi import request_only


def _keys(environ: dict[str, Any], start_response: Any) -> Iterable[bytes]:
    body = json.dumps(sorted(environ)).encode()
    start_response("200 OK", [("Content-Type", "application/json")])
    return [body]


_filtered = request_only(_keys, dict(os.environ))


def application(environ: dict[str, Any], start_response: Any) -> Iterable[bytes]:
    if environ.get("PATH_INFO") == "/raw":
        return _keys(environ, start_response)
    return _filtered(environ, start_response)
