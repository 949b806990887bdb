"""Export tests run on committed data: the worker reads in its own transaction and writes
progress through a second connection, like production."""

from __future__ import annotations

import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any

import pytest
from django.db import connection
from django.utils import timezone
from rest_framework.test import APIClient

from annotate.exports.models import ProjectExport
from annotate.exports.services import project_export_run
from annotate.models import Annotation, Dataset, Item, Review
from tenants.audit import Actor
from tenants.scoping import tenant_context
from tests.conftest import World, build_world
from tests.factories import member, token_for
from workers.celery import app

SCHEMA = {
    "version": 1,
    "data": {"text": {"type": "text"}},
    "fields": [
        {"name": "topics", "type": "choices", "choices": ["a", "b", "=c"], "multiple": True},
        {"name": "note", "type": "text", "required": False},
        {"name": "stars", "type": "rating", "min": 1, "max": 5, "required": False},
    ],
}
# Cells a spreadsheet would run as formulas, and what the CSV must hold instead.
INJECTIONS = ['=HYPERLINK("http://x")', "+1+1", "-2+3", "@SUM(A1)", "\tTAB", "\rCR"]


# Bulk rows by SQL (fast), for tests that need many items, each with one accepted annotation:
# ``BULK_ITEMS`` adds %(n)s items to dataset %(d)s, ``BULK_ANNOTATIONS`` annotates them
# (parameters: tenant %(t)s, project %(p)s, annotator user %(a)s).
BULK_ITEMS = """
    INSERT INTO annotate_item (tenant_id, id, project_id, dataset_id, external_id, data,
        media, priority, status, seq, queue_key, slots_taken, done_count, created_at)
    SELECT %(t)s, gen_random_uuid(), %(p)s, %(d)s, 'bulk-' || g,
           jsonb_build_object('text', 'lorem ipsum ' || g), '[]', 0, 'completed',
           g, g, 1, 1, now()
      FROM generate_series(1, %(n)s) g
"""
BULK_ANNOTATIONS = """
    INSERT INTO annotate_annotation (tenant_id, id, project_id, item_id, author_id,
        version, result, status, idempotency_key, created_at)
    SELECT %(t)s, gen_random_uuid(), %(p)s, id, %(a)s, 1, '{"topics": ["a"]}',
           'accepted', '', now()
      FROM annotate_item WHERE tenant_id = %(t)s AND dataset_id = %(d)s
"""


@dataclass
class ExportWorld:
    w: World
    items: dict[str, Item] = field(default_factory=dict)
    annotations: dict[str, Annotation] = field(default_factory=dict)

    @property
    def base(self) -> str:
        return f"/api/v1/t/tenant-a/projects/{self.w.project_a.id}/exports"


def client_for(membership: Any) -> APIClient:
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {token_for(membership).raw}")
    return client


@pytest.fixture
def eworld(committed: None) -> ExportWorld:
    """Tenant A's project with: an item whose annotation was corrected by a reviewer (history:
    v1 superseded, v2 accepted, the review naming the correction) plus a second annotator's
    accepted result with an accept review; an item whose every text begins like a formula; an
    item with quotes, commas, newlines and non-ASCII text; an item with no annotation."""
    app.control.purge()  # tasks enqueued by earlier tests' commits: no worker runs them here
    w = build_world()
    ew = ExportWorld(w)
    annotator2 = member(w.a, "annotator", username="a-annotator2")
    with tenant_context(w.a.id):
        w.project_a.label_schema = SCHEMA
        w.project_a.save(update_fields=["label_schema"])
        dataset = Dataset.objects.create(project=w.project_a, name="d")
        texts = {
            "corrected": "The corrected one",
            "formulas": INJECTIONS[1],
            "tricky": 'He said "hi", then\nleft; ünïcødé, tab\there',
            "empty": "nobody labelled this",
        }
        now = timezone.now()
        for seq, (name, text) in enumerate(texts.items(), start=1):
            ew.items[name] = Item.objects.create(
                project=w.project_a,
                dataset=dataset,
                external_id="@ext" if name == "formulas" else f"ext-{name}",
                data={"text": text},
                seq=seq,
                priority=seq,
                status="completed" if name != "empty" else "new",
            )
        annotator, reviewer = w.m("a", "annotator"), w.m("a", "reviewer")

        def annotate(key: str, item: str, who: Any, **kwargs: Any) -> Annotation:
            ew.annotations[key] = Annotation.objects.create(
                project=w.project_a, item=ew.items[item], author_id=who.user_id, **kwargs
            )
            return ew.annotations[key]

        v1 = annotate(
            "v1",
            "corrected",
            annotator,
            result={"topics": ["a"], "note": "first try"},
            status="superseded",
            lead_time_ms=1200,
            created_at=now - timedelta(minutes=3),
        )
        v2 = annotate(
            "v2",
            "corrected",
            reviewer,
            parent=v1,
            version=2,
            result={"topics": ["a", "b"], "note": "fixed", "stars": 4},
            status="accepted",
            created_at=now - timedelta(minutes=2),
        )
        Review.objects.create(
            project=w.project_a,
            annotation=v1,
            reviewer_id=reviewer.user_id,
            decision="correct",
            comment="b applies too",
            correction=v2,
            created_at=now - timedelta(minutes=2),
        )
        other = annotate(
            "other",
            "corrected",
            annotator2,
            result={"topics": ["b"]},
            status="accepted",
            gold_score=0.5,
            created_at=now - timedelta(minutes=1),
        )
        Review.objects.create(
            project=w.project_a,
            annotation=other,
            reviewer_id=reviewer.user_id,
            decision="accept",
            comment="",
            created_at=now,
        )
        annotate(
            "formulas",
            "formulas",
            annotator,
            result={"topics": ["=c"], "note": INJECTIONS[0], "stars": 1},
            status="accepted",
        )
        annotate(
            "tricky",
            "tricky",
            annotator,
            result={"topics": [], "note": 'quote " comma , newline\r\nend'},
            status="pending_review",
        )
    # Tenant B has data too: it must never appear in A's export.
    with tenant_context(w.b.id):
        dataset_b = Dataset.objects.create(project=w.project_b, name="d")
        Item.objects.create(
            project=w.project_b,
            dataset=dataset_b,
            external_id="b-1",
            data={"text": "b secret"},
            seq=1,
        )
    return ew


@pytest.fixture
def run_export(eworld: ExportWorld) -> Callable[..., tuple[ProjectExport, bytes]]:
    """POST an export as tenant A's manager, run it in-process (as the worker would), and
    download it. Returns the finished export and the downloaded bytes."""

    def run(fmt: str) -> tuple[ProjectExport, bytes]:
        client = client_for(eworld.w.m("a", "manager"))
        response = client.post(eworld.base, {"format": fmt}, format="json")
        assert response.status_code == 202, response.content
        export_id = uuid.UUID(response.json()["id"])
        state = project_export_run(
            tenant_id=eworld.w.a.id, export_id=export_id, actor=Actor.for_task("test", "t1")
        )
        assert state == "succeeded"
        connection.close()
        download = client.get(f"{eworld.base}/{export_id}/download")
        assert download.status_code == 200, download.content
        body = b"".join(download.streaming_content)
        with tenant_context(eworld.w.a.id):
            return ProjectExport.objects.get(id=export_id), body

    return run
