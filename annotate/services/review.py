"""Review: the next annotation to review, then accept, reject (back to the pool) or correct
(a new version that keeps the history).

Slot accounting (see annotate.services.distribution): an annotation pending review holds its
item's slot. Accepting it counts a final result; rejecting frees the slot (the item returns to
the pool, for others: its author never gets it again); a correction of a pending annotation
counts a final result, of an accepted one changes no count.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

from django.conf import settings
from django.db import connection
from django.utils import timezone

from annotate.label_schema.results import result_errors
from annotate.models import Annotation, Item, Project, Review
from annotate.services.distribution import (
    DistributionError,
    ResultInvalid,
    _count_result,
    _free_slot,
)
from tenants.models import Membership


def review_next(*, project: Project, membership: Membership) -> Annotation | None:
    """Reserve the oldest annotation pending review that is not the reviewer's own and not held
    by another reviewer, for ``REVIEW_CLAIM_SECONDS``. A reviewer asking again while holding
    one gets the same one back."""
    now = timezone.now()
    held = (
        Annotation.objects.filter(
            project=project,
            status=Annotation.Status.PENDING_REVIEW,
            review_claimed_by_id=membership.user_id,
            review_claim_expires__gt=now,
        )
        .select_related("item")
        .order_by("id")
        .first()
    )
    if held is not None:
        return held
    with connection.cursor() as cursor:
        cursor.execute(
            """
            UPDATE annotate_annotation SET review_claimed_by_id = %(user)s,
                   review_claim_expires = %(until)s
             WHERE tenant_id = %(tenant)s AND id = (
                   SELECT id FROM annotate_annotation
                    WHERE tenant_id = %(tenant)s AND project_id = %(project)s
                      AND status = 'pending_review' AND author_id <> %(user)s
                      AND (review_claimed_by_id IS NULL OR review_claim_expires <= %(now)s)
                    ORDER BY id LIMIT 1 FOR UPDATE SKIP LOCKED)
            RETURNING id
            """,
            {
                "user": membership.user_id,
                "until": now + timedelta(seconds=settings.REVIEW_CLAIM_SECONDS),
                "tenant": project.tenant_id,
                "project": project.id,
                "now": now,
            },
        )
        row = cursor.fetchone()
    if row is None:
        return None
    return Annotation.objects.select_related("item").get(id=row[0])


@dataclass(frozen=True)
class ReviewOutcome:
    review: Review
    annotation: Annotation  # the reviewed one, or the correction
    item_completed: bool


def review_decide(
    *,
    project: Project,
    membership: Membership,
    annotation_id: uuid.UUID,
    decision: str,
    comment: str = "",
    result: Any = None,
) -> ReviewOutcome:
    now = timezone.now()
    annotation = (
        Annotation.objects.select_for_update()
        .filter(project=project, id=annotation_id)
        .select_related("item")
        .first()
    )
    if annotation is None:
        raise DistributionError("no such annotation", code="not_found", status=404)
    if annotation.author_id == membership.user_id:
        raise DistributionError(
            "you cannot review your own annotation", code="own_annotation", status=403
        )
    pending = annotation.status == Annotation.Status.PENDING_REVIEW
    if decision != Review.Decision.CORRECT and not pending:
        raise DistributionError(
            f"the annotation is {annotation.status}, not pending review", code="not_pending"
        )
    if decision == Review.Decision.CORRECT and annotation.status not in Annotation.COUNTED:
        raise DistributionError(
            f"a {annotation.status} annotation cannot be corrected", code="not_correctable"
        )
    holder = annotation.review_claimed_by_id
    if (
        pending
        and holder not in (None, membership.user_id)
        and annotation.review_claim_expires
        and annotation.review_claim_expires > now
    ):
        raise DistributionError(
            "another reviewer holds this annotation until "
            f"{annotation.review_claim_expires.isoformat()}",
            code="review_held",
        )
    if decision == Review.Decision.REJECT and not comment.strip():
        raise ResultInvalid([("comment", "a rejection needs a comment for the annotator")])
    item: Item = annotation.item
    completed = False
    correction = None
    if decision == Review.Decision.ACCEPT:
        annotation.status = Annotation.Status.ACCEPTED
        completed = _count_result(project, item)
    elif decision == Review.Decision.REJECT:
        annotation.status = Annotation.Status.REJECTED
        _free_slot(project.tenant_id, item.id)
    else:
        errors = result_errors(project.label_schema, result, item.data)
        if errors:
            raise ResultInvalid(errors)
        latest = (
            Annotation.objects.filter(item=item)
            .order_by("-version")
            .values_list("version", flat=True)
        ).first()
        correction = Annotation.objects.create(
            tenant_id=project.tenant_id,
            project=project,
            item=item,
            parent=annotation,
            author_id=membership.user_id,
            version=(latest or annotation.version) + 1,
            result=result,
            status=Annotation.Status.ACCEPTED,
        )
        annotation.status = Annotation.Status.SUPERSEDED
        if pending:
            completed = _count_result(project, item)
    annotation.review_claimed_by_id = None
    annotation.review_claim_expires = None
    annotation.save(update_fields=["status", "review_claimed_by", "review_claim_expires"])
    review = Review.objects.create(
        tenant_id=project.tenant_id,
        project=project,
        annotation=annotation,
        reviewer_id=membership.user_id,
        decision=decision,
        comment=comment,
        correction=correction,
        created_at=now,
    )
    return ReviewOutcome(review, correction or annotation, completed)
