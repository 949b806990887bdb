"""Webhook URL patterns, mounted under /api/v1/t/<tenant>/ by annotate.api.urls."""

from django.urls import path

from annotate.webhooks.api import (
    WebhookDeliveryListApi,
    WebhookDetailApi,
    WebhookListApi,
    WebhookPingApi,
)

webhook_patterns = [
    path("webhooks", WebhookListApi.as_view(), name="webhook-list"),
    path("webhooks/<uuid:webhook_id>", WebhookDetailApi.as_view(), name="webhook-detail"),
    path(
        "webhooks/<uuid:webhook_id>/deliveries",
        WebhookDeliveryListApi.as_view(),
        name="webhook-delivery-list",
    ),
    path("webhooks/<uuid:webhook_id>/ping", WebhookPingApi.as_view(), name="webhook-ping"),
]
