from __future__ import annotations

import os
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent.parent


@pytest.fixture
def celery_worker_process(committed: None) -> Iterator[subprocess.Popen[bytes]]:
    """A real Celery worker process (solo pool: one process, one connection, tasks in order,
    which is exactly where a tenant could leak from one task into the next)."""
    from workers.celery import app

    log = open(ROOT / "var" / "test-worker.log", "wb")  # noqa: SIM115 - closed below
    name = f"test-{os.getpid()}@localhost"
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "celery",
            "-A",
            "workers.celery",
            "worker",
            "--pool",
            "solo",
            "--loglevel",
            "INFO",
            "-n",
            name,
            "--without-gossip",
            "--without-mingle",
        ],
        cwd=ROOT,
        stdout=log,
        stderr=subprocess.STDOUT,
        env=dict(os.environ),
    )
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"worker exited with {proc.returncode}; see var/test-worker.log")
        if app.control.ping(destination=[name], timeout=0.5):
            break
    else:
        proc.kill()
        raise RuntimeError("worker did not answer a ping within 60 s; see var/test-worker.log")
    try:
        yield proc
    finally:
        proc.terminate()
        try:
            proc.wait(20)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
        log.close()
