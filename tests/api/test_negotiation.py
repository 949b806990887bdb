"""The API's content negotiation: its shortcut gives what DRF's own negotiation gives, and
everything else still goes through DRF's (a type the API cannot give is a 406)."""

from __future__ import annotations

import pytest
from rest_framework import exceptions
from rest_framework.negotiation import DefaultContentNegotiation
from rest_framework.renderers import JSONRenderer
from rest_framework.request import Request
from rest_framework.test import APIClient, APIRequestFactory

from tenants.api.negotiation import JsonFirstNegotiation
from tenants.models import AccessEvent
from tenants.scoping import tenant_context
from tests.conftest import World
from tests.factories import token_for


def _request(accept: str | None) -> Request:
    extra = {} if accept is None else {"HTTP_ACCEPT": accept}
    return Request(APIRequestFactory().get("/api/v1/me", **extra))


@pytest.mark.parametrize(
    "accept",
    [
        None,
        "*/*",
        "application/json",
        "application/json; indent=4",
        "text/html, application/json;q=0.9",
        "application/*",
    ],
)
def test_the_shortcut_agrees_with_drfs_negotiation(accept: str | None) -> None:
    renderers = [JSONRenderer()]
    ours = JsonFirstNegotiation().select_renderer(_request(accept), renderers)
    drfs = DefaultContentNegotiation().select_renderer(_request(accept), renderers)
    assert ours == drfs


def test_a_type_the_api_cannot_give_is_still_refused() -> None:
    with pytest.raises(exceptions.NotAcceptable):
        JsonFirstNegotiation().select_renderer(_request("text/html"), [JSONRenderer()])


@pytest.mark.django_db
def test_the_api_answers_406_to_a_type_it_cannot_give(world: World) -> None:
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {token_for(world.m('a', 'manager')).raw}")
    refused = client.get("/api/v1/t/tenant-a/projects", HTTP_ACCEPT="text/html")
    assert refused.status_code == 406
    assert refused.json()["error"]["code"] == "not_acceptable"
    # The refusal is logged in the tenant's access log, as every refused request is.
    with tenant_context(world.a.id):
        event = AccessEvent.objects.order_by("-id").first()
    assert event is not None and (event.status_code, event.outcome) == (406, "failed")
    listed = client.get("/api/v1/t/tenant-a/projects", HTTP_ACCEPT="application/json")
    assert listed.status_code == 200
    assert listed["Content-Type"] == "application/json"
