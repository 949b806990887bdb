"""/healthz, the OpenAPI schema, the runtime role check, limits."""

from __future__ import annotations

import pytest
from django.core.exceptions import ImproperlyConfigured
from django.core.management import call_command
from django.db import connections
from django.urls import URLPattern, URLResolver, get_resolver
from rest_framework.test import APIClient

from tenants.dbroles import check_runtime_role
from tests.conftest import World


@pytest.mark.django_db
def test_healthz_reports_database_and_broker() -> None:
    response = APIClient().get("/healthz")
    body = response.json()
    assert response.status_code == 200, body
    assert body["status"] == "ok"
    assert body["database"]["ok"] and body["broker"]["ok"]


def _api_routes() -> set[str]:
    routes: set[str] = set()

    def walk(patterns: list, prefix: str) -> None:
        for p in patterns:
            if isinstance(p, URLResolver):
                walk(p.url_patterns, prefix + str(p.pattern))
            elif isinstance(p, URLPattern) and (prefix + str(p.pattern)).startswith("api/v1/"):
                routes.add(prefix + str(p.pattern))

    walk(get_resolver().url_patterns, "")
    return routes


@pytest.mark.django_db
def test_openapi_schema_is_complete_and_warning_free(tmp_path) -> None:
    target = tmp_path / "schema.json"
    call_command(
        "spectacular",
        "--file",
        str(target),
        "--validate",
        "--fail-on-warn",
        "--format",
        "openapi-json",
    )
    import json

    schema = json.loads(target.read_text())
    paths = set(schema["paths"])
    expected = {
        "/"
        + r.replace("<slug:tenant>", "{tenant}")
        .replace("<uuid:", "{")
        .replace("<str:", "{")
        .replace("<slug:", "{")
        .replace(">", "}")
        for r in _api_routes()
        if not r.endswith(("schema/", "docs/", "redoc/"))
    }
    assert expected <= paths, expected - paths
    assert schema["components"]["securitySchemes"]["apiToken"]["scheme"] == "bearer"
    project = schema["paths"]["/api/v1/t/{tenant}/projects"]
    assert {"get", "post"} <= set(project)
    assert "404" in project["get"]["responses"] and "400" in project["post"]["responses"]


def test_docs_page_uses_no_cdn(client) -> None:
    html = client.get("/api/v1/docs/").content.decode()
    assert "cdn" not in html.lower() and "https://" not in html


@pytest.mark.django_db(databases=["default", "owner"])
def test_runtime_role_check_refuses_the_owner() -> None:
    check_runtime_role(connections["default"])  # the app role passes
    with pytest.raises(ImproperlyConfigured, match=r"owns .* table"):
        check_runtime_role(connections["owner"])


@pytest.mark.django_db
def test_oversized_body_is_413_naming_the_limit(world: World, token_client, settings) -> None:
    settings.DATA_UPLOAD_MAX_MEMORY_SIZE = 1024
    body = '{"name": "' + "x" * 2000 + '"}'
    response = token_client(world.m("a", "manager")).post(
        "/api/v1/t/tenant-a/projects", data=body, content_type="application/json"
    )
    assert response.status_code == 413
    assert "MAX_JSON_BODY_BYTES" in response.json()["error"]["message"]
