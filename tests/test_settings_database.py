"""The application's database settings, as a fresh process reads them from the environment."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
PRINT_OPTIONS = (
    "import django, json; django.setup(); from django.conf import settings; "
    "print(json.dumps(settings.DATABASES['default']['OPTIONS']))"
)


def _read(url: str) -> subprocess.CompletedProcess[str]:
    env = {
        **os.environ,
        "DATABASE_URL": url,
        "DJANGO_SETTINGS_MODULE": "annotate.settings",
        "DJANGO_SECRET_KEY": "settings-test-" + "x" * 40,
    }
    env.pop("DATABASE_OWNER_URL", None)
    return subprocess.run(
        [sys.executable, "-c", PRINT_OPTIONS], cwd=ROOT, env=env, capture_output=True, text=True
    )


def _options(url: str) -> dict:
    done = _read(url)
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout.strip().splitlines()[-1])


def test_connections_keep_one_plan_per_prepared_statement_and_the_urls_options() -> None:
    assert _options("postgres://app@127.0.0.1/db") == {
        "options": "-c plan_cache_mode=force_generic_plan"
    }
    given = _options("postgres://app@127.0.0.1/db?options=-c%20statement_timeout%3D5000")
    assert given == {"options": "-c statement_timeout=5000 -c plan_cache_mode=force_generic_plan"}


def test_server_side_binding_is_refused_with_the_reason() -> None:
    # The hot paths pipeline prepared statements bound client-side; with server-side binding
    # they would fail on the first request, and the URL's "true" (a string) would not even
    # reach Django's check (``is True``) while dropping the generic-plan option.
    for value in ("true", "false"):
        done = _read(f"postgres://app@127.0.0.1/db?server_side_binding={value}")
        assert done.returncode != 0
        assert "ImproperlyConfigured: DATABASE_URL's option server_side_binding is not " in (
            done.stderr
        )
        assert "remove the option from the URL" in done.stderr
