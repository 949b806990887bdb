"""Auditors in real Chromium: the access log filtered by actor, outcome, action and time;
a signed bundle exported by a real worker, downloaded, and verified offline. Auditors see
metadata, never item content; the other tenant's log is "not found"."""

from __future__ import annotations

import subprocess
import sys

import pytest

from tenants.models import AccessEvent, AuditExport
from tenants.scoping import tenant_context
from tests.browser.conftest import ARTIFACTS, shot
from tests.browser.staff import assert_tenant_visible, login, script_errors, ui_worker
from tests.conftest import build_world
from tests.distribution.conftest import add_items, client_for
from tests.helpers import ROOT

pytestmark = pytest.mark.browser
__all__ = ["ui_worker"]
SECRET = "TOP-SECRET item content 7781"


def test_auditor_filters_the_log_and_exports_a_bundle(live_url: str, page, ui_worker) -> None:
    w = build_world()
    [item] = add_items(w.project_a, 1)
    with tenant_context(w.a.id):
        from annotate.models import Item

        Item.objects.filter(id=item.id).update(data={"text": SECRET})
    manager = client_for(w.m("a", "manager"))
    base = f"/api/v1/t/tenant-a/projects/{w.project_a.id}"
    assert manager.get(f"{base}/items/{item.id}").status_code == 200
    assert manager.get(f"{base}/items").status_code == 200
    # A denied attempt: tenant B's manager knocks on A's project.
    assert client_for(w.m("b", "manager")).get(base).status_code == 404

    login(page, live_url, "a-auditor", "/t/tenant-a/audit")
    assert_tenant_visible(page, "tenant-a")
    page.get_by_test_id("nav-audit").wait_for()
    page.get_by_test_id("audit-event").first.wait_for()
    shot(page, "audit-01-log")

    # Filter: actor and action.
    page.get_by_test_id("audit-filter-actor").fill("a-manager")
    page.get_by_test_id("audit-filter-action").fill("item.read")
    page.get_by_test_id("audit-apply").click()
    page.wait_for_function(
        "() => [...document.querySelectorAll('[data-testid=audit-event]')].length === 1"
    )
    row = page.get_by_test_id("audit-event").first.inner_text()
    assert "a-manager" in row and "item.read" in row and str(item.id) in row
    assert "actor=a-manager" in page.url  # the filtered view can be bookmarked
    # Metadata only: the item's content appears nowhere on the auditor's screens.
    assert SECRET not in page.content()
    shot(page, "audit-02-filtered-actor-action")

    # Filter: outcome denied, within the last hour.
    page.get_by_test_id("audit-clear").click()
    page.get_by_test_id("audit-filter-outcome").select_option("denied")
    # datetime-local inputs hold the browser's local time: compute the values in the page.
    set_local = (
        "([sel, minutes]) => { const d = new Date(Date.now() + minutes * 60000);"
        " const p = n => String(n).padStart(2, '0');"
        " document.querySelector(`[data-testid=${sel}]`).value ="
        " `${d.getFullYear()}-${p(d.getMonth() + 1)}-${p(d.getDate())}`"
        " + `T${p(d.getHours())}:${p(d.getMinutes())}`; }"
    )
    page.evaluate(set_local, ["audit-filter-since", -60])
    page.get_by_test_id("audit-apply").click()
    page.wait_for_function(
        "() => { const rows = [...document.querySelectorAll('[data-testid=audit-event]')];"
        " return rows.length > 0 && rows.every(r => r.dataset.outcome === 'denied'); }"
    )
    with tenant_context(w.a.id):
        denied = AccessEvent.objects.filter(outcome="denied").count()
    assert page.get_by_test_id("audit-event").count() == denied
    shot(page, "audit-03-filtered-denied")

    # A bad filter (until before since) is a message naming the field, not a crash.
    page.evaluate(set_local, ["audit-filter-until", -120])
    page.get_by_test_id("audit-apply").click()
    page.locator("[data-testid=audit-filter-error].visible").wait_for()
    assert "until" in page.get_by_test_id("audit-filter-error").inner_text()

    # Export a bundle: a real worker seals the log and writes it; download, verify offline.
    page.get_by_test_id("tab-audit-exports").click()
    page.get_by_test_id("audit-export-form").wait_for()
    page.get_by_test_id("audit-export-start").click()
    page.locator("[data-testid=audit-export][data-state=succeeded]").wait_for(timeout=90_000)
    shot(page, "audit-04-export-ready")
    with page.expect_download() as info:
        page.get_by_test_id("audit-export-download").first.click()
    ARTIFACTS.mkdir(exist_ok=True)
    bundle = ARTIFACTS / "audit-bundle.zip"
    info.value.save_as(bundle)
    result = subprocess.run(
        [sys.executable, str(ROOT / "tools" / "verify_bundle.py"), str(bundle)],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 0 and result.stdout.startswith("OK"), result.stdout + result.stderr
    assert SECRET.encode() not in bundle.read_bytes()
    with tenant_context(w.a.id):
        assert AuditExport.objects.get().state == "succeeded"
        assert AccessEvent.objects.filter(action="audit.export.download").exists()

    # The other tenant's log: "not found", exactly like a missing tenant.
    page.goto(f"{live_url}/t/tenant-b/audit")
    page.get_by_test_id("not-found").wait_for()
    shot(page, "audit-05-other-tenant-not-found")
    assert script_errors(page) == [], script_errors(page)


def test_a_manager_is_not_offered_the_log(live_url: str, page) -> None:
    build_world()
    login(page, live_url, "a-manager", "/t/tenant-a/audit")
    page.get_by_test_id("audit-forbidden").wait_for()
    assert page.get_by_test_id("nav-audit").count() == 0
    assert_tenant_visible(page, "tenant-a")
