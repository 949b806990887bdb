"""The annotator's screens in real Chromium: every label type by keyboard, into the database."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.utils import timezone

from annotate.models import Annotation, Lease
from tenants.scoping import tenant_context
from tests.browser.conftest import shot
from tests.browser.labeling_seed import (
    ALL_TYPES_SCHEMA,
    CHOICE_SCHEMA,
    all_types_item,
    make_project,
)
from tests.conftest import World, build_world
from tests.distribution.conftest import client_for

pytestmark = pytest.mark.browser

HOSTILE = "<script>window.__pwned = 1</script><img src=x onerror=window.__pwned=2>"


def _login(page, url: str, username: str) -> None:
    page.goto(url + "/")
    page.get_by_test_id("login-username").fill(username)
    page.get_by_test_id("login-password").fill("pw-for-tests-1")
    page.get_by_test_id("login-submit").click()
    page.get_by_test_id("tenant-badge").wait_for()


def _keys(page, *keys: str) -> None:
    for key in keys:
        page.keyboard.press(key)


def _wait_saved(page) -> None:
    page.wait_for_function(
        "() => document.querySelector('[data-testid=save-state]')?.dataset.pending === '0'"
    )


def test_annotator_labels_every_type_with_the_keyboard(live_url: str, page) -> None:
    w: World = build_world()
    ann = w.m("a", "annotator")
    first, second = all_types_item(1), all_types_item(2)
    first["prompt"] = HOSTILE
    project = make_project(
        w.a,
        w.m("a", "manager"),
        [ann],
        name="Everything at once",
        schema=ALL_TYPES_SCHEMA,
        items=[first, second],
        image_field="image",
    )
    _login(page, live_url, "a-annotator")
    # An annotator starts on their work list: the project, its progress, "Start labeling".
    page.get_by_test_id("work-list").wait_for()
    assert "0 of 2 items complete" in page.get_by_test_id("work-progress").inner_text()
    shot(page, "10-my-work")
    page.get_by_test_id("start-labeling").focus()
    page.keyboard.press("Enter")
    item = page.get_by_test_id("label-item")
    item.wait_for()
    page.wait_for_function(
        "() => { const i = document.querySelector('.box-image'); return i && i.complete"
        " && i.naturalWidth > 0 }"
    )
    first_lease = item.get_attribute("data-lease-id")
    # The prompt with markup is shown as text: no script ran, no element was made.
    assert page.locator("[data-key=prompt]").inner_text() == HOSTILE
    assert page.evaluate("window.__pwned") is None
    assert page.locator("img[src=x]").count() == 0
    assert "Time left" in page.get_by_test_id("lease-countdown").inner_text()
    shot(page, "11-labeling-all-types-empty")

    # Sentiment: 1 = positive. Topics (multiple): 1 and 3.
    _keys(page, "1", "Tab", "1", "3", "Tab")
    # Spans: "Ada Lovelace" PER; "Charles Babbage" PER; relabel to ORG, undo; an overlapping
    # selection is refused; "London" LOC; delete it and undo.
    _keys(page, "Shift+ArrowRight", "1")
    _keys(page, "ArrowRight", "ArrowRight", "Shift+ArrowRight", "1")
    _keys(page, "2")  # cursor inside the Charles Babbage span: relabel
    assert page.locator("[data-testid=span-item][data-label=ORG]").count() == 1
    _keys(page, "Control+z")
    assert page.locator("[data-testid=span-item][data-label=ORG]").count() == 0
    _keys(page, "Shift+ArrowRight", "2")
    assert "Refused" in page.get_by_test_id("status-line").inner_text()
    _keys(page, "Escape", "ArrowRight", "3")
    _keys(page, "Delete")
    assert page.locator("[data-testid=span-item]").count() == 2
    _keys(page, "Control+z")
    assert page.locator("[data-testid=span-item]").count() == 3
    _keys(page, "Tab")
    # Boxes: a new box, wider, moved left, labelled dog; a second box deleted; zoom in and out.
    _keys(page, "n", "Shift+ArrowRight", "Shift+ArrowRight", "ArrowLeft", "2")
    _keys(page, "n", "Delete", "+", "+")
    shot(page, "12-labeling-boxes-zoomed")
    _keys(page, "z")
    assert page.locator("[data-testid=box]").count() == 1
    _keys(page, "Tab")
    # Comparison: overall the left one, accuracy the right one, style a tie; a rationale.
    _keys(page, "1", "Tab", "2", "Tab", "0", "Tab")
    page.keyboard.type("Clear and correct.")
    _keys(page, "Tab", "4", "Tab")  # rating 4, then into the free-text box
    page.keyboard.type("<b>not bold</b>")
    # The shortcut overlay opens with ? (outside a text box) and closes with Esc.
    _keys(page, "Shift+Tab", "?")
    page.get_by_test_id("shortcut-overlay").wait_for()
    shot(page, "13-shortcut-overlay")
    _keys(page, "Escape")
    assert page.get_by_test_id("shortcut-overlay").is_hidden()
    shot(page, "14-labeling-all-types-filled")
    _keys(page, "Enter")

    # The next item was prefetched: it is on screen without a page load.
    page.wait_for_function(
        "id => document.querySelector('[data-testid=label-item]')?.dataset.leaseId !== id",
        arg=first_lease,
    )
    assert page.evaluate("performance.getEntriesByType('navigation').length") == 1
    _wait_saved(page)
    # The second item: skipped with S.
    _keys(page, "s")
    page.get_by_test_id("no-more-items").wait_for()
    _wait_saved(page)
    shot(page, "15-no-more-items")

    with tenant_context(w.a.id):
        rows = list(Annotation.objects.filter(project=project))
        assert len(rows) == 1
        result = rows[0].result
        assert rows[0].author_id == ann.user_id
        skipped = Lease.objects.filter(project=project, state=Lease.State.SKIPPED).count()
    assert skipped == 1
    order = result["better"]["shown_order"]
    assert sorted(order) == [0, 1]
    assert result["better"] == {
        "preferred": order[0],
        "criteria": {"accuracy": order[1], "style": "tie"},
        "rationale": "Clear and correct.",
        "shown_order": order,
    }
    assert result["sentiment"] == "positive"
    assert result["topics"] == ["sports", "tech"]
    assert result["entities"] == [
        {"start": 0, "end": 12, "label": "PER"},
        {"start": 17, "end": 32, "label": "PER"},
        {"start": 36, "end": 42, "label": "LOC"},
    ]
    assert result["objects"] == [
        {"x": pytest.approx(0.39), "y": 0.4, "w": pytest.approx(0.22), "h": 0.2, "label": "dog"}
    ]
    assert result["quality"] == 4
    assert result["note"] == "<b>not bold</b>"
    errors = [e for e in page.console_errors if "Failed to load resource" not in e]
    assert errors == [], errors


def test_lease_expiry_is_explained_and_a_lost_answer_is_retried_once(live_url: str, page) -> None:
    w: World = build_world()
    ann = w.m("a", "annotator")
    items = [{"text": f"sentence {i}"} for i in range(4)]
    project = make_project(
        w.a, w.m("a", "manager"), [ann], name="Short leases", schema=CHOICE_SCHEMA, items=items
    )
    _login(page, live_url, "a-annotator")
    # The annotator already holds a lease that is about to run out (set after the login, so
    # a slow login on a loaded machine cannot eat the lease's few seconds).
    api = client_for(ann)
    held = api.post(f"/api/v1/t/tenant-a/projects/{project.id}/next").json()
    with tenant_context(w.a.id):
        Lease.objects.filter(id=held["id"]).update(expires_at=timezone.now() + timedelta(seconds=6))
    page.goto(f"{live_url}/t/tenant-a/projects/{project.id}/label")
    assert page.get_by_test_id("label-item").get_attribute("data-lease-id") == held["id"]
    page.get_by_test_id("lease-expired").wait_for(timeout=15_000)
    shot(page, "16-lease-expired")
    _keys(page, "Enter")
    page.get_by_test_id("label-item").wait_for()

    # The answer reaches the server but the connection drops before the reply: the app retries
    # with the same Idempotency-Key and the server replays the first annotation.
    keys: list[str] = []

    def drop_first_reply(route) -> None:
        keys.append(route.request.headers.get("idempotency-key", ""))
        response = route.fetch()
        if len(keys) == 1:
            route.abort("connectionreset")
        else:
            route.fulfill(response=response)

    page.route("**/leases/*/submit*", drop_first_reply)
    lease_id = page.get_by_test_id("label-item").get_attribute("data-lease-id")
    _keys(page, "2", "Enter")
    page.wait_for_function(
        "() => document.querySelectorAll('[data-testid=notice-error]').length === 0"
    )
    page.wait_for_function(
        "() => document.querySelector('[data-testid=save-state]')?.dataset.pending === '0'",
        timeout=15_000,
    )
    assert len(keys) == 2 and keys[0] == keys[1] and keys[0]
    with tenant_context(w.a.id):
        rows = list(Annotation.objects.filter(lease_id=lease_id))
    assert [r.result for r in rows] == [{"sentiment": "negative"}]


def test_other_tenant_sees_nothing_and_gets_not_found(live_url: str, page) -> None:
    w: World = build_world()
    project = make_project(
        w.a,
        w.m("a", "manager"),
        [w.m("a", "annotator")],
        name="A secret labeling",
        schema=CHOICE_SCHEMA,
        items=[{"text": "A secret text"}],
    )
    _login(page, live_url, "b-annotator")
    page.get_by_test_id("work-list").or_(page.get_by_test_id("no-work")).wait_for()
    assert "A secret" not in page.content()
    shot(page, "17-other-tenant-my-work")
    page.goto(f"{live_url}/t/tenant-b/projects")
    page.get_by_test_id("no-projects").wait_for()
    assert "A secret" not in page.content()
    texts = {}
    for name, path in {
        "foreign-label": f"/t/tenant-a/projects/{project.id}/label",
        "foreign-work": "/t/tenant-a/work",
        "foreign-id-own-tenant": f"/t/tenant-b/projects/{project.id}/label",
        "missing-id": "/t/tenant-b/projects/00000000-0000-7000-8000-000000000000/label",
    }.items():
        page.goto(live_url + path)
        page.get_by_test_id("not-found").wait_for()
        texts[name] = page.locator("main").inner_text()
        assert "A secret" not in page.content()
    shot(page, "18-other-tenant-label-not-found")
    # One "not found", whatever the reason.
    assert len(set(texts.values())) == 1, texts
    with tenant_context(w.a.id):
        assert not Lease.objects.filter(project=project).exists()


def test_strict_content_security_policy(live_url: str, page) -> None:
    response = page.goto(live_url + "/")
    csp = response.headers["content-security-policy"]
    for directive in (
        "script-src 'self'",
        "object-src 'none'",
        "frame-ancestors 'none'",
        "style-src 'self'",
    ):
        assert directive in csp
    assert "unsafe-inline" not in csp and "unsafe-eval" not in csp


MOUSE_SCHEMA = {
    "version": 1,
    "data": {"text": {"type": "text"}, "image": {"type": "image"}},
    "fields": [
        {"name": "entities", "type": "spans", "labels": ["PER", "LOC"], "source": "text"},
        {"name": "objects", "type": "boxes", "labels": ["cat", "dog"], "source": "image"},
    ],
}


def test_mouse_draws_moves_resizes_boxes_and_selects_spans(live_url: str, page) -> None:
    w: World = build_world()
    ann = w.m("a", "annotator")
    project = make_project(
        w.a,
        w.m("a", "manager"),
        [ann],
        name="Mouse",
        schema=MOUSE_SCHEMA,
        items=[{"text": "Ada Lovelace lived in London.", "image": "0.png"}],
        image_field="image",
    )
    _login(page, live_url, "a-annotator")
    page.goto(f"{live_url}/t/tenant-a/projects/{project.id}/label")
    page.wait_for_function(
        "() => { const i = document.querySelector('.box-image'); return i && i.complete"
        " && i.naturalWidth > 0 && i.style.width }"
    )
    # Spans: double-click a word (the browser selects it), then a label's number.
    page.locator("[data-testid=span-text-entities] [data-s='4']").dblclick()
    _keys(page, "1")
    page.locator("[data-testid=span-text-entities] [data-s='22']").dblclick()
    page.get_by_role("button", name="LOC").first.click()
    assert page.locator("[data-testid=span-item]").count() == 2

    img = page.get_by_test_id("image-objects")
    # page.mouse works in viewport coordinates: bring the whole image into view.
    img.evaluate("el => el.scrollIntoView({block: 'start'})")

    def at(fx: float, fy: float) -> tuple[float, float]:
        box = img.bounding_box()
        return box["x"] + fx * box["width"], box["y"] + fy * box["height"]

    def drag(a: tuple[float, float], b: tuple[float, float]) -> None:
        page.mouse.move(*a)
        page.mouse.down()
        page.mouse.move(*b, steps=6)
        page.mouse.up()

    drag(at(0.1, 0.1), at(0.4, 0.5))  # draw
    drag(at(0.25, 0.3), at(0.35, 0.4))  # move by (0.1, 0.1)
    drag(at(0.5, 0.6), at(0.6, 0.7))  # the corner handle: resize
    _keys(page, "2")  # label it dog
    # Zoomed in, a drawn box still lands where the pointer was on the image.
    page.mouse.move(*at(0.5, 0.5))
    page.mouse.wheel(0, -300)
    page.wait_for_timeout(100)
    drag(at(0.7, 0.1), at(0.9, 0.3))
    shot(page, "19-boxes-drawn-with-the-mouse")
    _keys(page, "z", "Enter")
    page.get_by_test_id("no-more-items").wait_for()
    _wait_saved(page)
    with tenant_context(w.a.id):
        result = Annotation.objects.get(project=project).result
    assert result["entities"] == [
        {"start": 4, "end": 12, "label": "PER"},
        {"start": 22, "end": 28, "label": "LOC"},
    ]
    first, second = result["objects"]
    close = pytest.approx
    assert (first["x"], first["y"], first["w"], first["h"], first["label"]) == (
        close(0.2, abs=0.02),
        close(0.2, abs=0.02),
        close(0.4, abs=0.02),
        close(0.5, abs=0.02),
        "dog",
    )
    assert (second["x"], second["y"], second["w"], second["h"]) == (
        close(0.7, abs=0.02),
        close(0.1, abs=0.02),
        close(0.2, abs=0.02),
        close(0.2, abs=0.02),
    )
    assert second["label"] == "dog"  # new boxes take the last label chosen
