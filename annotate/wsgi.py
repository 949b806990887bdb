"""The WSGI application, as the web server (granian; README, "Stack") serves it."""

import os
from collections.abc import Callable, Iterable
from typing import Any

from django.core.wsgi import get_wsgi_application

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "annotate.settings")

# The CGI variables a server may set from the request and the connection (PEP 3333).
CGI_KEYS = frozenset(
    {
        "REQUEST_METHOD",
        "SCRIPT_NAME",
        "PATH_INFO",
        "QUERY_STRING",
        "CONTENT_TYPE",
        "CONTENT_LENGTH",
        "SERVER_NAME",
        "SERVER_PORT",
        "SERVER_PROTOCOL",
        "SERVER_SOFTWARE",
        "GATEWAY_INTERFACE",
        "REMOTE_ADDR",
        "REMOTE_PORT",
        "REMOTE_HOST",
        "REMOTE_USER",
        "HTTPS",
        "RAW_URI",
        "REQUEST_URI",
    }
)


def request_only(
    app: Callable[[dict[str, Any], Any], Iterable[bytes]],
    process_env: dict[str, str],
) -> Callable[[dict[str, Any], Any], Iterable[bytes]]:
    """``app`` seeing only what the request and the server put in its environ.

    TRICKY: granian starts every request's environ from a copy of the process environment
    (``basic_env = dict(os.environ)`` in granian/wsgi.py), so ``request.META`` would carry
    the process's secrets (DJANGO_SECRET_KEY, DATABASE_URL, STORAGE_MASTER_KEYS,
    AUDIT_SIGNING_KEYS) to anything that reads, logs or reports it. Kept: the CGI variables,
    ``wsgi.*`` and the ``HTTP_*`` headers, less an ``HTTP_*`` variable of the process
    environment (``HTTP_PROXY``, say) arriving with its process value."""

    def application(environ: dict[str, Any], start_response: Any) -> Iterable[bytes]:
        kept = {
            key: value
            for key, value in environ.items()
            if key in CGI_KEYS
            or key.startswith("wsgi.")
            or (key.startswith("HTTP_") and process_env.get(key) != value)
        }
        return app(kept, start_response)

    return application


application = request_only(get_wsgi_application(), dict(os.environ))
