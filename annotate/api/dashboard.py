"""The managers' dashboard: a project's progress over time, per time bucket.

``GET .../projects/<id>/progress?bucket=day&days=30`` answers, for each hour or day (UTC) of
the window, how many items arrived, how many annotations were submitted (per annotator too)
and how many reviews were decided, plus the totals before the window so that a chart can draw
cumulative lines. Counts only: no item content, no results. Agreement and gold accuracy come
from ``.../stats``; this endpoint adds the time axis that one lacks.
"""

from __future__ import annotations

import uuid
from collections import defaultdict
from datetime import UTC, datetime, timedelta
from typing import Any

from django.db.models import Count, QuerySet
from django.db.models.functions import TruncDay, TruncHour
from django.utils import timezone
from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework import serializers
from rest_framework.request import Request
from rest_framework.response import Response

from annotate.api.access import project_requiring
from annotate.models import Annotation, Item, Project, Review
from tenants.api.base import StrictSerializer, TenantAPIView
from tenants.api.common import ERROR_RESPONSES

# Readers of the dashboard: the same as of the project's stats.
PROGRESS_READERS = ("manage", "review", "export")
MAX_BUCKETS = {"hour": 24 * 14, "day": 366}
TRUNC = {"hour": TruncHour, "day": TruncDay}
STEP = {"hour": timedelta(hours=1), "day": timedelta(days=1)}


class ProgressQuery(StrictSerializer):
    bucket = serializers.ChoiceField(choices=["hour", "day"], default="day")
    days = serializers.IntegerField(min_value=1, max_value=366, default=30)

    def validate(self, data: dict[str, Any]) -> dict[str, Any]:
        buckets = data["days"] * (24 if data["bucket"] == "hour" else 1)
        limit = MAX_BUCKETS[data["bucket"]]
        if buckets > limit:
            raise serializers.ValidationError(
                {"days": [f"at most {limit // 24} days with bucket=hour ({limit} buckets)"]}
            )
        return data


class ProgressBucketSerializer(serializers.Serializer):
    start = serializers.DateTimeField(help_text="Start of the bucket (UTC)")
    items_added = serializers.IntegerField()
    annotations = serializers.IntegerField(help_text="Submitted by annotators (not corrections)")
    reviews = serializers.IntegerField()


class AnnotatorSeriesSerializer(serializers.Serializer):
    user_id = serializers.IntegerField()
    username = serializers.CharField()
    total = serializers.IntegerField()
    counts = serializers.ListField(
        child=serializers.IntegerField(), help_text="Annotations per bucket, as in `buckets`"
    )


class ProgressSerializer(serializers.Serializer):
    bucket = serializers.ChoiceField(choices=["hour", "day"])
    since = serializers.DateTimeField()
    until = serializers.DateTimeField()
    overlap = serializers.IntegerField()
    items_before = serializers.IntegerField(help_text="Items that arrived before `since`")
    annotations_before = serializers.IntegerField()
    reviews_before = serializers.IntegerField()
    buckets = ProgressBucketSerializer(many=True)
    annotators = AnnotatorSeriesSerializer(many=True)


def _per_bucket(rows: QuerySet[Any], bucket: str, since: datetime) -> QuerySet[Any]:
    return (
        rows.filter(created_at__gte=since)
        .annotate(b=TRUNC[bucket]("created_at", tzinfo=UTC))
        .values("b")
        .annotate(n=Count("id"))
        .values_list("b", "n")
    )


def project_progress(*, project: Project, bucket: str, days: int) -> dict[str, Any]:
    """Counts per bucket over the last ``days`` days (the current bucket included)."""
    now = timezone.now().astimezone(UTC)
    step = STEP[bucket]
    last = now.replace(minute=0, second=0, microsecond=0)
    if bucket == "day":
        last = last.replace(hour=0)
    count = days * (24 if bucket == "hour" else 1)
    since = last - step * (count - 1)
    starts = [since + step * i for i in range(count)]
    index = {start: i for i, start in enumerate(starts)}

    items = Item.objects.filter(project=project)
    submitted = Annotation.objects.filter(project=project, lease__isnull=False)
    reviews = Review.objects.filter(project=project)
    series: dict[str, list[int]] = {}
    for name, rows in (("items_added", items), ("annotations", submitted), ("reviews", reviews)):
        counts = [0] * count
        for start, n in _per_bucket(rows, bucket, since):
            counts[index[start.astimezone(UTC)]] += n
        series[name] = counts

    per_author: dict[int, list[int]] = defaultdict(lambda: [0] * count)
    names: dict[int, str] = {}
    for start, author_id, username, n in (
        submitted.filter(created_at__gte=since)
        .annotate(b=TRUNC[bucket]("created_at", tzinfo=UTC))
        .values("b", "author_id", "author__username")
        .annotate(n=Count("id"))
        .values_list("b", "author_id", "author__username", "n")
    ):
        per_author[author_id][index[start.astimezone(UTC)]] += n
        names[author_id] = username
    annotators = sorted(
        (
            {"user_id": a, "username": names[a], "total": sum(c), "counts": c}
            for a, c in per_author.items()
        ),
        key=lambda row: (-row["total"], row["username"]),
    )
    return {
        "bucket": bucket,
        "since": since,
        "until": last + step,
        "overlap": project.overlap,
        "items_before": items.filter(created_at__lt=since).count(),
        "annotations_before": submitted.filter(created_at__lt=since).count(),
        "reviews_before": reviews.filter(created_at__lt=since).count(),
        "buckets": [
            {
                "start": start,
                "items_added": series["items_added"][i],
                "annotations": series["annotations"][i],
                "reviews": series["reviews"][i],
            }
            for i, start in enumerate(starts)
        ],
        "annotators": annotators,
    }


class ProjectProgressApi(TenantAPIView):
    audit_resource_type = "project"
    audit_actions = {"get": "project.progress"}
    audit_resource_kwarg = "project_id"

    @extend_schema(
        operation_id="projects_progress",
        parameters=[
            OpenApiParameter("bucket", enum=["hour", "day"], description="Default: day"),
            OpenApiParameter(
                "days", int, description="Window length in days, 1 to 366 (14 with hour)"
            ),
        ],
        responses={200: ProgressSerializer, **ERROR_RESPONSES},
        summary="Progress over time: items, annotations (per annotator) and reviews per bucket",
    )
    def get(self, request: Request, tenant: str, project_id: uuid.UUID) -> Response:
        project = project_requiring(self, project_id, *PROGRESS_READERS)
        query = ProgressQuery(data=request.query_params.dict())
        query.is_valid(raise_exception=True)
        data = project_progress(project=project, **query.validated_data)
        self.audit(
            detail={**query.validated_data, "annotators": len(data["annotators"])}, last=True
        )
        return Response(ProgressSerializer(data).data)
