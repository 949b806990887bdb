"""Import tests run on committed data (the ingest uses two connections, like production)."""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

import pytest
from rest_framework.test import APIClient

from annotate.models import ImportJob, Item
from annotate.services.ingest import import_run
from tenants.audit import Actor
from tenants.scoping import tenant_context
from tests.conftest import World, build_world
from tests.factories import token_for
from workers.celery import app

TEXT_SCHEMA = {
    "version": 1,
    "data": {"text": {"type": "text"}},
    "fields": [{"name": "label", "type": "choices", "choices": ["a", "b"]}],
}


@pytest.fixture
def iworld(committed: None) -> World:
    app.control.purge()  # tasks enqueued by earlier tests' commits: no worker runs them here
    w = build_world()
    with tenant_context(w.a.id):
        w.project_a.label_schema = TEXT_SCHEMA
        w.project_a.save(update_fields=["label_schema"])
    return w


@pytest.fixture
def manager_a(iworld: World) -> APIClient:
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {token_for(iworld.m('a', 'manager')).raw}")
    return client


def imports_url(w: World) -> str:
    return f"/api/v1/t/tenant-a/projects/{w.project_a.id}/imports"


@pytest.fixture
def upload(iworld: World, manager_a: APIClient) -> Callable[..., Any]:
    """POST a file body and return the response."""

    def post(body: bytes, fmt: str, **headers: str) -> Any:
        return manager_a.generic(
            "POST",
            f"{imports_url(iworld)}?format={fmt}",
            body,
            content_type="application/octet-stream",
            **headers,
        )

    return post


@pytest.fixture
def ingest(iworld: World, upload: Callable[..., Any]) -> Callable[..., ImportJob]:
    """Upload, then run the ingest in-process (as a worker would), and return the job."""

    def run(body: bytes, fmt: str = "jsonl") -> ImportJob:
        response = upload(body, fmt)
        assert response.status_code == 202, response.content[:500]
        job_id = response.json()["id"]
        import uuid

        import_run(
            tenant_id=iworld.a.id, import_id=uuid.UUID(job_id), actor=Actor.for_task("test", "t1")
        )
        with tenant_context(iworld.a.id):
            return ImportJob.objects.get(id=job_id)

    return run


def item_count(w: World) -> int:
    with tenant_context(w.a.id):
        return Item.objects.filter(project=w.project_a).count()


def jsonl(records: list[dict[str, Any]]) -> bytes:
    return b"".join(json.dumps(r).encode() + b"\n" for r in records)
