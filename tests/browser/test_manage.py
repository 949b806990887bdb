"""Managers in real Chromium: an import with live progress to completion (a real Celery
worker ingests it) and one that fails naming line and field; the dashboard's charts over the
result; members, per-project grants and competitor exclusions; other tenants' URLs: not found."""

from __future__ import annotations

import json

import pytest

from annotate.models import Competitor, ImportJob, Item
from tenants.models import Membership
from tenants.scoping import tenant_context
from tests.browser.conftest import shot
from tests.browser.staff import assert_tenant_visible, login, script_errors, ui_worker
from tests.conftest import World, build_world
from tests.distribution.conftest import annotator, client_for, configure

pytestmark = pytest.mark.browser
__all__ = ["ui_worker"]


def jsonl(records: list[dict]) -> bytes:
    return b"".join(json.dumps(r).encode() + b"\n" for r in records)


def label(w: World, name: str, answers: dict[str, str], count: int) -> None:
    """An annotator labels ``count`` items (gold ones first), answering by item text."""
    client = client_for(annotator(w.project_a, name))
    base = f"/api/v1/t/tenant-a/projects/{w.project_a.id}"
    for _ in range(count):
        lease = client.post(f"{base}/next")
        if lease.status_code == 204:
            return
        body = lease.json()
        answer = answers.get(body["item"]["data"]["text"], "a")
        done = client.post(
            f"{base}/leases/{body['id']}/submit", {"result": {"label": answer}}, format="json"
        )
        assert done.status_code == 201, done.content


def test_manager_imports_with_live_progress_and_sees_the_dashboard(
    live_url: str, page, ui_worker
) -> None:
    w = build_world()
    configure(w.project_a, overlap=2)
    # Large enough that the import runs for a few of the screen's one-second polls.
    good = [{"external_id": f"e{i}", "data": {"text": f"claim {i}"}} for i in range(60_000)]
    good += [
        {"external_id": "g1", "data": {"text": "gold one"}, "gold": {"label": "a"}},
        {"external_id": "g2", "data": {"text": "gold two"}, "gold": {"label": "b"}},
    ]
    login(page, live_url, "a-manager", f"/t/tenant-a/projects/{w.project_a.id}/imports")
    assert_tenant_visible(page, "tenant-a")
    page.get_by_test_id("import-form").wait_for()
    page.get_by_test_id("no-imports").wait_for()
    shot(page, "manage-01-imports-empty")
    page.get_by_test_id("import-file").set_input_files(
        {"name": "claims.jsonl", "mimeType": "application/x-ndjson", "buffer": jsonl(good)}
    )
    page.get_by_test_id("import-dataset").fill("November")
    page.get_by_test_id("import-submit").click()
    page.get_by_test_id("import-progress").wait_for()
    # Live progress: the card follows the import without a reload (running, when a poll
    # catches it: 60,000 items take about a second here, longer on a busy machine).
    page.locator(
        "[data-testid=import-progress][data-state=running],"
        " [data-testid=import-progress][data-state=succeeded]"
    ).wait_for(timeout=60_000)
    if page.get_by_test_id("import-progress").get_attribute("data-state") == "running":
        shot(page, "manage-02a-import-running")
    page.locator("[data-testid=import-progress][data-state=succeeded]").wait_for(timeout=120_000)
    assert page.get_by_test_id("import-counts").inner_text() == "60002 / 60002 items"
    shot(page, "manage-02-import-succeeded")
    with tenant_context(w.a.id):
        assert Item.objects.filter(project=w.project_a).count() == 60_002
        assert ImportJob.objects.get().state == "succeeded"

    # A bad file: the errors name the file, the line and the field; nothing is written.
    bad = jsonl(
        [{"external_id": "x1", "data": {"text": "fine"}}, {"external_id": "x2", "data": {}}]
    )
    page.get_by_test_id("import-file").set_input_files(
        {"name": "broken.jsonl", "mimeType": "application/x-ndjson", "buffer": bad + b"{nope\n"}
    )
    page.get_by_test_id("import-submit").click()
    page.locator("[data-testid=import-progress][data-state=failed]").wait_for(timeout=60_000)
    errors = page.get_by_test_id("import-error").all_inner_texts()
    assert any("broken.jsonl" in e and "2" in e and "data.text" in e for e in errors), errors
    assert any("3" in e and "invalid JSON" in e for e in errors), errors
    shot(page, "manage-03-import-failed")
    with tenant_context(w.a.id):
        assert not Item.objects.filter(external_id__in=["x1", "x2"]).exists()

    # Some work, then the dashboard: progress over time, throughput, agreement, gold accuracy.
    # Gold ratio 1: every annotator gets each gold item once, first (deterministic for the test).
    configure(w.project_a, overlap=2, gold_ratio=1.0)
    answers = {"gold one": "a", "gold two": "b"}
    label(w, "ann-1", answers, 14)
    label(w, "ann-2", {"gold one": "b", "gold two": "b"}, 10)
    label(w, "ann-3", answers, 6)
    page.goto(f"{live_url}/t/tenant-a/projects/{w.project_a.id}/dashboard")
    page.get_by_test_id("chart-progress").wait_for()
    for chart in ("chart-throughput", "chart-agreement", "chart-gold", "chart-throughput-time"):
        assert page.get_by_test_id(chart).locator("svg").count() == 1, chart
    bars = page.get_by_test_id("chart-throughput").locator("[data-label]")
    assert sorted(bars.evaluate_all("els => els.map(e => e.dataset.label)")) == [
        "ann-1",
        "ann-2",
        "ann-3",
    ]
    assert page.get_by_test_id("chart-gold").locator("[data-label]").count() == 3
    workforce = page.get_by_test_id("dashboard-workforce")
    assert workforce.get_attribute("data-wall-held") == "true"
    assert page.get_by_test_id("workforce-row").count() == 3
    shot(page, "manage-04-dashboard")

    # Another tenant's project: "not found" on every project screen.
    for screen in ("imports", "dashboard", "permissions"):
        page.goto(f"{live_url}/t/tenant-a/projects/{w.project_b.id}/{screen}")
        page.get_by_test_id("not-found").wait_for()
        assert "B secret project" not in page.content()
    assert_tenant_visible(page, "tenant-a")
    assert script_errors(page) == [], script_errors(page)


def test_owner_manages_members_grants_and_competitors(live_url: str, page) -> None:
    w = build_world()
    login(page, live_url, "a-owner", "/t/tenant-a/members")
    assert_tenant_visible(page, "tenant-a")
    page.get_by_test_id("member-list").wait_for()
    page.get_by_test_id("member-username").fill("new-annotator")
    page.get_by_test_id("member-role").select_option("annotator")
    page.get_by_test_id("member-submit").click()
    page.locator("[data-testid=member-row]", has_text="new-annotator").wait_for()
    shot(page, "manage-05-members")
    with tenant_context(w.a.id):
        newcomer = Membership.objects.get(user__username="new-annotator")
        assert newcomer.role == "annotator"

    # A per-project grant for the newcomer.
    page.goto(f"{live_url}/t/tenant-a/projects/{w.project_a.id}/permissions")
    page.get_by_test_id("grant-form").wait_for()
    page.get_by_test_id("grant-member").select_option(str(newcomer.id))
    page.get_by_test_id("grant-permission").select_option("annotate")
    page.get_by_test_id("grant-submit").click()
    page.locator("[data-testid=grant-row]", has_text="new-annotator").wait_for()
    shot(page, "manage-06-permissions")

    # Competitor exclusions: an unknown slug is refused naming the field, then tenant-b.
    page.goto(f"{live_url}/t/tenant-a/competitors")
    page.get_by_test_id("no-competitors").wait_for()
    page.get_by_test_id("competitor-slug").fill("no-such-tenant")
    page.get_by_test_id("competitor-submit").click()
    page.locator("[data-testid=competitor-form-error].visible").wait_for()
    assert "no-such-tenant" in page.get_by_test_id("competitor-form-error").inner_text()
    page.get_by_test_id("competitor-slug").fill("tenant-b")
    page.get_by_test_id("competitor-note").fill("bought our former vendor")
    page.get_by_test_id("competitor-submit").click()
    page.locator("[data-testid=competitor-row][data-competitor=tenant-b]").wait_for()
    shot(page, "manage-07-competitors")
    with tenant_context(w.a.id):
        assert list(Competitor.objects.values_list("competitor__slug", flat=True)) == ["tenant-b"]

    # Tenant B's owner: A's screens are "not found"; B's own list does not show A's entry.
    page.get_by_test_id("logout-button").click()
    login(page, live_url, "b-owner", "/t/tenant-a/competitors")
    page.get_by_test_id("not-found").wait_for()
    page.goto(f"{live_url}/t/tenant-b/competitors")
    page.get_by_test_id("no-competitors").wait_for()
    assert_tenant_visible(page, "tenant-b")
    assert "bought our former vendor" not in page.content()
    assert script_errors(page) == [], script_errors(page)
