"""Webhook endpoints: manage webhooks, read their delivery log, send a test event.

Who: owners and managers manage every webhook; a member holding ``manage`` on a project manages
that project's webhooks. Anyone else gets 404 for a webhook (it is not theirs to see).
"""

from __future__ import annotations

import uuid
from typing import Any

from drf_spectacular.utils import OpenApiParameter, OpenApiResponse, extend_schema
from rest_framework import exceptions, serializers, status
from rest_framework.request import Request
from rest_framework.response import Response

from annotate.api.access import project_requiring
from annotate.webhooks.models import EVENTS, Webhook, WebhookDelivery
from annotate.webhooks.selectors import (
    deliveries_of,
    webhook_get_for_member,
    webhooks_manageable_by,
)
from annotate.webhooks.services import (
    webhook_create,
    webhook_delete,
    webhook_ping,
    webhook_update,
)
from annotate.webhooks.targets import MAX_URL_LENGTH
from tenants.api.base import StrictSerializer, TenantAPIView
from tenants.api.common import ERROR_RESPONSES, UserRefSerializer
from tenants.api.pagination import IdCursorPagination
from tenants.audit import ids_detail


class WebhookOutputSerializer(serializers.Serializer):
    id = serializers.UUIDField()
    url = serializers.CharField()
    description = serializers.CharField()
    project_id = serializers.UUIDField(allow_null=True, help_text="Empty: the whole tenant")
    events = serializers.ListField(child=serializers.ChoiceField(choices=EVENTS))
    active = serializers.BooleanField()
    created_by = UserRefSerializer()
    created_at = serializers.DateTimeField()
    updated_at = serializers.DateTimeField()


class WebhookWithSecretSerializer(WebhookOutputSerializer):
    secret = serializers.CharField(
        help_text="The signing secret. Shown only in this response: store it now."
    )


class WebhookCreateSerializer(StrictSerializer):
    url = serializers.CharField(max_length=MAX_URL_LENGTH)
    events = serializers.ListField(
        child=serializers.ChoiceField(choices=EVENTS), allow_empty=False, max_length=len(EVENTS)
    )
    project = serializers.UUIDField(
        required=False, allow_null=True, help_text="A project of the tenant; empty: tenant-wide"
    )
    description = serializers.CharField(max_length=200, required=False, allow_blank=True)
    active = serializers.BooleanField(required=False)


class WebhookUpdateSerializer(StrictSerializer):
    url = serializers.CharField(max_length=MAX_URL_LENGTH, required=False)
    events = serializers.ListField(
        child=serializers.ChoiceField(choices=EVENTS),
        allow_empty=False,
        max_length=len(EVENTS),
        required=False,
    )
    description = serializers.CharField(max_length=200, required=False, allow_blank=True)
    active = serializers.BooleanField(required=False)
    rotate_secret = serializers.BooleanField(
        required=False, help_text="Issue a new secret (returned once); the old one stops at once"
    )


class DeliverySerializer(serializers.Serializer):
    id = serializers.UUIDField()
    event = serializers.CharField()
    state = serializers.ChoiceField(choices=WebhookDelivery.State.choices)
    attempts = serializers.IntegerField()
    next_attempt_at = serializers.SerializerMethodField()
    last_attempt_at = serializers.DateTimeField(allow_null=True)
    last_status_code = serializers.IntegerField(allow_null=True)
    last_error = serializers.CharField()
    last_duration_ms = serializers.IntegerField(allow_null=True)
    created_at = serializers.DateTimeField()
    finished_at = serializers.DateTimeField(allow_null=True)
    payload = serializers.JSONField(help_text="The JSON body sent (keys sorted on the wire)")

    def get_next_attempt_at(self, delivery: WebhookDelivery) -> str | None:
        if delivery.state != WebhookDelivery.State.PENDING:
            return None
        return serializers.DateTimeField().to_representation(delivery.next_attempt_at)


def _body(webhook: Webhook, secret: str | None = None) -> dict[str, Any]:
    if secret is None:
        return WebhookOutputSerializer(webhook).data
    webhook.secret = secret  # type: ignore[attr-defined]
    return WebhookWithSecretSerializer(webhook).data


class WebhookListApi(TenantAPIView):
    pagination_class = IdCursorPagination  # the OpenAPI schema shows the paged list
    audit_resource_type = "webhook"
    audit_actions = {"get": "webhook.list", "post": "webhook.create"}

    @extend_schema(
        operation_id="webhooks_list",
        parameters=[
            OpenApiParameter("project", uuid.UUID, description="Only this project's webhooks")
        ],
        responses={200: WebhookOutputSerializer(many=True), **ERROR_RESPONSES},
        summary="List the webhooks you manage (owners and managers: all of them)",
    )
    def get(self, request: Request, tenant: str) -> Response:
        webhooks = webhooks_manageable_by(membership=self.membership)
        if "project" in request.query_params:
            try:
                project_id = uuid.UUID(request.query_params["project"])
            except ValueError:
                raise exceptions.ValidationError(
                    {"project": ["must be a project id (UUID)"]}
                ) from None
            webhooks = webhooks.filter(project=project_requiring(self, project_id, "manage"))
        paginator = IdCursorPagination()
        page = paginator.paginate_queryset(webhooks, request, view=self)
        self.audit(detail=ids_detail([w.id for w in page]))
        return paginator.get_paginated_response(WebhookOutputSerializer(page, many=True).data)

    @extend_schema(
        operation_id="webhooks_create",
        request=WebhookCreateSerializer,
        responses={201: WebhookWithSecretSerializer, **ERROR_RESPONSES},
        summary="Create a webhook (tenant-wide: owner or manager; project: its manage "
        "permission). The response holds the signing secret, shown only this once.",
    )
    def post(self, request: Request, tenant: str) -> Response:
        serializer = WebhookCreateSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        data = dict(serializer.validated_data)
        project_id = data.pop("project", None)
        if project_id is None:
            self.require_manager()
            project = None
        else:
            project = project_requiring(self, project_id, "manage")
        webhook, secret = webhook_create(membership=self.membership, project=project, **data)
        self.audit(
            resource_id=webhook.id,
            detail={
                "url": webhook.url,
                "events": webhook.events,
                "project": None if project is None else str(project.id),
            },
        )
        return Response(_body(webhook, secret), status=status.HTTP_201_CREATED)


class WebhookDetailApi(TenantAPIView):
    audit_resource_type = "webhook"
    audit_actions = {"get": "webhook.read", "patch": "webhook.update", "delete": "webhook.delete"}
    audit_resource_kwarg = "webhook_id"

    @extend_schema(
        operation_id="webhooks_retrieve",
        responses={200: WebhookOutputSerializer, **ERROR_RESPONSES},
        summary="Read a webhook (never its secret)",
    )
    def get(self, request: Request, tenant: str, webhook_id: uuid.UUID) -> Response:
        webhook = webhook_get_for_member(membership=self.membership, webhook_id=webhook_id)
        self.audit()
        return Response(_body(webhook))

    @extend_schema(
        operation_id="webhooks_partial_update",
        request=WebhookUpdateSerializer,
        responses={200: WebhookWithSecretSerializer, **ERROR_RESPONSES},
        summary="Change a webhook; with rotate_secret the response holds the new secret once",
    )
    def patch(self, request: Request, tenant: str, webhook_id: uuid.UUID) -> Response:
        webhook = webhook_get_for_member(membership=self.membership, webhook_id=webhook_id)
        serializer = WebhookUpdateSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        webhook, secret = webhook_update(webhook=webhook, changes=dict(serializer.validated_data))
        self.audit(detail={"changed": sorted(serializer.validated_data)})
        return Response(_body(webhook, secret))

    @extend_schema(
        operation_id="webhooks_destroy",
        responses={204: OpenApiResponse(description="Deleted"), **ERROR_RESPONSES},
        summary="Delete a webhook and its delivery log",
    )
    def delete(self, request: Request, tenant: str, webhook_id: uuid.UUID) -> Response:
        webhook = webhook_get_for_member(membership=self.membership, webhook_id=webhook_id)
        self.audit(detail={"url": webhook.url})
        webhook_delete(webhook=webhook)
        return Response(status=status.HTTP_204_NO_CONTENT)


class WebhookDeliveryListApi(TenantAPIView):
    pagination_class = IdCursorPagination  # the OpenAPI schema shows the paged list
    audit_resource_type = "webhook"
    audit_actions = {"get": "webhook.delivery_list"}
    audit_resource_kwarg = "webhook_id"

    @extend_schema(
        operation_id="webhooks_deliveries_list",
        responses={200: DeliverySerializer(many=True), **ERROR_RESPONSES},
        summary="The webhook's delivery log, newest first: state, attempts, last status/error",
    )
    def get(self, request: Request, tenant: str, webhook_id: uuid.UUID) -> Response:
        webhook = webhook_get_for_member(membership=self.membership, webhook_id=webhook_id)
        paginator = IdCursorPagination()
        page = paginator.paginate_queryset(deliveries_of(webhook=webhook), request, view=self)
        self.audit(detail=ids_detail([d.id for d in page]))
        return paginator.get_paginated_response(DeliverySerializer(page, many=True).data)


class WebhookPingApi(TenantAPIView):
    audit_resource_type = "webhook"
    audit_actions = {"post": "webhook.ping"}
    audit_resource_kwarg = "webhook_id"

    @extend_schema(
        operation_id="webhooks_ping",
        request=None,
        responses={202: DeliverySerializer, **ERROR_RESPONSES},
        summary="Queue a webhook.ping delivery to test the receiver (also when inactive)",
    )
    def post(self, request: Request, tenant: str, webhook_id: uuid.UUID) -> Response:
        webhook = webhook_get_for_member(membership=self.membership, webhook_id=webhook_id)
        delivery = webhook_ping(webhook=webhook)
        self.audit(detail={"delivery": str(delivery.id)})
        return Response(DeliverySerializer(delivery).data, status=status.HTTP_202_ACCEPTED)
