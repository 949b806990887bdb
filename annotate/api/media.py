"""Media of items: served only through an authorized, logged view, or a short-lived URL signed
for one tenant and one blob. Never rendered as a document in the app's origin."""

from __future__ import annotations

import hashlib
import uuid
from datetime import timedelta
from typing import Any

from django.conf import settings
from django.core import signing
from django.http import Http404, HttpRequest, HttpResponseBase, JsonResponse, StreamingHttpResponse
from django.urls import reverse
from django.utils import timezone
from drf_spectacular.utils import OpenApiResponse, extend_schema, inline_serializer
from rest_framework import serializers
from rest_framework.request import Request
from rest_framework.response import Response

from annotate.api.items import ITEM_READERS
from annotate.models import Item, Lease
from annotate.selectors.projects import project_get_requiring
from tenants.api.base import TenantAPIView
from tenants.api.common import ERROR_RESPONSES
from tenants.audit import Actor, audit_record
from tenants.middleware import client_ip
from tenants.models import Membership, Tenant
from tenants.scoping import tenant_context
from tenants.storage import TenantStorage

# Who may fetch an item's media: those who read items, and annotators holding a lease on it.
MEDIA_READERS = ITEM_READERS | {"annotate"}
INLINE_TYPES = {"image/png", "image/jpeg", "image/gif", "image/webp"}
SIGNING_SALT = "annotate.media-url"
CHUNK = 256 * 1024


def _media_ref(
    view: TenantAPIView, project_id: uuid.UUID, item_id: uuid.UUID, field: str
) -> dict[str, Any]:
    project, perms = project_get_requiring(
        membership=view.membership, project_id=project_id, any_of=MEDIA_READERS
    )
    item = Item.objects.filter(project=project, id=item_id).first()
    if item is not None and not perms & ITEM_READERS:
        # An annotator sees an item's media only through their own lease on it.
        holds = Lease.objects.filter(
            item_id=item.id,
            annotator_id=view.membership.user_id,
            state__in=[Lease.State.ACTIVE, Lease.State.SUBMITTED],
        ).exists()
        item = item if holds else None
    ref = next((m for m in (item.media if item else []) if m.get("field") == field), None)
    if ref is None:
        raise Http404
    return ref


def media_response(storage: TenantStorage, ref: dict[str, Any]) -> StreamingHttpResponse:
    """Stream a decrypted blob with headers that keep a browser from treating it as a page."""
    stream = storage.open(ref["key"])

    def chunks() -> Any:
        with stream:
            while chunk := stream.read(CHUNK):
                yield chunk

    content_type = ref.get("content_type", "application/octet-stream")
    response = StreamingHttpResponse(chunks(), content_type=content_type)
    response["Content-Length"] = str(ref["size"])
    disposition = "inline" if content_type in INLINE_TYPES else "attachment"
    filename = str(ref.get("name", "media")).rsplit("/", 1)[-1].replace('"', "")
    response["Content-Disposition"] = f'{disposition}; filename="{filename}"'
    response["Content-Security-Policy"] = "sandbox; default-src 'none'; img-src 'self'"
    response["Cache-Control"] = "private, max-age=300"
    return response


class ItemMediaApi(TenantAPIView):
    audit_resource_type = "media"
    audit_actions = {"get": "media.read"}
    audit_resource_kwarg = "item_id"

    @extend_schema(
        operation_id="item_media_retrieve",
        responses={
            (200, "application/octet-stream"): OpenApiResponse(description="The file"),
            **ERROR_RESPONSES,
        },
        summary="Download an item's media file (authorized and logged)",
    )
    def get(
        self, request: Request, tenant: str, project_id: uuid.UUID, item_id: uuid.UUID, field: str
    ) -> HttpResponseBase:
        ref = _media_ref(self, project_id, item_id, field)
        self.audit(detail={"field": field, "sha256": ref.get("sha256", "")})
        return media_response(TenantStorage(self.tenant.id), ref)


class ItemMediaUrlApi(TenantAPIView):
    audit_resource_type = "media"
    audit_actions = {"post": "media.sign_url"}
    audit_resource_kwarg = "item_id"

    @extend_schema(
        operation_id="item_media_url_create",
        request=None,
        responses={
            200: inline_serializer(
                "SignedMediaUrl",
                {"url": serializers.CharField(), "expires_at": serializers.DateTimeField()},
            ),
            **ERROR_RESPONSES,
        },
        summary="A short-lived URL for one media file, signed for this tenant and blob",
    )
    def post(
        self, request: Request, tenant: str, project_id: uuid.UUID, item_id: uuid.UUID, field: str
    ) -> Response:
        ref = _media_ref(self, project_id, item_id, field)
        payload = {
            "t": str(self.tenant.id),
            "k": ref["key"],
            "c": ref.get("content_type", ""),
            "s": ref["size"],
            "n": ref.get("name", ""),
            "i": str(item_id),
            "f": field,
            "u": self.membership.user_id,
            "m": str(self.membership.id),
        }
        token = signing.TimestampSigner(salt=SIGNING_SALT).sign_object(payload, compress=True)
        expires = timezone.now() + timedelta(seconds=settings.MEDIA_URL_TTL_SECONDS)
        self.audit(detail={"field": field, "expires_at": expires.isoformat()})
        return Response(
            {"url": reverse("media-signed", kwargs={"token": token}), "expires_at": expires}
        )


def _not_found() -> JsonResponse:
    return JsonResponse({"error": {"code": "not_found", "message": "Not found."}}, status=404)


def media_signed(request: HttpRequest, token: str) -> HttpResponseBase:
    """Serve a blob named by a signed, unexpired token. The token is the authorization; the
    fetch is logged in the token's tenant as the member who asked for the URL."""
    if request.method != "GET":
        return JsonResponse(
            {"error": {"code": "method_not_allowed", "message": "GET only."}},
            status=405,
            headers={"Allow": "GET"},
        )
    try:
        payload = signing.TimestampSigner(salt=SIGNING_SALT).unsign_object(
            token, max_age=settings.MEDIA_URL_TTL_SECONDS
        )
    except signing.BadSignature:  # includes SignatureExpired
        return _not_found()
    tenant = Tenant.objects.filter(id=payload["t"], status=Tenant.Status.ACTIVE).first()
    if tenant is None:
        return _not_found()
    with tenant_context(tenant.id):
        membership = (
            Membership.objects.filter(id=payload["m"], is_active=True)
            .select_related("user")
            .first()
        )
        if membership is None:
            return _not_found()  # the member who asked for the URL has left since
        actor = Actor(
            user_id=membership.user_id,
            username=membership.user.get_username(),
            auth_method="signed_url",
            credential_id="u:" + hashlib.sha256(token.encode()).hexdigest()[:24],
            request_id=getattr(request, "request_id", ""),
            client_ip=client_ip(request),
        ).with_membership(membership)
        audit_record(
            tenant_id=tenant.id,
            actor=actor,
            action="media.read",
            resource_type="media",
            resource_id=payload["i"],
            detail={"field": payload["f"], "via": "signed_url"},
        )
        ref = {
            "key": payload["k"],
            "content_type": payload["c"],
            "size": payload["s"],
            "name": payload["n"],
        }
        return media_response(TenantStorage(tenant.id), ref)
