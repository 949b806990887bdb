"""Helpers of the reviewer, manager and auditor browser tests (test_review, test_manage,
test_audit_screens): log in, check the tenant badge, a real Celery worker, screenshots."""

from __future__ import annotations

import subprocess
from collections.abc import Iterator

import pytest

from tests.workers.conftest import start_celery_worker, stop_celery_worker

PASSWORD = "pw-for-tests-1"


def login(page, url: str, username: str, path: str = "/") -> None:
    """Log in through the form, then open ``path`` (a full page load)."""
    page.goto(url + "/")
    page.get_by_test_id("login-username").fill(username)
    page.get_by_test_id("login-password").fill(PASSWORD)
    page.get_by_test_id("login-submit").click()
    page.get_by_test_id("app-header").wait_for()
    page.get_by_test_id("current-user").wait_for()
    if path != "/":
        page.goto(url + path)


def assert_tenant_visible(page, slug: str) -> None:
    badge = page.get_by_test_id("tenant-badge")
    badge.wait_for()
    assert badge.get_attribute("data-tenant-slug") == slug
    assert page.get_by_test_id("tenant-slug").inner_text() == slug


def script_errors(page) -> list[str]:
    """Console errors other than the expected failed loads (401 before login, 404s)."""
    return [e for e in page.console_errors if "Failed to load resource" not in e]


@pytest.fixture
def ui_worker(committed: None) -> Iterator[subprocess.Popen[bytes]]:
    """A real Celery worker (solo pool) for flows that need one: imports, audit bundles."""
    from workers.celery import app

    app.control.purge()
    proc = start_celery_worker("f2-ui", "--pool", "solo")
    try:
        yield proc
    finally:
        stop_celery_worker(proc)
