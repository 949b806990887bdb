"""The demo that ``make run`` loads: two tenants, each with a project whose items an annotator
can be handed at once, each tenant's items its own."""

from __future__ import annotations

import io
from collections.abc import Iterator

import pytest
from django.core.management import call_command
from rest_framework.test import APIClient

from annotate.management.commands.load_demo import MESSAGES
from annotate.models import ImportJob, Item, Project
from annotate.services.ingest import import_run
from tenants.audit import Actor
from tenants.models import AccessEvent, Membership, Tenant
from tenants.scoping import tenant_context
from tests.factories import token_for
from workers.celery import app


@pytest.fixture
def empty_queue(committed: None) -> Iterator[None]:
    app.control.purge()  # no worker runs in this test: the demo's queued imports are dropped
    yield
    app.control.purge()


def test_the_demo_queues_each_tenants_messages_and_an_annotator_gets_work(
    empty_queue: None,
) -> None:
    out = io.StringIO()
    call_command("load_demo", stdout=out)
    assert "demo loaded" in out.getvalue()

    for slug, texts in MESSAGES.items():
        tenant = Tenant.objects.get(slug=slug)
        with tenant_context(tenant.id):
            job = ImportJob.objects.get()
            assert (job.state, job.format, job.filename) == (
                "queued",
                "jsonl",
                "demo-messages.jsonl",
            )
            assert [e.action for e in AccessEvent.objects.order_by("id")][-2:] == [
                "import.create",
                "demo.load",
            ]
        # What the worker does with the queued task (tests/workers run the real worker).
        state = import_run(
            tenant_id=tenant.id, import_id=job.id, actor=Actor.for_task("import", str(job.id))
        )
        assert state == "succeeded"
        with tenant_context(tenant.id):
            items = list(Item.objects.order_by("seq"))
            project = Project.objects.get()
            annotator = Membership.objects.get(user__username=f"{slug}-annotator")
        assert [item.data["text"] for item in items] == list(texts)
        assert [item.external_id for item in items][:2] == ["ticket-001", "ticket-002"]
        assert {item.project_id for item in items} == {project.id}

        client = APIClient()
        client.credentials(HTTP_AUTHORIZATION=f"Bearer {token_for(annotator).raw}")
        response = client.post(f"/api/v1/t/{slug}/projects/{project.id}/next")
        assert response.status_code == 201, response.content
        assert response.json()["item"]["data"]["text"] in texts

    assert not set(MESSAGES["acme"]) & set(MESSAGES["globex"])  # each tenant's data its own
