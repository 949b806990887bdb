"""Gold items: imported with a known answer, mixed into annotators' work at the project's gold
ratio outside the overlap, and scored."""

from __future__ import annotations

from collections.abc import Callable

from annotate.models import Item, Lease
from tenants.scoping import tenant_context
from tests.conftest import World
from tests.distribution.conftest import annotator, check_invariants, client_for
from tests.imports.conftest import jsonl


def test_gold_items_import_mix_in_and_score(iworld: World, ingest: Callable) -> None:
    w = iworld
    records = [{"external_id": f"n{i}", "text": f"plain {i}"} for i in range(4)]
    records += [
        {"external_id": "g1", "data": {"text": "gold one"}, "gold": {"label": "a"}},
        {"external_id": "g2", "text": "gold two", "gold": {"label": "b"}},
    ]
    job = ingest(jsonl(records))
    assert job.state == "succeeded", job.errors
    with tenant_context(w.a.id):
        gold = dict(Item.objects.filter(status="gold").values_list("external_id", "gold_result"))
        assert gold == {"g1": {"label": "a"}, "g2": {"label": "b"}}
        assert Item.objects.get(external_id="g2").data == {"text": "gold two"}
        w.project_a.gold_ratio = 1.0
        w.project_a.overlap = 2
        w.project_a.save(update_fields=["gold_ratio", "overlap"])
    base = f"/api/v1/t/tenant-a/projects/{w.project_a.id}"
    scores = {}
    for name in ("ann-1", "ann-2"):  # every annotator gets every gold item once, first
        client = client_for(annotator(w.project_a, name))
        seen = []
        for _ in range(6):
            lease = client.post(f"{base}/next").json()
            seen.append(lease["item"]["external_id"])
            done = client.post(
                f"{base}/leases/{lease['id']}/submit", {"result": {"label": "a"}}, format="json"
            )
            assert done.status_code == 201, done.content
            scores[(name, lease["item"]["external_id"])] = done.json()["gold_score"]
        assert seen[:2] == ["g1", "g2"] and sorted(seen[2:]) <= ["n0", "n1", "n2", "n3"]
    assert scores[("ann-1", "g1")] == 1.0 and scores[("ann-1", "g2")] == 0.0
    assert scores[("ann-1", "n0")] is None
    with tenant_context(w.a.id):
        assert Item.objects.get(external_id="g1").slots_taken == 0
        assert Lease.objects.filter(gold=True).count() == 4
    check_invariants(w.project_a)
    stats = client_for(w.m("a", "manager")).get(f"{base}/stats").json()
    assert {r["username"]: r["gold_accuracy"] for r in stats["annotators"]} == {
        "ann-1": 0.5,
        "ann-2": 0.5,
    }


def test_a_bad_gold_answer_fails_the_import_naming_line_and_field(
    iworld: World, ingest: Callable
) -> None:
    job = ingest(jsonl([{"text": "x", "gold": {"label": "zzz"}}, {"text": "y", "gold": "a"}]))
    assert job.state == "failed"
    found = {(e["line"], e["field"]) for e in job.errors}
    assert (1, "gold.label") in found and (2, "gold") in found
