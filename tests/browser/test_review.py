"""Reviewers in real Chromium: the next annotation beside the item's others; correct one
(a new version lands in the database, the old one kept), accept and reject by keyboard."""

from __future__ import annotations

import pytest

from annotate.models import Annotation, Review
from tenants.scoping import tenant_context
from tests.browser.conftest import shot
from tests.browser.staff import assert_tenant_visible, login, script_errors
from tests.conftest import World, build_world
from tests.distribution.conftest import add_items, annotator, client_for, configure

pytestmark = pytest.mark.browser


def submit(w: World, name: str, label: str, count: int) -> None:
    client = client_for(annotator(w.project_a, name))
    base = f"/api/v1/t/tenant-a/projects/{w.project_a.id}"
    for _ in range(count):
        lease = client.post(f"{base}/next").json()
        done = client.post(
            f"{base}/leases/{lease['id']}/submit", {"result": {"label": label}}, format="json"
        )
        assert done.status_code == 201, done.content


def review_world() -> World:
    w = build_world()
    configure(w.project_a, review_ratio=1.0, overlap=2)
    items = add_items(w.project_a, 2)
    with tenant_context(w.a.id):
        from annotate.models import Item

        # Item data is shown as text, never as markup.
        Item.objects.filter(id=items[0].id).update(data={"text": "<b>bold</b> claim"})
    submit(w, "ann-1", "a", 2)
    submit(w, "ann-2", "b", 2)
    return w


def test_reviewer_corrects_accepts_and_rejects(live_url: str, page) -> None:
    w = review_world()
    url = f"/t/tenant-a/projects/{w.project_a.id}/review"
    login(page, live_url, "a-reviewer", url)
    assert_tenant_visible(page, "tenant-a")
    current = page.get_by_test_id("review-annotation-current")
    current.wait_for()
    # The item's other annotation is shown beside it.
    assert page.get_by_test_id("review-annotation").count() == 1
    assert page.locator("b", has_text="bold").count() == 0
    shot(page, "review-01-next")

    first_id = current.get_attribute("data-annotation-id")
    with tenant_context(w.a.id):
        first = Annotation.objects.get(id=first_id)
    new_label = "b" if first.result["label"] == "a" else "a"

    # Correct, keyboard only: C opens the editor (the annotators' controls, prefilled), the
    # number key of the other label picks it, Ctrl+Enter saves.
    page.keyboard.press("c")
    page.get_by_test_id("correction-editor").wait_for()
    page.keyboard.press("1" if new_label == "a" else "2")
    shot(page, "review-02-correcting")
    page.keyboard.press("Control+Enter")
    page.get_by_test_id("review-status").filter(has_text="Correction saved").wait_for()
    with tenant_context(w.a.id):
        fixed = Annotation.objects.get(parent_id=first_id)
        assert (fixed.version, fixed.status, fixed.result) == (2, "accepted", {"label": new_label})
        assert Annotation.objects.get(id=first_id).status == "superseded"
        assert Review.objects.get(annotation_id=first_id).decision == "correct"

    # The next annotation comes without a page load: accept it with A.
    page.wait_for_function(
        "id => { const el = document.querySelector('[data-testid=review-annotation-current]');"
        " return el && el.dataset.annotationId !== id; }",
        arg=first_id,
    )
    second_id = page.get_by_test_id("review-annotation-current").get_attribute("data-annotation-id")
    page.keyboard.press("a")
    page.get_by_test_id("review-status").filter(has_text="Accepted").wait_for()
    with tenant_context(w.a.id):
        assert Review.objects.get(annotation_id=second_id).decision == "accept"

    # Reject needs a comment: R, an empty submit is refused, then a comment and Ctrl+Enter.
    page.wait_for_function(
        "id => { const el = document.querySelector('[data-testid=review-annotation-current]');"
        " return el && el.dataset.annotationId !== id; }",
        arg=second_id,
    )
    third_id = page.get_by_test_id("review-annotation-current").get_attribute("data-annotation-id")
    page.keyboard.press("r")
    page.get_by_test_id("review-comment").wait_for()
    page.keyboard.press("Control+Enter")
    assert "needs a comment" in page.get_by_test_id("review-error").inner_text()
    page.get_by_test_id("review-comment").fill("The claim is about pricing, not support.")
    shot(page, "review-03-rejecting")
    page.keyboard.press("Control+Enter")
    page.get_by_test_id("review-status").filter(has_text="Rejected").wait_for()
    with tenant_context(w.a.id):
        review = Review.objects.get(annotation_id=third_id)
        assert review.decision == "reject" and "pricing" in review.comment

    # Another tenant's project under this tenant, and the other tenant itself: "not found".
    page.goto(f"{live_url}/t/tenant-a/projects/{w.project_b.id}/review")
    page.get_by_test_id("not-found").wait_for()
    assert_tenant_visible(page, "tenant-a")
    shot(page, "review-04-other-tenant-not-found")
    page.goto(f"{live_url}/t/tenant-b/projects/{w.project_b.id}/review")
    page.get_by_test_id("not-found").wait_for()
    assert "B secret project" not in page.content()
    assert script_errors(page) == [], script_errors(page)
