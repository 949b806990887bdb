"""The browser app imports through a session (with CSRF), sending the file as the body."""

from __future__ import annotations

import pytest
from django.test import Client

from annotate.models import ImportJob
from tenants.scoping import tenant_context
from tests.conftest import World

pytestmark = pytest.mark.django_db


def test_a_session_upload_with_csrf_is_accepted_and_streamed(world: World) -> None:
    client = Client(enforce_csrf_checks=True)
    client.force_login(world.m("a", "manager").user)
    token = client.get("/api/v1/auth/csrf").json()["csrfToken"]
    url = f"/api/v1/t/tenant-a/projects/{world.project_a.id}/imports"
    body = b'{"external_id": "e1", "data": {"text": "one"}}\n'
    # The CSRF check reads request.POST, which makes DRF pick a parser: before the file-body
    # parser this was a 415 for every file body sent with a session.
    for content_type in ("application/octet-stream", "application/x-ndjson", "text/csv"):
        response = client.generic(
            "POST",
            f"{url}?format=jsonl&filename=claims.jsonl",
            body,
            content_type=content_type,
            HTTP_X_CSRFTOKEN=token,
        )
        assert response.status_code == 202, response.content
    with tenant_context(world.a.id):
        job = ImportJob.objects.order_by("created_at").first()
        assert job.bytes_total == len(body) and job.filename == "claims.jsonl"
    # Without the CSRF token the session upload is refused.
    refused = client.generic("POST", f"{url}?format=jsonl", body, content_type="text/csv")
    assert refused.status_code == 403
