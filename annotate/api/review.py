"""Reviewers' endpoints and the annotation read API.

``POST .../review/next`` reserves the next annotation pending review (204 when none);
``POST .../annotations/<id>/review`` accepts, rejects (with a comment) or corrects it (a new
version; the history is kept and readable through ``GET .../annotations/<id>``).
"""

from __future__ import annotations

import uuid

from drf_spectacular.utils import OpenApiParameter, OpenApiResponse, extend_schema
from rest_framework import exceptions, serializers, status
from rest_framework.request import Request
from rest_framework.response import Response

from annotate.api.access import project_requiring
from annotate.api.items import ITEM_READERS
from annotate.api.work import AnnotationSerializer, LeaseItemSerializer, _item_completed, api_error
from annotate.models import Annotation, Review
from annotate.services.distribution import DistributionError, ResultInvalid
from annotate.services.review import review_decide, review_next
from tenants.api.base import StrictSerializer, TenantAPIView
from tenants.api.common import ERROR_RESPONSES
from tenants.api.pagination import IdCursorPagination
from tenants.audit import ids_detail


class ReviewSerializer(serializers.Serializer):
    id = serializers.UUIDField()
    annotation_id = serializers.UUIDField()
    reviewer_id = serializers.IntegerField()
    decision = serializers.ChoiceField(choices=Review.Decision.choices)
    comment = serializers.CharField()
    correction_id = serializers.UUIDField(allow_null=True)
    created_at = serializers.DateTimeField()


class ReviewTaskSerializer(serializers.Serializer):
    annotation = AnnotationSerializer()
    item = LeaseItemSerializer()
    review_claim_expires = serializers.DateTimeField()


class ReviewInputSerializer(StrictSerializer):
    decision = serializers.ChoiceField(choices=Review.Decision.choices)
    comment = serializers.CharField(max_length=10_000, allow_blank=True, required=False)
    result = serializers.JSONField(
        required=False, help_text="For `correct`: the corrected result (label schema)"
    )


class AnnotationDetailSerializer(AnnotationSerializer):
    reviews = ReviewSerializer(many=True)
    history = serializers.SerializerMethodField()

    def get_history(self, annotation: Annotation) -> list[dict]:
        """Every version of the item's annotations on the same chain, oldest first."""
        return AnnotationSerializer(self.context["history"], many=True).data


class ReviewNextApi(TenantAPIView):
    audit_resource_type = "annotation"
    audit_actions = {"post": "review.next"}
    audit_resource_kwarg = "project_id"

    @extend_schema(
        operation_id="review_next",
        request=None,
        responses={
            200: ReviewTaskSerializer,
            204: OpenApiResponse(description="Nothing to review"),
            **ERROR_RESPONSES,
        },
        summary="Reserve the next annotation to review (review permission)",
    )
    def post(self, request: Request, tenant: str, project_id: uuid.UUID) -> Response:
        project = project_requiring(self, project_id, "review")
        annotation = review_next(project=project, membership=self.membership)
        if annotation is None:
            self.audit(detail={"outcome": "empty"})
            return Response(status=status.HTTP_204_NO_CONTENT)
        self.audit(detail={"annotation": str(annotation.id), "item": str(annotation.item_id)})
        body = {
            "annotation": annotation,
            "item": annotation.item,
            "review_claim_expires": annotation.review_claim_expires,
        }
        return Response(ReviewTaskSerializer(body).data)


class ReviewDecideApi(TenantAPIView):
    audit_resource_type = "annotation"
    audit_actions = {"post": "review.decide"}
    audit_resource_kwarg = "annotation_id"

    @extend_schema(
        operation_id="review_decide",
        request=ReviewInputSerializer,
        responses={201: ReviewSerializer, 409: ERROR_RESPONSES[400], **ERROR_RESPONSES},
        summary="Accept, reject (back to the pool, with a comment) or correct an annotation",
    )
    def post(
        self, request: Request, tenant: str, project_id: uuid.UUID, annotation_id: uuid.UUID
    ) -> Response:
        project = project_requiring(self, project_id, "review")
        body = ReviewInputSerializer(data=request.data)
        body.is_valid(raise_exception=True)
        data = body.validated_data
        if data["decision"] == Review.Decision.CORRECT and "result" not in data:
            raise exceptions.ValidationError({"result": ["required for a correction"]})
        try:
            outcome = review_decide(
                project=project,
                membership=self.membership,
                annotation_id=annotation_id,
                decision=data["decision"],
                comment=data.get("comment", ""),
                result=data.get("result"),
            )
        except ResultInvalid as exc:
            raise exceptions.ValidationError({f: [m] for f, m in exc.errors}) from None
        except DistributionError as exc:
            raise api_error(exc) from None
        if outcome.item_completed:
            _item_completed(project, outcome.annotation.item_id)
        self.audit(
            detail={
                "decision": outcome.review.decision,
                "item": str(outcome.annotation.item_id),
                "correction": str(outcome.review.correction_id or ""),
            }
        )
        return Response(ReviewSerializer(outcome.review).data, status=status.HTTP_201_CREATED)


class AnnotationListApi(TenantAPIView):
    pagination_class = IdCursorPagination  # the OpenAPI schema shows the paged list
    audit_resource_type = "annotation"
    audit_actions = {"get": "annotation.list"}
    audit_resource_kwarg = "project_id"

    @extend_schema(
        operation_id="annotations_list",
        parameters=[
            OpenApiParameter("status", enum=Annotation.Status.values),
            OpenApiParameter("item", uuid.UUID),
            OpenApiParameter("author", int),
        ],
        responses={200: AnnotationSerializer(many=True), **ERROR_RESPONSES},
        summary="List annotations (cursor; filter by status, item, author)",
    )
    def get(self, request: Request, tenant: str, project_id: uuid.UUID) -> Response:
        project = project_requiring(self, project_id, *ITEM_READERS)
        rows = Annotation.objects.filter(project=project)
        params = request.query_params
        try:
            if "status" in params:
                if params["status"] not in Annotation.Status.values:
                    raise ValueError(f"one of {', '.join(Annotation.Status.values)}")
                rows = rows.filter(status=params["status"])
            if "item" in params:
                rows = rows.filter(item_id=uuid.UUID(params["item"]))
            if "author" in params:
                rows = rows.filter(author_id=int(params["author"]))
        except ValueError as exc:
            name = next(n for n in ("status", "item", "author") if n in params)
            raise exceptions.ValidationError({name: [f"invalid value: {exc}"]}) from None
        paginator = IdCursorPagination()
        page = paginator.paginate_queryset(rows, request, view=self)
        self.audit(detail=ids_detail([a.id for a in page]), last=True)
        return paginator.get_paginated_response(AnnotationSerializer(page, many=True).data)


class AnnotationDetailApi(TenantAPIView):
    audit_resource_type = "annotation"
    audit_actions = {"get": "annotation.read"}
    audit_resource_kwarg = "annotation_id"

    @extend_schema(
        operation_id="annotations_retrieve",
        responses={200: AnnotationDetailSerializer, **ERROR_RESPONSES},
        summary="An annotation with its reviews and every version of the item's annotations",
    )
    def get(
        self, request: Request, tenant: str, project_id: uuid.UUID, annotation_id: uuid.UUID
    ) -> Response:
        project = project_requiring(self, project_id, *ITEM_READERS)
        annotation = (
            Annotation.objects.filter(project=project, id=annotation_id)
            .prefetch_related("reviews")
            .first()
        )
        if annotation is None:
            raise exceptions.NotFound()
        history = list(Annotation.objects.filter(item_id=annotation.item_id).order_by("version"))
        self.audit(last=True)
        data = AnnotationDetailSerializer(annotation, context={"history": history}).data
        return Response(data)
