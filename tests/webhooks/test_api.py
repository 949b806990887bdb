"""Webhook endpoints: who may manage what, the secret shown once, bad input, tenant walls,
access events."""

from __future__ import annotations

import ipaddress
import json
from typing import Any

import pytest

from annotate.services.projects import project_permission_grant
from annotate.webhooks.models import Webhook, WebhookDelivery
from annotate.webhooks.services import webhook_create
from tenants.models import AccessEvent
from tenants.scoping import tenant_context
from tests.conftest import World

pytestmark = pytest.mark.django_db
BASE = "/api/v1/t/tenant-a/webhooks"
PUBLIC_URL = "https://93.184.216.34/hooks/annotate"
NOT_FOUND = {"error": {"code": "not_found", "message": "Not found."}}


@pytest.fixture(autouse=True)
def _no_exceptions(settings: Any) -> None:
    settings.WEBHOOK_ALLOWED_NETWORKS = []


def _events(tenant_id: Any) -> list[AccessEvent]:
    with tenant_context(tenant_id):
        return list(AccessEvent.objects.order_by("id"))


def _hook(w: World, key: str = "b", project: Any = None, url: str = PUBLIC_URL) -> Webhook:
    tenant = w.a if key == "a" else w.b
    with tenant_context(tenant.id):
        webhook, _ = webhook_create(
            membership=w.m(key, "manager"),
            url=url,
            events=["item.completed"],
            project=project,
        )
    return webhook


def test_manager_creates_reads_updates_rotates_and_deletes(world: World, token_client) -> None:
    client = token_client(world.m("a", "manager"))
    created = client.post(
        BASE,
        {"url": PUBLIC_URL, "events": ["import.finished", "item.completed"], "description": "CI"},
        format="json",
    )
    assert created.status_code == 201, created.json()
    body = created.json()
    secret = body["secret"]
    assert secret.startswith("whsec_") and len(secret) > 40
    assert body["events"] == ["item.completed", "import.finished"]  # canonical order
    assert (body["project_id"], body["active"], body["created_by"]["username"]) == (
        None,
        True,
        "a-manager",
    )
    url = f"{BASE}/{body['id']}"

    # The secret is never shown again, and is not stored in clear.
    read = client.get(url).json()
    assert "secret" not in read and secret not in json.dumps(read)
    listed = client.get(BASE).json()
    assert [h["id"] for h in listed["results"]] == [body["id"]]
    assert secret not in json.dumps(listed)
    with tenant_context(world.a.id):
        row = Webhook.objects.get(id=body["id"])
        assert secret.encode() not in bytes(row.secret_sealed)

    patched = client.patch(url, {"active": False, "events": ["export.ready"]}, format="json")
    assert patched.status_code == 200, patched.json()
    assert (patched.json()["active"], patched.json()["events"]) == (False, ["export.ready"])
    assert "secret" not in patched.json()

    rotated = client.patch(url, {"rotate_secret": True}, format="json").json()
    assert rotated["secret"].startswith("whsec_") and rotated["secret"] != secret

    assert client.delete(url).status_code == 204
    assert client.get(url).status_code == 404
    actions = [e.action for e in _events(world.a.id) if e.resource_type == "webhook"]
    assert actions == [
        "webhook.create",
        "webhook.read",
        "webhook.list",
        "webhook.update",
        "webhook.update",
        "webhook.delete",
        "webhook.read",
    ]


def test_project_webhooks_need_the_projects_manage_permission(world: World, token_client) -> None:
    annotator = world.m("a", "annotator")
    client = token_client(annotator)
    project_url = {"url": PUBLIC_URL, "events": ["item.completed"], "project": None}

    # Tenant-wide: owners and managers only.
    assert client.post(BASE, project_url, format="json").status_code == 403
    # A project the annotator cannot see: 404; seen but not managed: 403.
    body = {**project_url, "project": str(world.project_a.id)}
    assert client.post(BASE, body, format="json").status_code == 404
    with tenant_context(world.a.id):
        project_permission_grant(project=world.project_a, membership=annotator, permission="view")
    assert client.post(BASE, body, format="json").status_code == 403
    with tenant_context(world.a.id):
        project_permission_grant(project=world.project_a, membership=annotator, permission="manage")
    created = client.post(BASE, body, format="json")
    assert created.status_code == 201, created.json()
    assert created.json()["project_id"] == str(world.project_a.id)

    # They see and manage that project's webhook, never the tenant-wide ones.
    tenant_wide = _hook(world, "a")
    ids = [h["id"] for h in client.get(BASE).json()["results"]]
    assert ids == [created.json()["id"]]
    assert client.get(f"{BASE}/{tenant_wide.id}").status_code == 404
    assert client.delete(f"{BASE}/{tenant_wide.id}").status_code == 404
    assert client.get(f"{BASE}/{tenant_wide.id}/deliveries").status_code == 404
    filtered = client.get(f"{BASE}?project={world.project_a.id}").json()["results"]
    assert [h["id"] for h in filtered] == [created.json()["id"]]
    # The manager sees both.
    manager = token_client(world.m("a", "manager"))
    assert len(manager.get(BASE).json()["results"]) == 2


@pytest.mark.parametrize(
    ("body", "field", "message"),
    [
        ({"url": "ftp://x.example/", "events": ["item.completed"]}, "url", "https://"),
        ({"url": "http://127.0.0.1:6379/", "events": ["item.completed"]}, "url", "loopback"),
        ({"url": "http://10.0.0.8/hook", "events": ["item.completed"]}, "url", "private"),
        ({"url": "http://[::ffff:169.254.169.254]/", "events": ["item.completed"]}, "url", "link"),
        ({"url": "http://100.64.1.1/", "events": ["item.completed"]}, "url", "CGNAT"),
        ({"url": "http://localhost/", "events": ["item.completed"]}, "url", "loopback"),
        ({"url": PUBLIC_URL, "events": []}, "events", "empty"),
        ({"url": PUBLIC_URL, "events": ["item.deleted"]}, "events.0", "not a valid choice"),
        ({"url": PUBLIC_URL}, "events", "required"),
        ({"events": ["item.completed"]}, "url", "required"),
        (
            {"url": PUBLIC_URL, "events": ["item.completed"], "tenant": "tenant-b"},
            "tenant",
            "Unknown field",
        ),
        (
            {"url": PUBLIC_URL, "events": ["item.completed"], "secret": "mine"},
            "secret",
            "Unknown field",
        ),
        ({"url": PUBLIC_URL, "events": ["item.completed"], "project": "x"}, "project", "UUID"),
    ],
)
def test_bad_input_is_a_400_naming_the_field_and_nothing_is_created(
    world: World, token_client, body: dict[str, Any], field: str, message: str
) -> None:
    client = token_client(world.m("a", "manager"))
    response = client.post(BASE, body, format="json")
    assert response.status_code == 400, response.json()
    error = response.json()["error"]
    assert field in error["fields"], error
    assert message in " ".join(error["fields"][field]), error
    with tenant_context(world.a.id):
        assert not Webhook.objects.exists()
    event = _events(world.a.id)[-1]
    assert (event.action, event.outcome, event.status_code) == ("webhook.create", "failed", 400)


def test_a_refused_target_names_no_resolved_address(world: World, token_client) -> None:
    client = token_client(world.m("a", "manager"))
    response = client.post(
        BASE, {"url": "http://localhost:5432/", "events": ["item.completed"]}, format="json"
    )
    text = json.dumps(response.json())
    assert "127.0.0.1" not in text and "::1" not in text
    assert "WEBHOOK_ALLOWED_NETWORKS" in text


def test_patch_checks_the_new_url_and_refuses_moving_the_webhook(
    world: World, token_client
) -> None:
    hook = _hook(world, "a")
    client = token_client(world.m("a", "manager"))
    url = f"{BASE}/{hook.id}"
    bad = client.patch(url, {"url": "http://192.168.0.1/"}, format="json")
    assert bad.status_code == 400 and "private" in bad.json()["error"]["fields"]["url"][0]
    moved = client.patch(url, {"project": str(world.project_a.id)}, format="json")
    assert moved.status_code == 400 and "project" in moved.json()["error"]["fields"]
    with tenant_context(world.a.id):
        assert Webhook.objects.get(id=hook.id).url == PUBLIC_URL


def test_an_operator_allowed_network_may_be_targeted(
    world: World, token_client, settings: Any
) -> None:
    settings.WEBHOOK_ALLOWED_NETWORKS = [ipaddress.ip_network("10.20.0.0/16")]
    client = token_client(world.m("a", "manager"))
    ok = client.post(
        BASE, {"url": "http://10.20.3.4/h", "events": ["item.completed"]}, format="json"
    )
    assert ok.status_code == 201, ok.json()
    refused = client.post(
        BASE, {"url": "http://10.21.3.4/h", "events": ["item.completed"]}, format="json"
    )
    assert refused.status_code == 400


def test_the_webhook_limit_is_a_400_naming_the_setting(
    world: World, token_client, settings: Any
) -> None:
    settings.WEBHOOK_MAX_PER_TENANT = 1
    client = token_client(world.m("a", "manager"))
    body = {"url": PUBLIC_URL, "events": ["item.completed"]}
    assert client.post(BASE, body, format="json").status_code == 201
    second = client.post(BASE, body, format="json")
    assert second.status_code == 400
    assert "WEBHOOK_MAX_PER_TENANT" in second.json()["error"]["message"]


@pytest.mark.parametrize(
    ("method", "suffix"),
    [("get", ""), ("patch", ""), ("delete", ""), ("get", "/deliveries"), ("post", "/ping")],
)
def test_another_tenants_webhook_is_404_on_either_url_and_the_attempt_is_logged(
    world: World, token_client, method: str, suffix: str
) -> None:
    theirs = _hook(world, "b")
    with tenant_context(world.b.id):
        WebhookDelivery.objects.create(
            webhook=theirs, event="item.completed", payload={"data": {"text": "b secret"}}
        )
    client = token_client(world.m("a", "owner"))
    before_a, before_b = len(_events(world.a.id)), len(_events(world.b.id))
    for url in (f"{BASE}/{theirs.id}{suffix}", f"/api/v1/t/tenant-b/webhooks/{theirs.id}{suffix}"):
        kwargs = {"format": "json"} if method in ("patch", "post") else {}
        response = getattr(client, method)(
            url, *([{"active": False}] if method == "patch" else []), **kwargs
        )
        assert (response.status_code, response.json()) == (404, NOT_FOUND)
        assert "b secret" not in response.content.decode()
    events_a = _events(world.a.id)[before_a:]
    assert [(e.outcome, e.reason) for e in events_a] == [("denied", "not found in this tenant")]
    events_b = _events(world.b.id)[before_b:]
    assert [(e.outcome, e.reason, e.actor_tenant_id) for e in events_b] == [
        ("denied", "not a member of this tenant", None)
    ]
    with tenant_context(world.b.id):
        assert Webhook.objects.get(id=theirs.id).active is True
        assert WebhookDelivery.objects.filter(webhook=theirs).count() == 1


def test_the_list_shows_only_this_tenants_webhooks(world: World, token_client) -> None:
    _hook(world, "b")
    mine = _hook(world, "a")
    body = token_client(world.m("a", "owner")).get(BASE).json()
    assert [h["id"] for h in body["results"]] == [str(mine.id)]


def test_delivery_log_pages_newest_first_and_ping_queues_a_delivery(
    world: World, token_client
) -> None:
    hook = _hook(world, "a")
    client = token_client(world.m("a", "manager"))
    pinged = client.post(f"{BASE}/{hook.id}/ping")
    assert pinged.status_code == 202, pinged.json()
    ping = pinged.json()
    assert (ping["event"], ping["state"], ping["attempts"]) == ("webhook.ping", "pending", 0)
    assert ping["payload"]["tenant"] == "tenant-a"
    assert ping["payload"]["data"]["webhook_id"] == str(hook.id)
    for _ in range(4):
        client.post(f"{BASE}/{hook.id}/ping")
    seen, url = [], f"{BASE}/{hook.id}/deliveries?page_size=2"
    while url:
        page = client.get(url).json()
        seen += [d["id"] for d in page["results"]]
        url = page["next"]
    assert len(seen) == 5 and seen == sorted(seen, reverse=True)
    assert seen[-1] == ping["id"]
    last = _events(world.a.id)[-1]
    assert (last.action, last.resource_id) == ("webhook.delivery_list", str(hook.id))
    assert last.detail["ids"] == seen[-1:]


def test_deleting_a_project_deletes_its_webhooks_and_their_log(world: World, token_client) -> None:
    hook = _hook(world, "a", project=world.project_a)
    tenant_wide = _hook(world, "a")
    client = token_client(world.m("a", "manager"))
    assert client.post(f"{BASE}/{hook.id}/ping").status_code == 202
    response = client.delete(f"/api/v1/t/tenant-a/projects/{world.project_a.id}")
    assert response.status_code == 204
    with tenant_context(world.a.id):
        assert list(Webhook.objects.values_list("id", flat=True)) == [tenant_wide.id]
        assert not WebhookDelivery.objects.exists()


def test_list_endpoints_do_not_grow_queries_with_rows(world: World, token_client) -> None:
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    client = token_client(world.m("a", "manager"))
    hook = _hook(world, "a")

    def count(url: str) -> int:
        with CaptureQueriesContext(connection) as ctx:
            assert client.get(url).status_code == 200
        return len(ctx.captured_queries)

    urls = (BASE, f"{BASE}/{hook.id}/deliveries")
    client.post(f"{BASE}/{hook.id}/ping")
    few = [count(u) for u in urls]
    for _ in range(5):
        _hook(world, "a")
        client.post(f"{BASE}/{hook.id}/ping")
    assert [count(u) for u in urls] == few


def test_list_filter_by_project_checks_the_project(world: World, token_client) -> None:
    client = token_client(world.m("a", "manager"))
    bad = client.get(f"{BASE}?project=nope")
    assert bad.status_code == 400 and "project" in bad.json()["error"]["fields"]
    theirs = client.get(f"{BASE}?project={world.project_b.id}")
    assert (theirs.status_code, theirs.json()) == (404, NOT_FOUND)
    bad_cursor = client.get(f"{BASE}?cursor=garbage")
    assert bad_cursor.status_code == 404  # DRF's answer to an invalid cursor
