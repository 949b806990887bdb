"""The browser app in real Chromium: log in, see only your tenant, "not found" for others."""

from __future__ import annotations

import pytest

from tests.browser.conftest import shot
from tests.conftest import World, build_world
from tests.factories import project_in

pytestmark = pytest.mark.browser


def _login(page, url: str, username: str) -> None:
    page.goto(url + "/")
    page.get_by_test_id("login-username").fill(username)
    page.get_by_test_id("login-password").fill("pw-for-tests-1")
    shot(page, "01-login")
    page.get_by_test_id("login-submit").click()


def test_manager_sees_own_tenant_and_nothing_of_the_other(live_url: str, page) -> None:
    w: World = build_world()
    hostile = project_in(
        w.a,
        w.m("a", "manager"),
        name="<script>alert(1)</script> & <b>bold</b>",
        description="<img src=x onerror=alert(2)>",
    )
    _login(page, live_url, "a-manager")
    badge = page.get_by_test_id("tenant-badge")
    badge.wait_for()
    assert badge.get_attribute("data-tenant-slug") == "tenant-a"
    page.get_by_test_id("project-list").wait_for()
    rows = page.get_by_test_id("project-row")
    names = rows.all_inner_texts()
    assert any("A secret project" in n for n in names)
    assert not any("B secret project" in n for n in names)
    # Data is text, never markup: the hostile name shows literally and creates no element.
    assert any("<script>alert(1)</script>" in n for n in names)
    assert page.locator("b", has_text="bold").count() == 0
    shot(page, "02-projects")

    page.goto(f"{live_url}/t/tenant-a/projects/{hostile.id}")
    page.get_by_test_id("project-detail").wait_for()
    assert page.get_by_test_id("project-description").inner_text() == "<img src=x onerror=alert(2)>"
    assert page.locator("img[src=x]").count() == 0
    shot(page, "03-project-detail")

    # Another tenant's URL and another tenant's project id: "not found", like a missing one.
    page.goto(f"{live_url}/t/tenant-b/projects")
    page.get_by_test_id("not-found").wait_for()
    assert "B secret project" not in page.content()
    shot(page, "04-other-tenant-not-found")
    page.goto(f"{live_url}/t/tenant-a/projects/{w.project_b.id}")
    page.get_by_test_id("not-found").wait_for()
    assert "B secret project" not in page.content()
    shot(page, "05-other-tenant-project-not-found")
    # Expected 401 (before login) and 404 responses aside, no script error, no CSP violation.
    errors = [e for e in page.console_errors if "Failed to load resource" not in e]  # type: ignore[attr-defined]
    assert errors == [], errors


def test_create_project_with_schema_errors_then_success(live_url: str, page) -> None:
    build_world()
    _login(page, live_url, "a-manager")
    page.get_by_test_id("project-list").wait_for()
    page.get_by_test_id("new-project-link").click()
    page.get_by_test_id("project-form").wait_for()
    page.get_by_test_id("project-field-name").fill("Browser-made")
    schema = page.get_by_test_id("project-field-label_schema")
    schema.fill('{"version": 1, "fields": [')
    shot(page, "06-schema-invalid-json")
    assert "line" in page.get_by_test_id("schema-status").inner_text().lower()
    schema.fill(
        '{"version": 1, "data": {"text": {"type": "text"}}, '
        '"fields": [{"name": "topic", "type": "choices", "choices": ["a", "b"]}]}'
    )
    page.get_by_test_id("project-submit").click()
    page.get_by_test_id("project-detail").wait_for()
    assert page.get_by_test_id("project-name").inner_text() == "Browser-made"
    shot(page, "07-project-created")
