"""Browser sessions: login with CSRF, tenant routes by membership, logout."""

from __future__ import annotations

import pytest
from rest_framework.test import APIClient

from tests.conftest import World

pytestmark = pytest.mark.django_db


def _csrf_client() -> tuple[APIClient, str]:
    client = APIClient(enforce_csrf_checks=True)
    token = client.get("/api/v1/auth/csrf").json()["csrfToken"]
    return client, token


def test_login_requires_csrf(world: World) -> None:
    client = APIClient(enforce_csrf_checks=True)
    response = client.post(
        "/api/v1/auth/login", {"username": "a-manager", "password": "pw-for-tests-1"}, format="json"
    )
    assert response.status_code == 403
    assert "CSRF" in response.json()["error"]["message"]


def test_login_session_and_csrf_on_writes(world: World) -> None:
    client, csrf = _csrf_client()
    response = client.post(
        "/api/v1/auth/login",
        {"username": "a-manager", "password": "pw-for-tests-1"},
        format="json",
        HTTP_X_CSRFTOKEN=csrf,
    )
    assert response.status_code == 200, response.json()
    assert client.get("/api/v1/t/tenant-a/projects").status_code == 200
    assert client.get("/api/v1/t/tenant-b/projects").status_code == 404
    csrf = client.cookies["csrftoken"].value  # rotated at login
    body = {
        "name": "From the browser",
        "label_schema": {
            "version": 1,
            "data": {"text": {"type": "text"}},
            "fields": [{"name": "c", "type": "choices", "choices": ["x"]}],
        },
    }
    no_csrf = client.post("/api/v1/t/tenant-a/projects", body, format="json")
    assert no_csrf.status_code == 403
    with_csrf = client.post(
        "/api/v1/t/tenant-a/projects", body, format="json", HTTP_X_CSRFTOKEN=csrf
    )
    assert with_csrf.status_code == 201
    assert client.post("/api/v1/auth/logout", HTTP_X_CSRFTOKEN=csrf).status_code == 204
    assert client.get("/api/v1/t/tenant-a/projects").status_code in (401, 403)


def test_wrong_password_names_the_field(world: World) -> None:
    client, csrf = _csrf_client()
    response = client.post(
        "/api/v1/auth/login",
        {"username": "a-manager", "password": "nope"},
        format="json",
        HTTP_X_CSRFTOKEN=csrf,
    )
    assert response.status_code == 400
    assert response.json()["error"]["fields"]["password"] == ["Wrong username or password."]


def test_session_of_an_ended_membership_loses_the_tenant(
    world: World, session_client, token_client
) -> None:
    client = session_client(world.m("a", "reviewer"))
    assert client.get("/api/v1/t/tenant-a/projects").status_code == 200
    token_client(world.m("a", "owner")).delete(
        f"/api/v1/t/tenant-a/members/{world.m('a', 'reviewer').id}"
    )
    assert client.get("/api/v1/t/tenant-a/projects").status_code == 404


def test_security_headers_on_every_response(world: World) -> None:
    response = APIClient().get("/healthz")
    assert "default-src 'self'" in response["Content-Security-Policy"]
    assert response["X-Content-Type-Options"] == "nosniff"
    assert response["X-Frame-Options"] == "DENY"
    assert len(response["X-Request-ID"]) >= 8
