"""An import rewinds its project's queue (overlap > 1): new items may sort before where
annotators have got to, so their queue positions must stop counting. A failed import, which
leaves no item, leaves the epoch as it was."""

from __future__ import annotations

from typing import Any

from annotate.models import QueueEpoch
from tenants.scoping import tenant_context
from tests.conftest import World
from tests.imports.conftest import item_count, jsonl


def _epoch(w: World) -> int:
    with tenant_context(w.a.id):
        row = QueueEpoch.objects.filter(project_id=w.project_a.id).first()
        return 0 if row is None else row.epoch


def _overlap(w: World, overlap: int) -> None:
    with tenant_context(w.a.id):
        w.project_a.overlap = overlap
        w.project_a.save(update_fields=["overlap"])


def test_a_finished_import_bumps_the_queue_epoch(iworld: World, ingest: Any) -> None:
    _overlap(iworld, 2)
    job = ingest(jsonl([{"external_id": "p1", "text": "t", "priority": 9}]))
    assert job.state == "succeeded", job.state
    assert _epoch(iworld) == 1
    ingest(jsonl([{"external_id": "p2", "text": "t"}]))
    assert _epoch(iworld) == 2


def test_a_failed_import_leaves_the_epoch(iworld: World, ingest: Any) -> None:
    _overlap(iworld, 2)
    job = ingest(jsonl([{"external_id": "d", "text": "t"}, {"external_id": "d", "text": "u"}]))
    assert job.state == "failed"
    assert item_count(iworld) == 0
    assert _epoch(iworld) == 0


def test_an_import_into_a_project_with_overlap_one_keeps_no_epoch(
    iworld: World, ingest: Any
) -> None:
    job = ingest(jsonl([{"external_id": "o1", "text": "t"}]))
    assert job.state == "succeeded", job.state
    with tenant_context(iworld.a.id):
        assert not QueueEpoch.objects.exists()
