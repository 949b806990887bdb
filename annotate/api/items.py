"""Items of a project: list (cursor, filters), retrieve, delete."""

from __future__ import annotations

import uuid

from django.http import Http404
from drf_spectacular.utils import OpenApiParameter, OpenApiResponse, extend_schema
from rest_framework import exceptions, serializers, status
from rest_framework.request import Request
from rest_framework.response import Response

from annotate.api.access import project_requiring
from annotate.models import Item
from tenants.api.base import TenantAPIView
from tenants.api.common import ERROR_RESPONSES
from tenants.api.pagination import IdCursorPagination
from tenants.audit import ids_detail

# Reading items wholesale is for those who run the project; annotators get items through
# leases (work distribution), one at a time.
ITEM_READERS = {"manage", "review", "export"}


class ItemSerializer(serializers.Serializer):
    id = serializers.UUIDField()
    external_id = serializers.CharField()
    dataset_id = serializers.UUIDField()
    data = serializers.JSONField()
    media = serializers.JSONField()
    priority = serializers.IntegerField()
    status = serializers.ChoiceField(choices=Item.Status.choices)
    created_at = serializers.DateTimeField()


class ItemListApi(TenantAPIView):
    pagination_class = IdCursorPagination  # the OpenAPI schema shows the paged list
    audit_resource_type = "item"
    audit_actions = {"get": "item.list"}
    audit_resource_kwarg = "project_id"

    @extend_schema(
        operation_id="items_list",
        parameters=[
            OpenApiParameter("status", enum=Item.Status.values),
            OpenApiParameter("dataset", uuid.UUID),
            OpenApiParameter("external_id", str),
        ],
        responses={200: ItemSerializer(many=True), **ERROR_RESPONSES},
        summary="List items (cursor pagination; filter by status, dataset, external id)",
    )
    def get(self, request: Request, tenant: str, project_id: uuid.UUID) -> Response:
        project = project_requiring(self, project_id, *ITEM_READERS)
        items = Item.objects.filter(project=project)
        params = request.query_params
        if "status" in params:
            if params["status"] not in Item.Status.values:
                raise exceptions.ValidationError(
                    {"status": [f"one of {', '.join(Item.Status.values)}"]}
                )
            items = items.filter(status=params["status"])
        if "dataset" in params:
            try:
                items = items.filter(dataset_id=uuid.UUID(params["dataset"]))
            except ValueError:
                raise exceptions.ValidationError({"dataset": ["must be a UUID"]}) from None
        if "external_id" in params:
            items = items.filter(external_id=params["external_id"])
        paginator = IdCursorPagination()
        page = paginator.paginate_queryset(items, request, view=self)
        self.audit(detail=ids_detail([i.id for i in page]), last=True)
        return paginator.get_paginated_response(ItemSerializer(page, many=True).data)


class ItemDetailApi(TenantAPIView):
    audit_resource_type = "item"
    audit_actions = {"get": "item.read", "delete": "item.delete"}
    audit_resource_kwarg = "item_id"

    def _item(self, project_id: uuid.UUID, item_id: uuid.UUID, needed: set[str]) -> Item:
        project = project_requiring(self, project_id, *needed)
        item = Item.objects.filter(project=project, id=item_id).first()
        if item is None:
            raise Http404
        return item

    @extend_schema(
        operation_id="items_retrieve", responses={200: ItemSerializer, **ERROR_RESPONSES}
    )
    def get(
        self, request: Request, tenant: str, project_id: uuid.UUID, item_id: uuid.UUID
    ) -> Response:
        item = self._item(project_id, item_id, ITEM_READERS)
        self.audit(last=True)
        return Response(ItemSerializer(item).data)

    @extend_schema(
        operation_id="items_destroy",
        responses={204: OpenApiResponse(description="Deleted"), **ERROR_RESPONSES},
        summary="Delete an item (manage permission)",
    )
    def delete(
        self, request: Request, tenant: str, project_id: uuid.UUID, item_id: uuid.UUID
    ) -> Response:
        item = self._item(project_id, item_id, {"manage"})
        self.audit()
        item.delete()
        return Response(status=status.HTTP_204_NO_CONTENT)
