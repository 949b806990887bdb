"""Wall 1 over the whole API: every tenant endpoint x another tenant's slug and ids.

The endpoint list is discovered from the URL conf, so a new endpoint is covered (or the
suite fails asking for its ids and body) without anyone remembering to add it here.
"""

from __future__ import annotations

import json
from datetime import timedelta
from typing import Any

import pytest
from django.urls import URLPattern, reverse
from django.utils import timezone

from annotate.api.urls import tenant_patterns
from annotate.models import Dataset, ImportJob, Item
from annotate.services.projects import project_permission_grant
from annotate.webhooks.services import webhook_create
from tenants.models import AccessEvent
from tenants.scoping import tenant_context
from tenants.storage import TenantStorage
from tests.conftest import World
from tests.factories import TenantFactory, token_for

NOT_FOUND = {"error": {"code": "not_found", "message": "Not found."}}
ENDPOINTS = [
    (pattern.name, method)
    for pattern in tenant_patterns
    if isinstance(pattern, URLPattern)
    for method in ("get", "post", "patch", "delete")
    if hasattr(pattern.callback.view_class, method)
]


def _kwargs(world: World, pattern_name: str, tenant_key: str) -> dict[str, Any]:
    """URL kwargs naming objects of tenant ``tenant_key``."""
    pattern = next(p for p in tenant_patterns if p.name == pattern_name)
    tenant = world.a if tenant_key == "a" else world.b
    values = {
        "project_id": world.project_a.id if tenant_key == "a" else world.project_b.id,
        "membership_id": world.m(tenant_key, "annotator").id,
        "token_id": world.token_ids[tenant_key],
        "import_id": world.import_ids[tenant_key],
        "item_id": world.item_ids[tenant_key],
        "lease_id": world.lease_ids[tenant_key],
        "competitor_id": world.competitor_ids[tenant_key],
        "annotation_id": world.annotation_ids[tenant_key],
        "webhook_id": world.webhook_ids[tenant_key],
        "export_id": world.export_ids[tenant_key],
        "project_export_id": world.project_export_ids[tenant_key],
        "grant_id": world.grant_ids[tenant_key],
        "decision": "approve",
        "field": "image",
        "permission": "annotate",
    }
    names = list(pattern.pattern.converters)
    missing = [n for n in names if n not in values]
    assert not missing, f"add an isolation fixture value for URL kwarg(s) {missing}"
    return {"tenant": tenant.slug, **{n: values[n] for n in names}}


def _valid_body(world: World, name: str, method: str) -> dict[str, Any]:
    bodies = {
        ("project-list", "post"): {
            "name": "New",
            "label_schema": {
                "version": 1,
                "data": {"text": {"type": "text"}},
                "fields": [{"name": "c", "type": "choices", "choices": ["x", "y"]}],
            },
        },
        ("project-detail", "patch"): {"name": "Renamed"},
        ("project-permission-list", "post"): {
            "membership": str(world.m("a", "annotator").id),
            "permission": "annotate",
        },
        ("member-list", "post"): {"username": "newcomer", "role": "annotator"},
        ("member-detail", "patch"): {"role": "reviewer"},
        ("token-list", "post"): {"name": "ci"},
        ("import-list", "post"): {"items": [{"text": "hello"}]},
        ("webhook-list", "post"): {"url": "https://93.184.216.34/h", "events": ["item.completed"]},
        ("webhook-detail", "patch"): {"active": False},
        ("lease-submit", "post"): {"result": {"sentiment": "pos"}},
        ("competitor-list", "post"): {"competitor": "tenant-c"},
        ("annotation-review", "post"): {"decision": "accept"},
        ("project-export-list", "post"): {"format": "jsonl"},
        ("audit-export-list", "post"): {
            "period_from": "2020-01-01T00:00:00Z",
            "period_to": "2030-01-01T00:00:00Z",
        },
    }
    return bodies.get((name, method), {})


@pytest.fixture
def iso_world(world: World) -> World:
    world.token_ids = {  # type: ignore[attr-defined]
        "a": token_for(world.m("a", "manager")).token.id,
        "b": token_for(world.m("b", "manager")).token.id,
    }
    with tenant_context(world.a.id):
        project_permission_grant(
            project=world.project_a, membership=world.m("a", "annotator"), permission="annotate"
        )
    world.import_ids, world.item_ids, world.webhook_ids = {}, {}, {}  # type: ignore[attr-defined]
    for key, tenant, project in (("a", world.a, world.project_a), ("b", world.b, world.project_b)):
        with tenant_context(tenant.id):
            dataset = Dataset.objects.create(project=project, name="d")
            job = ImportJob.objects.create(
                project=project,
                dataset=dataset,
                format="jsonl",
                filename="f.jsonl",
                blob_key=f"tenants/{tenant.id}/imports/x",
                bytes_total=1,
                content_sha256="0",
                created_by_id=world.m(key, "manager").user_id,
                state="succeeded",
            )
            ref = TenantStorage(tenant.id).save("media/secret.png", b"\x89PNG secret", "image/png")
            item = Item.objects.create(
                project=project,
                dataset=dataset,
                external_id="secret-ext",
                data={"text": f"{key} secret item", "image": "secret.png"},
                seq=1,
                media=[
                    {
                        "field": "image",
                        "name": "secret.png",
                        "key": ref.key,
                        "content_type": "image/png",
                        "size": ref.size,
                        "sha256": ref.sha256,
                    }
                ],
            )
        world.import_ids[key], world.item_ids[key] = job.id, item.id  # type: ignore[attr-defined]
        with tenant_context(tenant.id):
            hook, _ = webhook_create(
                membership=world.m(key, "manager"),
                url="https://93.184.216.34/h",
                events=["item.completed"],
            )
        world.webhook_ids[key] = hook.id  # type: ignore[attr-defined]
    _distribution_objects(world)
    _audit_objects(world)
    _project_export_objects(world)
    return world


def _distribution_objects(world: World) -> None:
    """A lease on the secret item and a competitor row in each tenant."""
    from annotate.models import Annotation, Competitor, Lease

    world.lease_ids, world.competitor_ids = {}, {}  # type: ignore[attr-defined]
    world.annotation_ids = {}  # type: ignore[attr-defined]
    third = TenantFactory(slug="tenant-c")
    for key, tenant, project in (("a", world.a, world.project_a), ("b", world.b, world.project_b)):
        worker = world.m(key, "owner")  # the sweep's caller; owners may annotate
        with tenant_context(tenant.id):
            lease = Lease.objects.create(
                project=project,
                item_id=world.item_ids[key],  # type: ignore[attr-defined]
                annotator_id=worker.user_id,
                membership_id=worker.id,
                state="active",
                expires_at=timezone.now() + timedelta(hours=1),
            )
            Item.objects.filter(id=lease.item_id).update(slots_taken=1, status="in_progress")
            row = Competitor.objects.create(
                competitor=third, created_by_id=world.m(key, "owner").user_id
            )
            annotation = Annotation.objects.create(
                project=project,
                item_id=world.item_ids[key],  # type: ignore[attr-defined]
                author_id=world.m(key, "annotator").user_id,
                result={"sentiment": "pos"},
                status="pending_review",
            )
        world.lease_ids[key], world.competitor_ids[key] = lease.id, row.id  # type: ignore[attr-defined]
        world.annotation_ids[key] = annotation.id  # type: ignore[attr-defined]


def _audit_objects(world: World) -> None:
    """An audit export and an operator access request in each tenant."""
    from tenants.models import AuditExport, OperatorGrant
    from tests.factories import UserFactory

    operator = UserFactory(username="operator", is_staff=True)
    world.export_ids, world.grant_ids = {}, {}  # type: ignore[attr-defined]
    for key, tenant in (("a", world.a), ("b", world.b)):
        with tenant_context(tenant.id):
            ref = TenantStorage(tenant.id).save("audit-exports/x/bundle.zip", b"PK", "x/zip")
            export = AuditExport.objects.create(
                period_from="2020-01-01T00:00:00Z",
                period_to="2030-01-01T00:00:00Z",
                created_by_id=world.m(key, "auditor").user_id,
                state="succeeded",
                blob_key=ref.key,
                size=ref.size,
            )
            grant = OperatorGrant.objects.create(operator=operator, minutes=30, reason="incident")
        world.export_ids[key], world.grant_ids[key] = export.id, grant.id  # type: ignore[attr-defined]


def _project_export_objects(world: World) -> None:
    """A finished project export in each tenant, its file holding the secret item."""
    from annotate.exports.models import ProjectExport

    world.project_export_ids = {}  # type: ignore[attr-defined]
    for key, tenant, project in (("a", world.a, world.project_a), ("b", world.b, world.project_b)):
        with tenant_context(tenant.id):
            line = json.dumps({"data": {"text": f"{key} secret item"}}).encode() + b"\n"
            ref = TenantStorage(tenant.id).save("exports/x/x.jsonl", line, "application/x-ndjson")
            export = ProjectExport.objects.create(
                project=project,
                format="jsonl",
                state="succeeded",
                created_by_id=world.m(key, "manager").user_id,
                blob_key=ref.key,
                bytes_written=ref.size,
                content_sha256=ref.sha256,
            )
        world.project_export_ids[key] = export.id  # type: ignore[attr-defined]


def _call(client: Any, method: str, url: str, body: dict[str, Any]) -> Any:
    if method in ("post", "patch"):
        return getattr(client, method)(url, body, format="json")
    return getattr(client, method)(url)


def _events(tenant_id: Any) -> list[AccessEvent]:
    with tenant_context(tenant_id):
        return list(AccessEvent.objects.order_by("id"))


def test_endpoint_list_is_not_empty() -> None:
    assert len(ENDPOINTS) >= 12, ENDPOINTS


@pytest.mark.django_db
@pytest.mark.parametrize(("name", "method"), ENDPOINTS)
def test_other_tenants_member_gets_404_on_our_url_and_it_is_logged(
    iso_world: World, token_client: Any, name: str, method: str
) -> None:
    w = iso_world
    intruder = token_client(w.m("b", "owner"))
    url = reverse(name, kwargs=_kwargs(w, name, "a"))
    before_a, before_b = len(_events(w.a.id)), len(_events(w.b.id))

    response = _call(intruder, method, url, _valid_body(w, name, method))

    assert response.status_code == 404
    assert response.json() == NOT_FOUND
    events_a = _events(w.a.id)[before_a:]
    assert [(e.outcome, e.reason, e.status_code) for e in events_a] == [
        ("denied", "not a member of this tenant", 404)
    ]
    event = events_a[0]
    # The attempt names the intruder but nothing of the intruder's tenant.
    assert event.actor_username == "b-owner"
    assert event.actor_tenant_id is None and event.actor_membership_id is None
    assert str(w.b.id) not in json.dumps(event.detail)
    assert len(_events(w.b.id)) == before_b  # nothing logged in (or leaked to) tenant B
    with tenant_context(w.a.id):
        from annotate.models import Project

        assert Project.objects.get(id=w.project_a.id).name == "A secret project"


@pytest.mark.django_db
@pytest.mark.parametrize(("name", "method"), ENDPOINTS)
def test_our_ids_on_their_own_url_are_404_and_leak_nothing(
    iso_world: World, token_client: Any, name: str, method: str
) -> None:
    w = iso_world
    client = token_client(w.m("b", "owner"))
    kwargs = _kwargs(w, name, "a")
    kwargs["tenant"] = w.b.slug  # B's URL, A's object ids
    url = reverse(name, kwargs=kwargs)
    body = _valid_body(w, name, method)
    response = _call(client, method, url, body)
    if response.streaming:
        text = b"".join(response.streaming_content).decode(errors="replace")
    else:
        text = response.content.decode()
    assert "PNG secret" not in text
    assert "PNG secret" not in text
    assert "A secret project" not in text
    assert "a secret item" not in text
    assert str(w.project_a.id) not in text
    if len(kwargs) > 1:
        # Only URLs with ids can point at A's objects; ids of A must look missing.
        assert response.status_code == 404, (response.status_code, text)
        assert response.json() == NOT_FOUND
    elif method == "post" and "membership" in body:
        assert response.status_code == 404


@pytest.mark.django_db
def test_a_grant_body_naming_another_tenants_member_is_404(
    iso_world: World, token_client: Any
) -> None:
    w = iso_world
    client = token_client(w.m("b", "owner"))
    url = reverse(
        "project-permission-list", kwargs={"tenant": "tenant-b", "project_id": w.project_b.id}
    )
    body = {"membership": str(w.m("a", "annotator").id), "permission": "annotate"}
    response = client.post(url, body, format="json")
    assert (response.status_code, response.json()) == (404, NOT_FOUND)


@pytest.mark.django_db
@pytest.mark.parametrize(("name", "method"), ENDPOINTS)
def test_every_endpoint_writes_its_access_event(
    iso_world: World, token_client: Any, name: str, method: str
) -> None:
    w = iso_world
    client = token_client(w.m("a", "owner"))
    url = reverse(name, kwargs=_kwargs(w, name, "a"))
    before = len(_events(w.a.id))
    response = _call(client, method, url, _valid_body(w, name, method))
    assert response.status_code < 400, (response.status_code, response.content[:300])
    new = _events(w.a.id)[before:]
    view = next(p for p in tenant_patterns if p.name == name).callback.view_class
    assert [(e.action, e.outcome) for e in new] == [(view.audit_actions[method], "allowed")]
    event = new[0]
    assert event.actor_username == "a-owner"
    assert event.actor_role == "owner"
    assert event.actor_tenant_id == w.a.id
    assert event.actor_membership_id == w.m("a", "owner").id
    assert event.auth_method == "token"
    assert event.request_id and event.client_ip == "127.0.0.1"
    assert event.resource_type == view.audit_resource_type


@pytest.mark.django_db
def test_denied_permission_inside_the_tenant_is_logged(iso_world: World, token_client: Any) -> None:
    w = iso_world
    client = token_client(w.m("a", "annotator"))
    before = len(_events(w.a.id))
    response = client.get(reverse("member-list", kwargs={"tenant": "tenant-a"}))
    assert response.status_code == 403
    new = _events(w.a.id)[before:]
    assert [(e.action, e.outcome, e.actor_role) for e in new] == [
        ("membership.list", "denied", "annotator")
    ]
    assert new[0].reason.startswith("forbidden: requires role owner or manager")


@pytest.mark.django_db
def test_unauthenticated_attempt_on_a_tenant_url_is_logged(iso_world: World) -> None:
    from rest_framework.test import APIClient

    before = len(_events(iso_world.a.id))
    response = APIClient().get(reverse("project-list", kwargs={"tenant": "tenant-a"}))
    assert response.status_code == 401
    new = _events(iso_world.a.id)[before:]
    assert [(e.outcome, e.status_code, e.actor_user_id) for e in new] == [("denied", 401, None)]


PATTERN_NAMES = sorted({name for name, _ in ENDPOINTS})


@pytest.mark.django_db
@pytest.mark.parametrize("name", PATTERN_NAMES)
def test_options_is_a_logged_405_naming_the_served_methods(
    iso_world: World, token_client: Any, name: str
) -> None:
    # OPTIONS was answered by DRF's metadata as a success without an access event: a 500 on
    # every tenant URL. It is now refused like any method a view does not serve.
    w = iso_world
    url = reverse(name, kwargs=_kwargs(w, name, "a"))
    view = next(p for p in tenant_patterns if p.name == name).callback.view_class
    served = {m.upper() for m in ("get", "post", "put", "patch", "delete") if hasattr(view, m)}
    before = len(_events(w.a.id))

    response = token_client(w.m("a", "owner")).options(url)

    assert response.status_code == 405
    assert response.json() == {
        "error": {"code": "method_not_allowed", "message": 'Method "OPTIONS" not allowed.'}
    }
    allowed = {m.strip() for m in response["Allow"].split(",")}
    assert allowed == served | ({"HEAD"} if "GET" in served else set())
    new = _events(w.a.id)[before:]
    assert [(e.action, e.outcome, e.status_code) for e in new] == [
        (f"{view.audit_resource_type}.options", "failed", 405)
    ]

    intruder = token_client(w.m("b", "owner")).options(url)
    assert (intruder.status_code, intruder.json()) == (404, NOT_FOUND)


@pytest.mark.django_db
@pytest.mark.parametrize("name", sorted(name for name, method in ENDPOINTS if method == "get"))
def test_head_is_served_as_the_get_and_logged_as_it(
    iso_world: World, token_client: Any, name: str
) -> None:
    w = iso_world
    client = token_client(w.m("a", "owner"))
    url = reverse(name, kwargs=_kwargs(w, name, "a"))
    view = next(p for p in tenant_patterns if p.name == name).callback.view_class
    before = len(_events(w.a.id))

    response = client.head(url)

    assert response.status_code == 200, (response.status_code, response.content[:300])
    if response.streaming:
        assert b"".join(response.streaming_content) == b""
    else:
        assert response.content == b""
    new = _events(w.a.id)[before:]
    assert [(e.action, e.outcome) for e in new] == [(view.audit_actions["get"], "allowed")]
    intruder = token_client(w.m("b", "owner")).head(url)
    assert intruder.status_code == 404
