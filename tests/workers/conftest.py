from __future__ import annotations

import os
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent.parent


def start_celery_worker(name: str, *options: str) -> subprocess.Popen[bytes]:
    """Start a real Celery worker process and wait until it answers a ping."""
    from workers.celery import app

    (ROOT / "var").mkdir(exist_ok=True)
    log = open(ROOT / "var" / f"test-worker-{name}.log", "wb")  # noqa: SIM115 - child owns it
    node = f"{name}-{os.getpid()}@localhost"
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "celery",
            "-A",
            "workers.celery",
            "worker",
            "--loglevel",
            "INFO",
            "-n",
            node,
            "--without-gossip",
            "--without-mingle",
            *options,
        ],
        cwd=ROOT,
        stdout=log,
        stderr=subprocess.STDOUT,
        env=dict(os.environ),
    )
    log.close()
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(
                f"worker exited with {proc.returncode}; see var/test-worker-{name}.log"
            )
        if app.control.ping(destination=[node], timeout=0.5):
            return proc
    proc.kill()
    raise RuntimeError(f"worker did not answer a ping within 60 s; see var/test-worker-{name}.log")


def stop_celery_worker(proc: subprocess.Popen[bytes]) -> None:
    proc.terminate()
    try:
        proc.wait(20)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()


@pytest.fixture
def celery_worker_process(committed: None) -> Iterator[subprocess.Popen[bytes]]:
    """A real Celery worker process (solo pool: one process, one connection, tasks in order,
    which is exactly where a tenant could leak from one task into the next)."""
    from workers.celery import app

    app.control.purge()
    proc = start_celery_worker("solo", "--pool", "solo")
    try:
        yield proc
    finally:
        stop_celery_worker(proc)
