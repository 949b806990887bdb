"""Small helpers shared by test modules."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def django_start_up_error(env: dict[str, str]) -> str:
    """Start Django in a fresh process with ``env`` added; assert that start-up is refused
    with ImproperlyConfigured, and return its stderr for the message checks."""
    result = subprocess.run(
        [sys.executable, "-c", "import django; django.setup()"],
        env=dict(os.environ, DJANGO_SETTINGS_MODULE="annotate.settings", **env),
        capture_output=True,
        text=True,
        cwd=ROOT,
        timeout=60,
    )
    assert result.returncode != 0, "start-up was not refused"
    assert "ImproperlyConfigured" in result.stderr, result.stderr[-800:]
    return result.stderr
