"""``GET /api/v1/t/<tenant>/my-work``: the annotator's projects with their progress."""

from __future__ import annotations

from drf_spectacular.utils import extend_schema
from rest_framework import serializers
from rest_framework.request import Request
from rest_framework.response import Response

from annotate.selectors.my_work import annotator_progress
from tenants.api.base import TenantAPIView
from tenants.api.common import ERROR_RESPONSES
from tenants.audit import ids_detail


class MyWorkSerializer(serializers.Serializer):
    project_id = serializers.UUIDField()
    name = serializers.CharField()
    items_total = serializers.IntegerField(help_text="Items of the project (gold items excluded)")
    items_completed = serializers.IntegerField(help_text="Items with all the labels they need")
    submitted = serializers.IntegerField(help_text="Your submitted results")
    skipped = serializers.IntegerField(help_text="Items you skipped")
    active_leases = serializers.IntegerField(help_text="Items you hold now")


class MyWorkApi(TenantAPIView):
    audit_resource_type = "project"
    audit_actions = {"get": "project.my_work"}

    @extend_schema(
        operation_id="my_work_list",
        responses={200: MyWorkSerializer(many=True), **ERROR_RESPONSES},
        summary="The projects you may annotate, with their progress and yours (newest first)",
    )
    def get(self, request: Request, tenant: str) -> Response:
        rows = annotator_progress(membership=self.membership)
        self.audit(detail=ids_detail([row["project_id"] for row in rows]), last=True)
        return Response(MyWorkSerializer(rows, many=True).data)
