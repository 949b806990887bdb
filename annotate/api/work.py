"""Annotators' endpoints: next, my leases, submit, skip, release.

``POST .../next`` answers 201 with a new lease, 200 with a lease already held (the annotator
holds ``LEASE_MAX_ACTIVE``), or 204 with an ``Annotate-Reason`` header when there is nothing
for them (``exhausted`` or ``limit_reached``).
"""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

from django.db import transaction
from django.utils import timezone
from drf_spectacular.utils import (
    OpenApiParameter,
    OpenApiResponse,
    extend_schema,
    inline_serializer,
)
from rest_framework import exceptions, serializers, status
from rest_framework.request import Request
from rest_framework.response import Response

from annotate.api.access import project_requiring
from annotate.models import Annotation, Competitor, Lease, Project
from annotate.services.distribution import (
    DistributionError,
    Excluded,
    ResultInvalid,
    competitor_add,
    lease_next,
    lease_release,
    lease_skip,
    lease_submit,
    project_and_lease_for_worker,
    project_for_worker,
    workforce_report,
)
from tenants.api.base import StrictSerializer, TenantAPIView
from tenants.api.common import ERROR_RESPONSES
from tenants.audit import audit_record, ids_detail
from tenants.models import AccessEvent, Role

IDEMPOTENCY_HEADER = "Idempotency-Key"
MAX_IDEMPOTENCY_KEY = 200


class LeaseItemSerializer(serializers.Serializer):
    id = serializers.UUIDField()
    external_id = serializers.CharField()
    data = serializers.JSONField()
    media = serializers.JSONField()
    priority = serializers.IntegerField()


class LeaseSerializer(serializers.Serializer):
    id = serializers.UUIDField()
    project_id = serializers.UUIDField()
    state = serializers.ChoiceField(choices=Lease.State.choices)
    leased_at = serializers.DateTimeField(allow_null=True)
    expires_at = serializers.DateTimeField()
    closed_at = serializers.DateTimeField(allow_null=True)
    item = LeaseItemSerializer()


class AnnotationSerializer(serializers.Serializer):
    id = serializers.UUIDField()
    item_id = serializers.UUIDField()
    lease_id = serializers.UUIDField(allow_null=True)
    parent_id = serializers.UUIDField(allow_null=True)
    author_id = serializers.IntegerField()
    version = serializers.IntegerField()
    status = serializers.ChoiceField(choices=Annotation.Status.choices)
    result = serializers.JSONField()
    gold_score = serializers.FloatField(allow_null=True)
    lead_time_ms = serializers.IntegerField(allow_null=True)
    created_at = serializers.DateTimeField()


def _when(value: datetime | None) -> str | None:
    """A datetime as DRF's DateTimeField shows it (ISO 8601, current time zone, ``Z``)."""
    if value is None:
        return None
    text = value.astimezone(timezone.get_current_timezone()).isoformat()
    return text[:-6] + "Z" if text.endswith("+00:00") else text


def lease_body(lease: Lease) -> dict[str, Any]:
    """``LeaseSerializer(lease).data``, built directly: these answers are the annotator's loop,
    and a serializer instance deep-copies its fields on every use.
    ``tests/distribution/test_submit_next.py`` checks both give the same."""
    item = lease.item
    return {
        "id": str(lease.id),
        "project_id": str(lease.project_id),
        "state": lease.state,
        "leased_at": _when(lease.leased_at),
        "expires_at": _when(lease.expires_at),
        "closed_at": _when(lease.closed_at),
        "item": {
            "id": str(item.id),
            "external_id": item.external_id,
            "data": item.data,
            "media": item.media,
            "priority": item.priority,
        },
    }


def annotation_body(annotation: Annotation) -> dict[str, Any]:
    """``AnnotationSerializer(annotation).data``, built directly (see ``lease_body``)."""

    def uuid_or_none(value: uuid.UUID | None) -> str | None:
        return None if value is None else str(value)

    return {
        "id": str(annotation.id),
        "item_id": str(annotation.item_id),
        "lease_id": uuid_or_none(annotation.lease_id),
        "parent_id": uuid_or_none(annotation.parent_id),
        "author_id": annotation.author_id,
        "version": annotation.version,
        "status": annotation.status,
        "result": annotation.result,
        "gold_score": None if annotation.gold_score is None else float(annotation.gold_score),
        "lead_time_ms": annotation.lead_time_ms,
        "created_at": _when(annotation.created_at),
    }


class SubmitInputSerializer(StrictSerializer):
    result = serializers.JSONField(help_text="One key per label field; see docs/label-schema.md")


class SubmitResponseSerializer(AnnotationSerializer):
    """The annotation; with ``?next=1`` also the next lease (as ``POST next`` would answer)."""

    next = LeaseSerializer(
        required=False,
        allow_null=True,
        help_text="With ?next=1: your next lease, or null when there is nothing for you "
        "(next_reason says why)",
    )
    next_reason = serializers.ChoiceField(
        choices=["new", "held", "exhausted", "limit_reached", "competitor_excluded", "retry"],
        required=False,
        help_text="With ?next=1: `new` (a lease just handed out), `held` (one you already "
        "held), or why there is none: `exhausted`, `limit_reached`, `competitor_excluded`, or "
        "`retry` (what is left was held by other requests at that instant: ask `POST next`)",
    )


NEXT_PARAM = "next"
_TRUE, _FALSE = ("1", "true"), ("", "0", "false")


def wants_next(request: Request) -> bool:
    """The ``next`` query parameter of submit: ``1``/``true`` or ``0``/``false`` (absent)."""
    value = request.query_params.get(NEXT_PARAM, "").lower()
    if value in _TRUE:
        return True
    if value in _FALSE:
        return False
    raise exceptions.ValidationError({NEXT_PARAM: ["must be 1, true, 0 or false"]})


def api_error(exc: DistributionError) -> exceptions.APIException:
    """A refused lease operation as an API error with its code and a sentence saying why."""
    if exc.status == status.HTTP_404_NOT_FOUND:
        return exceptions.NotFound()
    if exc.status == status.HTTP_403_FORBIDDEN:
        return exceptions.PermissionDenied(str(exc), code=exc.code)
    error = exceptions.APIException(str(exc), code=exc.code)
    error.status_code = exc.status
    return error


def idempotency_key(request: Request) -> str:
    key = request.headers.get(IDEMPOTENCY_HEADER, "")
    if len(key) > MAX_IDEMPOTENCY_KEY:
        raise exceptions.ValidationError(
            {IDEMPOTENCY_HEADER: [f"longer than {MAX_IDEMPOTENCY_KEY} characters"]}
        )
    return key


class _LeaseView(TenantAPIView):
    audit_resource_type = "lease"

    def _project(self, project_id: uuid.UUID) -> Project:
        # One statement for the project and the caller's grants: this runs on every call of
        # the annotator's loop (same answers as project_requiring).
        return project_for_worker(membership=self.membership, project_id=project_id)

    def _lease_body(self, lease: Lease) -> dict[str, Any]:
        if not Lease.item.is_cached(lease):
            lease = Lease.objects.select_related("item").get(id=lease.id)
        return lease_body(lease)


class LeaseNextApi(_LeaseView):
    audit_actions = {"post": "lease.next"}
    audit_resource_kwarg = "project_id"

    @extend_schema(
        operation_id="leases_next",
        request=None,
        responses={
            201: LeaseSerializer,
            200: OpenApiResponse(LeaseSerializer, description="A lease you already hold"),
            204: OpenApiResponse(
                description="Nothing for you: header Annotate-Reason is `exhausted` or "
                "`limit_reached`"
            ),
            409: ERROR_RESPONSES[400],
            **ERROR_RESPONSES,
        },
        summary="Get the next item to label, as a lease (annotate permission)",
    )
    def post(self, request: Request, tenant: str, project_id: uuid.UUID) -> Response:
        project = self._project(project_id)
        try:
            outcome = lease_next(project=project, membership=self.membership)
        except DistributionError as exc:
            raise api_error(exc) from None
        if outcome.lease is None:
            self.audit(detail={"outcome": outcome.status}, last=True)
            return Response(
                status=status.HTTP_204_NO_CONTENT, headers={"Annotate-Reason": outcome.status}
            )
        lease = outcome.lease
        body = self._lease_body(lease)
        self.audit(
            detail={"outcome": outcome.status, "lease": str(lease.id), "item": str(lease.item_id)},
            last=True,
        )
        code = status.HTTP_201_CREATED if outcome.status == "new" else status.HTTP_200_OK
        return Response(body, status=code)


class LeaseListApi(_LeaseView):
    audit_actions = {"get": "lease.list"}
    audit_resource_kwarg = "project_id"

    @extend_schema(
        operation_id="leases_list",
        responses={200: LeaseSerializer(many=True), **ERROR_RESPONSES},
        summary="Your live (active) leases in the project, oldest first",
    )
    def get(self, request: Request, tenant: str, project_id: uuid.UUID) -> Response:
        project = self._project(project_id)
        leases = list(
            Lease.objects.filter(
                project=project, annotator_id=self.membership.user_id, state=Lease.State.ACTIVE
            )
            .select_related("item")
            .order_by("created_at")[:50]
        )
        self.audit(detail=ids_detail([lease.id for lease in leases]), last=True)
        return Response(LeaseSerializer(leases, many=True).data)


class LeaseSubmitApi(_LeaseView):
    audit_actions = {"post": "lease.submit"}
    audit_resource_kwarg = "lease_id"

    @extend_schema(
        operation_id="leases_submit",
        request=SubmitInputSerializer,
        parameters=[
            OpenApiParameter(
                IDEMPOTENCY_HEADER,
                str,
                OpenApiParameter.HEADER,
                description="Send the same key on a retry: the first annotation is returned "
                "(200, header Idempotent-Replayed: true) instead of a 409",
            ),
            OpenApiParameter(
                NEXT_PARAM,
                str,
                OpenApiParameter.QUERY,
                enum=["1", "true", "0", "false"],
                description="1: in the same request, also get your next lease (`next`, "
                "`next_reason` in the answer), as `POST next` would answer right after the "
                "submit. On a replayed submit, the lease you already hold comes first.",
            ),
        ],
        responses={
            201: SubmitResponseSerializer,
            200: OpenApiResponse(SubmitResponseSerializer, description="A replayed submit"),
            409: ERROR_RESPONSES[400],
            **ERROR_RESPONSES,
        },
        summary="Submit a result on your lease (validated against the label schema); "
        "?next=1 also hands out your next lease",
    )
    def post(
        self, request: Request, tenant: str, project_id: uuid.UUID, lease_id: uuid.UUID
    ) -> Response:
        # The project and the lease, locked, in one round trip; the lease's refusal, if any,
        # comes where lease_submit would have looked it up (after the input's checks).
        project, lookup = project_and_lease_for_worker(
            membership=self.membership, project_id=project_id, lease_id=lease_id
        )
        then_next = wants_next(request)
        key = idempotency_key(request)
        body = SubmitInputSerializer(data=request.data)
        body.is_valid(raise_exception=True)
        try:
            outcome = lease_submit(
                project=project,
                membership=self.membership,
                lease_id=lease_id,
                result=body.validated_data["result"],
                idempotency_key=key,
                locked=lookup.locked(),
            )
        except ResultInvalid as exc:
            raise exceptions.ValidationError(
                {field: [message] for field, message in exc.errors}
            ) from None
        except DistributionError as exc:
            raise api_error(exc) from None
        annotation = outcome.annotation
        data = annotation_body(annotation)
        # The request's last statement carries its COMMIT (the flush overlaps the rest), unless
        # a webhook of the completed item is still to be written.
        last = not (outcome.item_completed and outcome.webhooks_active)
        if outcome.replayed:
            self.audit(
                action="lease.submit_replay",
                detail={"annotation": str(annotation.id)},
                last=last and not then_next,
            )
        else:
            self.audit(
                detail={
                    "annotation": str(annotation.id),
                    "item": str(annotation.item_id),
                    "status": annotation.status,
                },
                last=last and not then_next,
            )
        next_lease = None
        if then_next:
            answer, next_lease = self._next(project, prefer_held=outcome.replayed, last=last)
            data.update(answer)
        if outcome.item_completed:
            # A (non-gold) lease handed out in this transaction is on an item still open when
            # it commits (its slot keeps it from completing): the project cannot be complete.
            open_item = next_lease is not None and not next_lease.gold
            _item_completed(
                project,
                annotation.item_id,
                open_item_known=open_item,
                webhooks_active=outcome.webhooks_active,
            )
        if outcome.replayed:
            return Response(data, headers={"Idempotent-Replayed": "true"})
        return Response(data, status=status.HTTP_201_CREATED)

    def _next(
        self, project: Project, *, prefer_held: bool, last: bool
    ) -> tuple[dict[str, Any], Lease | None]:
        """``POST next`` inside this request, with its own access event: the answer's fields
        and the lease. A refusal of the next lease (a competitor exclusion) does not undo the
        submit: it is reported instead. ``last``: the event is the request's last statement
        (``TenantAPIView.audit``)."""
        try:
            outcome = lease_next(
                project=project, membership=self.membership, prefer_held=prefer_held, wait=False
            )
        except Excluded as exc:
            # The refused half is a denied event, beside the submit's allowed one.
            audit_record(
                tenant_id=self.tenant.id,
                actor=self.actor,
                action="lease.next",
                resource_type=self.audit_resource_type,
                resource_id=project.id,
                outcome=AccessEvent.Outcome.DENIED,
                reason=f"forbidden: {exc}",
                status_code=status.HTTP_403_FORBIDDEN,
                detail={"with": "submit"},
                last=last,
            )
            return {"next": None, "next_reason": exc.code}, None
        lease = outcome.lease
        detail = {"outcome": outcome.status, "with": "submit"}
        if lease is not None:
            detail.update(lease=str(lease.id), item=str(lease.item_id))
        answer = {
            "next": None if lease is None else self._lease_body(lease),
            "next_reason": outcome.status,
        }
        self.audit(action="lease.next", resource_id=project.id, detail=detail, last=last)
        return answer, lease


def _item_completed(
    project: Project,
    item_id: uuid.UUID,
    *,
    open_item_known: bool = False,
    webhooks_active: bool = True,
) -> None:
    """Tell the project's webhooks now (in this transaction); after this commits, have a worker
    compute the item's agreement (overlap > 1) or complete the project (no open item left).

    The open-items check runs after the commit, so of two completions committing at once the
    later one's check sees both; ``project_complete_once`` makes a double enqueue harmless.
    This spares a broker publish per completed item on the submit path. ``open_item_known``:
    the transaction leaves an item of the project open (``submit?next=1`` handed out a lease),
    so the check would answer "open" and is skipped. ``webhooks_active`` False: the tenant
    has no active webhook (the submit's statement read it), so there is nothing to emit."""
    from annotate.services.distribution import project_has_open_items
    from annotate.webhooks.services import webhook_emit
    from workers.tasks.distribution import item_completed

    if webhooks_active:
        webhook_emit(
            tenant_id=project.tenant_id,
            event="item.completed",
            project_id=project.id,
            payload={"item_id": str(item_id)},
        )
    tenant_id, project_id, wants_agreement = project.tenant_id, project.id, project.overlap > 1

    if not wants_agreement and open_item_known:
        return

    def after_commit() -> None:
        if wants_agreement or not project_has_open_items(
            tenant_id=tenant_id, project_id=project_id
        ):
            item_completed.delay(str(tenant_id), str(project_id), str(item_id))

    # robust: the result is committed; a failure here is logged rather than answered as a 500.
    # TRICKY: if it was the project's last item, the project stays unmarked (no
    # project.completed) until the beat sweep complete_projects finds it (every 5 minutes).
    transaction.on_commit(after_commit, robust=True)


class LeaseSkipApi(_LeaseView):
    audit_actions = {"post": "lease.skip"}
    audit_resource_kwarg = "lease_id"

    @extend_schema(
        operation_id="leases_skip",
        request=None,
        responses={200: LeaseSerializer, 409: ERROR_RESPONSES[400], **ERROR_RESPONSES},
        summary="Skip the item (you will not get it again)",
    )
    def post(
        self, request: Request, tenant: str, project_id: uuid.UUID, lease_id: uuid.UUID
    ) -> Response:
        project = self._project(project_id)
        try:
            lease, completed = lease_skip(
                project=project, membership=self.membership, lease_id=lease_id
            )
        except DistributionError as exc:
            raise api_error(exc) from None
        if completed:
            _item_completed(project, lease.item_id)
        self.audit(detail={"item": str(lease.item_id), "slot_kept": lease.slot_kept})
        return Response(self._lease_body(lease))


class LeaseReleaseApi(_LeaseView):
    audit_actions = {"post": "lease.release"}
    audit_resource_kwarg = "lease_id"

    @extend_schema(
        operation_id="leases_release",
        request=None,
        responses={200: LeaseSerializer, 409: ERROR_RESPONSES[400], **ERROR_RESPONSES},
        summary="Give the item back unlabelled",
    )
    def post(
        self, request: Request, tenant: str, project_id: uuid.UUID, lease_id: uuid.UUID
    ) -> Response:
        project = self._project(project_id)
        try:
            lease = lease_release(project=project, membership=self.membership, lease_id=lease_id)
        except DistributionError as exc:
            raise api_error(exc) from None
        self.audit(detail={"item": str(lease.item_id)})
        return Response(self._lease_body(lease))


class CompetitorSerializer(serializers.Serializer):
    id = serializers.UUIDField()
    competitor = serializers.SlugField(source="competitor.slug")
    note = serializers.CharField()
    created_at = serializers.DateTimeField()


class CompetitorInputSerializer(StrictSerializer):
    competitor = serializers.SlugField(help_text="The competing tenant's slug")
    note = serializers.CharField(max_length=200, allow_blank=True, required=False)


class CompetitorListApi(TenantAPIView):
    """The tenant's competitor list: visible to its owners only, never to the named tenant."""

    audit_resource_type = "competitor"
    audit_actions = {"get": "competitor.list", "post": "competitor.add"}

    @extend_schema(
        operation_id="competitors_list",
        responses={200: CompetitorSerializer(many=True), **ERROR_RESPONSES},
        summary="List the tenants you named as competitors (owner)",
    )
    def get(self, request: Request, tenant: str) -> Response:
        self.require_role(Role.OWNER)
        rows = list(Competitor.objects.select_related("competitor").order_by("created_at"))
        self.audit(detail=ids_detail([row.id for row in rows]), last=True)
        return Response(CompetitorSerializer(rows, many=True).data)

    @extend_schema(
        operation_id="competitors_add",
        request=CompetitorInputSerializer,
        responses={201: CompetitorSerializer, **ERROR_RESPONSES},
        summary="Name a tenant as a competitor: its members are never leased your items",
    )
    def post(self, request: Request, tenant: str) -> Response:
        self.require_role(Role.OWNER)
        body = CompetitorInputSerializer(data=request.data)
        body.is_valid(raise_exception=True)
        row = competitor_add(
            tenant=self.tenant,
            membership=self.membership,
            slug=body.validated_data["competitor"],
            note=body.validated_data.get("note", ""),
        )
        self.audit(resource_id=row.id, detail={"competitor": row.competitor.slug})
        return Response(CompetitorSerializer(row).data, status=status.HTTP_201_CREATED)


class CompetitorDetailApi(TenantAPIView):
    audit_resource_type = "competitor"
    audit_actions = {"delete": "competitor.remove"}
    audit_resource_kwarg = "competitor_id"

    @extend_schema(
        operation_id="competitors_remove",
        responses={204: OpenApiResponse(description="Removed"), **ERROR_RESPONSES},
        summary="Remove a tenant from your competitor list (owner)",
    )
    def delete(self, request: Request, tenant: str, competitor_id: uuid.UUID) -> Response:
        self.require_role(Role.OWNER)
        row = Competitor.objects.filter(id=competitor_id).select_related("competitor").first()
        if row is None:
            raise exceptions.NotFound()
        self.audit(detail={"competitor": row.competitor.slug})
        row.delete()
        return Response(status=status.HTTP_204_NO_CONTENT)


class WorkforceRowSerializer(serializers.Serializer):
    user_id = serializers.IntegerField()
    username = serializers.CharField()
    role = serializers.CharField(allow_null=True)
    leases = serializers.IntegerField()
    annotations = serializers.IntegerField()
    first_lease_at = serializers.DateTimeField()
    last_lease_at = serializers.DateTimeField()
    competitor_member = serializers.BooleanField()


class WorkforceReportApi(TenantAPIView):
    """Who worked on the project, and whether the competitor wall held for each of them."""

    audit_resource_type = "project"
    audit_actions = {"get": "project.workforce"}
    audit_resource_kwarg = "project_id"

    @extend_schema(
        operation_id="projects_workforce",
        responses={
            200: inline_serializer(
                name="WorkforceReport",
                fields={
                    "workers": WorkforceRowSerializer(many=True),
                    "competitors": serializers.ListField(child=serializers.CharField()),
                    "wall_held": serializers.BooleanField(),
                    "violations": serializers.ListField(child=serializers.IntegerField()),
                },
            ),
            **ERROR_RESPONSES,
        },
        summary="Everyone who held a lease on the project, and the competitor wall (manage)",
    )
    def get(self, request: Request, tenant: str, project_id: uuid.UUID) -> Response:
        project = project_requiring(self, project_id, "manage")
        report = workforce_report(project=project)
        self.audit(
            detail={"workers": len(report["workers"]), "wall_held": report["wall_held"]}, last=True
        )
        return Response(report)


class ProjectStatsApi(TenantAPIView):
    audit_resource_type = "project"
    audit_actions = {"get": "project.stats"}
    audit_resource_kwarg = "project_id"

    @extend_schema(
        operation_id="projects_stats",
        responses={
            200: OpenApiResponse(
                description="items by status; agreement per label field (percent agreement, "
                "Krippendorff's alpha, nominal); per annotator: annotations, items per hour, "
                "gold accuracy"
            ),
            **ERROR_RESPONSES,
        },
        summary="Progress, agreement, gold accuracy and throughput (manage, review or export)",
    )
    def get(self, request: Request, tenant: str, project_id: uuid.UUID) -> Response:
        from annotate.api.items import ITEM_READERS
        from annotate.services.agreement import project_stats

        project = project_requiring(self, project_id, *ITEM_READERS)
        stats = project_stats(project=project)
        self.audit(detail={"annotators": len(stats["annotators"])}, last=True)
        return Response(stats)
