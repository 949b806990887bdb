"""Agreement (percent, Krippendorff's alpha), the span/box matching rule, the worker that
computes it when an item completes, gold scores, throughput, and project completion."""

from __future__ import annotations

import pytest

from annotate.models import Item, ItemAgreement, Project
from annotate.services.agreement import alpha_nominal, unit_stats, units_for_field
from annotate.services.distribution import gold_score
from tenants.models import AccessEvent
from tenants.scoping import tenant_context
from tests.conftest import World
from tests.distribution.conftest import add_items, annotator, client_for, configure
from workers.tasks.distribution import item_completed


def test_alpha_and_percent_on_a_worked_example() -> None:
    units = [{1: "a", 2: "a"}, {1: "a", 2: "b"}, {1: "b", 2: "b"}, {1: "b", 2: "b"}]
    stats = unit_stats(units)
    assert (stats["pairs"], stats["agree"]) == (4, 3)
    # n_a = 3, n_b = 5, n = 8: alpha = 1 - 7 * 2 / (2 * 3 * 5)
    assert alpha_nominal(stats["coincidences"]) == pytest.approx(1 - 14 / 30)
    assert alpha_nominal(unit_stats([{1: "a", 2: "a"}])["coincidences"]) is None  # no variation
    perfect = unit_stats([{1: "a", 2: "a"}, {1: "b", 2: "b"}])
    assert alpha_nominal(perfect["coincidences"]) == pytest.approx(1.0)


def test_spans_match_by_iou_and_missing_regions_disagree() -> None:
    field = {"type": "spans", "labels": ["PER", "ORG"]}
    units = units_for_field(
        field,
        {
            1: [{"start": 0, "end": 10, "label": "PER"}, {"start": 20, "end": 25, "label": "ORG"}],
            2: [{"start": 1, "end": 10, "label": "PER"}],  # IoU 0.9 with annotator 1's first
        },
    )
    assert units == [{1: "PER", 2: "PER"}, {1: "ORG", 2: "(none)"}]
    boxes = units_for_field(
        {"type": "boxes", "labels": ["car"]},
        {
            1: [{"x": 0.1, "y": 0.1, "w": 0.2, "h": 0.2, "label": "car"}],
            2: [{"x": 0.6, "y": 0.6, "w": 0.2, "h": 0.2, "label": "car"}],  # IoU 0
        },
    )
    assert boxes == [{1: "car", 2: "(none)"}, {1: "(none)", 2: "car"}]


def test_gold_score_compares_fields_the_gold_answer_names() -> None:
    schema = {"fields": [{"name": "a"}, {"name": "b"}, {"name": "c"}]}
    gold = {"a": "x", "b": ["p", "q"]}
    assert gold_score(schema, {"a": "x", "b": ["q", "p"], "c": "free"}, gold) == 1.0
    assert gold_score(schema, {"a": "y", "b": ["q", "p"]}, gold) == 0.5


@pytest.mark.django_db
def test_worker_computes_agreement_and_stats_report_it(world: World) -> None:
    w = world
    configure(w.project_a, overlap=2)
    items = add_items(w.project_a, 2)
    with tenant_context(w.a.id):
        Item.objects.filter(id=items[1].id).update(gold_result={"label": "b"})
    people = [annotator(w.project_a, f"ann-{i}") for i in range(2)]
    base = f"/api/v1/t/tenant-a/projects/{w.project_a.id}"
    answers = {0: ["a", "a"], 1: ["a", "b"]}  # item 0: both "a"; item 1 (gold "b"): a vs b
    for person_index, person in enumerate(people):
        client = client_for(person)
        for _ in range(2):
            lease = client.post(f"{base}/next").json()
            index = next(i for i, item in enumerate(items) if str(item.id) == lease["item"]["id"])
            label = answers[index][person_index]
            done = client.post(
                f"{base}/leases/{lease['id']}/submit", {"result": {"label": label}}, format="json"
            )
            assert done.status_code == 201, done.content
    for item in items:  # the task body, in this test's transaction (a real worker: below)
        with tenant_context(w.a.id):
            item_completed.run(w.a.id, str(w.project_a.id), str(item.id))
    with tenant_context(w.a.id):
        assert ItemAgreement.objects.filter(project=w.project_a).count() == 2
        assert Project.objects.get(id=w.project_a.id).completed_at is not None
        assert AccessEvent.objects.filter(action="item.agreement").count() == 2
    stats = client_for(w.m("a", "manager")).get(f"{base}/stats")
    assert stats.status_code == 200, stats.content
    body = stats.json()
    assert body["items"]["completed"] == 2
    label = body["agreement"]["label"]
    assert (label["pairs"], label["percent_agreement"]) == (2, 0.5)
    # Values a,a | a,b: n_a = 3, n_b = 1, n = 4; alpha = 1 - 3 * 2 / (2 * 3 * 1) = 0
    assert label["krippendorff_alpha"] == pytest.approx(0.0)
    accuracy = {row["username"]: row["gold_accuracy"] for row in body["annotators"]}
    assert accuracy == {"ann-0": 0.0, "ann-1": 1.0}
    assert all(row["annotations"] == 2 for row in body["annotators"])
    assert client_for(people[0]).get(f"{base}/stats").status_code == 403
    assert client_for(w.m("b", "owner")).get(f"{base}/stats").status_code == 404
