"""Projects: CRUD, cursor pagination, permissions, bad input with field-named errors."""

from __future__ import annotations

import copy

import pytest

from annotate.models import Project
from tenants.scoping import tenant_context
from tests.conftest import World
from tests.factories import SCHEMA, project_in

pytestmark = pytest.mark.django_db
BASE = "/api/v1/t/tenant-a/projects"


def _body(**overrides: object) -> dict:
    body = {"name": "Sentiment", "label_schema": copy.deepcopy(SCHEMA), "overlap": 2}
    body.update(overrides)
    return body


def test_manager_creates_reads_updates_deletes(world: World, token_client) -> None:
    client = token_client(world.m("a", "manager"))
    created = client.post(BASE, _body(description="d", instructions="i"), format="json")
    assert created.status_code == 201, created.json()
    project = created.json()
    assert project["overlap"] == 2
    assert project["created_by"]["username"] == "a-manager"
    assert project["permissions"] == ["annotate", "export", "manage", "review", "view"]

    url = f"{BASE}/{project['id']}"
    assert client.get(url).json()["name"] == "Sentiment"
    patched = client.patch(url, {"name": "Renamed", "overlap": 3}, format="json")
    assert patched.status_code == 200, patched.json()
    assert (patched.json()["name"], patched.json()["overlap"]) == ("Renamed", 3)
    assert client.delete(url).status_code == 204
    assert client.get(url).status_code == 404


def test_cursor_pagination_walks_every_project_once(world: World, token_client) -> None:
    for i in range(7):
        project_in(world.a, world.m("a", "manager"), name=f"p{i}")
    client = token_client(world.m("a", "owner"))
    seen, url = [], f"{BASE}?page_size=3"
    while url:
        page = client.get(url).json()
        assert "count" not in page  # no totals: a volume signal nobody needs
        seen += [p["name"] for p in page["results"]]
        url = page["next"]
    assert sorted(seen) == sorted(["A secret project", *[f"p{i}" for i in range(7)]])
    assert len(seen) == len(set(seen))


def test_annotator_without_grant_gets_404_and_with_grant_sees_it(
    world: World, token_client
) -> None:
    annotator = world.m("a", "annotator")
    client = token_client(annotator)
    url = f"{BASE}/{world.project_a.id}"
    assert client.get(url).status_code == 404
    assert client.get(BASE).json()["results"] == []

    manager = token_client(world.m("a", "manager"))
    granted = manager.post(
        f"{url}/permissions",
        {"membership": str(annotator.id), "permission": "annotate"},
        format="json",
    )
    assert granted.status_code == 201, granted.json()
    body = client.get(url).json()
    assert body["permissions"] == ["annotate", "view"]
    assert [p["name"] for p in client.get(BASE).json()["results"]] == ["A secret project"]
    # Seeing is not managing.
    assert client.patch(url, {"name": "x"}, format="json").status_code == 403
    assert client.delete(url).status_code == 403

    revoked = manager.delete(f"{url}/permissions/{annotator.id}/annotate")
    assert revoked.status_code == 204
    assert client.get(url).status_code == 404


def test_revoking_a_role_default_says_why(world: World, token_client) -> None:
    manager = token_client(world.m("a", "manager"))
    reviewer = world.m("a", "reviewer")
    response = manager.delete(f"{BASE}/{world.project_a.id}/permissions/{reviewer.id}/review")
    assert response.status_code == 400
    assert "comes with the reviewer role" in response.json()["error"]["fields"]["permission"][0]


def test_auditor_cannot_be_granted_project_content(world: World, token_client) -> None:
    manager = token_client(world.m("a", "manager"))
    response = manager.post(
        f"{BASE}/{world.project_a.id}/permissions",
        {"membership": str(world.m("a", "auditor").id), "permission": "view"},
        format="json",
    )
    assert response.status_code == 400
    assert "auditors" in response.json()["error"]["fields"]["membership"][0]


def test_grant_to_a_member_of_another_tenant_is_404(world: World, token_client) -> None:
    manager = token_client(world.m("a", "manager"))
    response = manager.post(
        f"{BASE}/{world.project_a.id}/permissions",
        {"membership": str(world.m("b", "annotator").id), "permission": "annotate"},
        format="json",
    )
    assert response.status_code == 404


@pytest.mark.parametrize("role", ["annotator", "reviewer", "auditor"])
def test_only_owner_and_manager_create_projects(world: World, token_client, role: str) -> None:
    response = token_client(world.m("a", role)).post(BASE, _body(), format="json")
    assert response.status_code == 403
    assert "requires role owner or manager" in response.json()["error"]["message"]


def _schema_with(**field_overrides: object) -> dict:
    schema = copy.deepcopy(SCHEMA)
    schema["fields"][0].update(field_overrides)
    return schema


@pytest.mark.parametrize(
    ("body", "field", "fragment"),
    [
        ({"name": "x", "label_schema": SCHEMA, "tenant": "tenant-b"}, "tenant", "Unknown field"),
        ({"name": "x", "label_schema": SCHEMA, "colour": "red"}, "colour", "Unknown field"),
        ({"label_schema": SCHEMA}, "name", "required"),
        ({"name": "x" * 201, "label_schema": SCHEMA}, "name", "no more than 200"),
        ({"name": "x", "label_schema": SCHEMA, "overlap": "two"}, "overlap", "valid integer"),
        (
            {"name": "x", "label_schema": SCHEMA, "overlap": 0},
            "overlap",
            "greater than or equal to 1",
        ),
        (
            {"name": "x", "label_schema": SCHEMA, "overlap": 101},
            "overlap",
            "less than or equal to 100",
        ),
        ({"name": ["x"], "label_schema": SCHEMA}, "name", "Not a valid string"),
        ({"name": "x", "label_schema": "nope"}, "label_schema", "must be a JSON object"),
        (
            {"name": "x", "label_schema": _schema_with(choices=[])},
            "label_schema",
            "fields[0].choices",
        ),
        (
            {"name": "x", "label_schema": _schema_with(choices=["a", "a"])},
            "label_schema",
            "must be unique",
        ),
        ({"name": "x", "label_schema": _schema_with(type="wat")}, "label_schema", "fields[0].type"),
        (
            {"name": "x", "label_schema": _schema_with(name="Bad Name")},
            "label_schema",
            "fields[0].name",
        ),
        ({"name": "x", "label_schema": {**SCHEMA, "version": 9}}, "label_schema", "version"),
        ({"name": "x", "label_schema": {**SCHEMA, "data": {}}}, "label_schema", "data"),
        (
            {"name": "x", "description": "d" * 10_001, "label_schema": SCHEMA},
            "description",
            "10000",
        ),
    ],
)
def test_bad_input_names_the_field_and_writes_nothing(
    world: World, token_client, body: dict, field: str, fragment: str
) -> None:
    client = token_client(world.m("a", "manager"))
    response = client.post(BASE, body, format="json")
    assert response.status_code == 400, response.json()
    fields = response.json()["error"]["fields"]
    assert field in fields, fields
    assert any(fragment in message for message in fields[field]), fields[field]
    with tenant_context(world.a.id):
        assert Project.objects.count() == 1


def test_deeply_nested_schema_is_refused_with_the_limit(world: World, token_client) -> None:
    nested: dict = {}
    cursor = nested
    for _ in range(40):
        cursor["x"] = {}
        cursor = cursor["x"]
    response = token_client(world.m("a", "manager")).post(
        BASE, {"name": "x", "label_schema": {**SCHEMA, "deep": nested}}, format="json"
    )
    assert response.status_code == 400
    assert "JSON_MAX_DEPTH" in response.json()["error"]["message"]


def test_patch_with_bad_schema_changes_nothing(world: World, token_client) -> None:
    client = token_client(world.m("a", "manager"))
    url = f"{BASE}/{world.project_a.id}"
    response = client.patch(url, {"name": "new", "label_schema": {"version": 1}}, format="json")
    assert response.status_code == 400
    assert client.get(url).json()["name"] == "A secret project"


def test_malformed_json_body_is_a_clear_400(world: World, token_client) -> None:
    response = token_client(world.m("a", "manager")).post(
        BASE, data='{"name": ', content_type="application/json"
    )
    assert response.status_code == 400
    assert "JSON parse error" in response.json()["error"]["message"]


def test_list_query_count_does_not_grow_with_the_page(world: World, token_client) -> None:
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    for i in range(30):
        project_in(world.a, world.m("a", "manager"), name=f"p{i}")
    client = token_client(world.m("a", "annotator"))
    manager = token_client(world.m("a", "manager"))
    with tenant_context(world.a.id):
        ids = list(Project.objects.values_list("id", flat=True))
    for project_id in ids:
        manager.post(
            f"{BASE}/{project_id}/permissions",
            {"membership": str(world.m("a", "annotator").id), "permission": "annotate"},
            format="json",
        )
    # Token lookup, tenant, page, grants, event (+ savepoints and set_config): not per row.
    client.get(BASE)  # the first use also stamps the token's last_used_at
    with CaptureQueriesContext(connection) as one:
        assert len(client.get(f"{BASE}?page_size=1").json()["results"]) == 1
    with CaptureQueriesContext(connection) as many:
        page = client.get(f"{BASE}?page_size=31").json()
    assert len(page["results"]) == 31
    assert len(many.captured_queries) == len(one.captured_queries) <= 22
    assert all(p["permissions"] == ["annotate", "view"] for p in page["results"])


def test_denial_reason_for_a_missing_project_is_logged(world: World, token_client) -> None:
    from tenants.models import AccessEvent

    client = token_client(world.m("a", "manager"))
    assert client.get(f"{BASE}/{world.project_b.id}").status_code == 404
    with tenant_context(world.a.id):
        event = AccessEvent.objects.order_by("-id").first()
    assert (event.action, event.outcome, event.reason, event.resource_id) == (
        "project.read",
        "denied",
        "not found in this tenant",
        str(world.project_b.id),
    )
