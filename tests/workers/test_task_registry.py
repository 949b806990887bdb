"""A worker process registers every task module, the audit tasks included.

It runs in a fresh interpreter: in the test process other tests have already imported the task
modules, which would hide a module the worker's autodiscovery never imports (as happened to
``workers.tasks.audit``: bundle exports and sealing were "unregistered task" in real workers).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent.parent
PROGRAM = (
    "import json; from workers.celery import app; app.loader.import_default_modules(); "
    "print(json.dumps(sorted(n for n in app.tasks if not n.startswith('celery.'))))"
)


def test_the_worker_registers_every_task_module() -> None:
    result = subprocess.run(
        [sys.executable, "-c", PROGRAM],
        cwd=ROOT,
        env=dict(os.environ),
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 0, result.stderr[-2000:]
    names = set(json.loads(result.stdout.strip().splitlines()[-1]))
    modules = {p.stem for p in (ROOT / "workers" / "tasks").glob("*.py") if p.stem != "__init__"}
    for module in modules:
        assert any(n.startswith(f"workers.tasks.{module}.") for n in names), module
    for name in (
        "workers.tasks.audit.audit_export_run",
        "workers.tasks.audit.tenant_audit_seal",
        "workers.tasks.audit.platform_audit_seal",
        "workers.tasks.audit.platform_grants_expire",
    ):
        assert name in names
