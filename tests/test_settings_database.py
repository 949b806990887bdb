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


def _options(url: str) -> dict:
    env = {
        **os.environ,
        "DATABASE_URL": url,
        "DJANGO_SETTINGS_MODULE": "annotate.settings",
        "DJANGO_SECRET_KEY": "settings-test-" + "x" * 40,
    }
    env.pop("DATABASE_OWNER_URL", None)
    done = subprocess.run(
        [sys.executable, "-c", PRINT_OPTIONS],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        check=True,
    )
    return json.loads(done.stdout.strip().splitlines()[-1])


def test_connections_keep_one_plan_per_prepared_statement_and_the_urls_options() -> None:
    assert _options("postgres://app@127.0.0.1/db") == {
        "options": "-c plan_cache_mode=force_generic_plan"
    }
    given = _options("postgres://app@127.0.0.1/db?options=-c%20statement_timeout%3D5000")
    assert given == {"options": "-c statement_timeout=5000 -c plan_cache_mode=force_generic_plan"}
