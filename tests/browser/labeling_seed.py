"""Projects and items for the labeling screens (browser tests and bench/labeling_bench.py).

Needs Django set up and a committed database; call inside no tenant context."""

from __future__ import annotations

import io
from typing import Any

from annotate.models import Dataset, Item, Project
from annotate.services.projects import project_permission_grant
from tenants.models import Membership, Tenant
from tenants.scoping import tenant_context
from tenants.storage import TenantStorage

ALL_TYPES_SCHEMA: dict[str, Any] = {
    "version": 1,
    "data": {
        "text": {"type": "text"},
        "image": {"type": "image"},
        "prompt": {"type": "text"},
        "responses": {"type": "text_list", "min_items": 2, "max_items": 2},
    },
    "fields": [
        {
            "name": "sentiment",
            "type": "choices",
            "choices": ["positive", "negative", "neutral"],
            "title": "Sentiment",
        },
        {
            "name": "topics",
            "type": "choices",
            "choices": ["sports", "politics", "tech"],
            "multiple": True,
            "title": "Topics",
        },
        {
            "name": "entities",
            "type": "spans",
            "labels": ["PER", "ORG", "LOC"],
            "source": "text",
            "title": "Named entities",
        },
        {"name": "objects", "type": "boxes", "labels": ["cat", "dog"], "source": "image"},
        {
            "name": "better",
            "type": "comparison",
            "source": "responses",
            "criteria": ["accuracy", "style"],
            "allow_tie": True,
            "rationale": "optional",
            "title": "Which answer is better?",
        },
        {"name": "quality", "type": "rating", "min": 1, "max": 5, "title": "Quality"},
        {"name": "note", "type": "text", "max_length": 500, "required": False, "title": "Note"},
    ],
}

CHOICE_SCHEMA: dict[str, Any] = {
    "version": 1,
    "data": {"text": {"type": "text"}},
    "fields": [
        {
            "name": "sentiment",
            "type": "choices",
            "choices": ["positive", "negative", "neutral"],
            "title": "Sentiment",
        }
    ],
}


def png_bytes(width: int = 320, height: int = 200, seed: int = 0) -> bytes:
    """A small PNG with two coloured rectangles (something to draw boxes around)."""
    from PIL import Image, ImageDraw

    img = Image.new("RGB", (width, height), (235, 238, 242))
    draw = ImageDraw.Draw(img)
    draw.rectangle([30 + seed, 40, 130 + seed, 150], fill=(220, 120, 60))
    draw.ellipse([180, 60, 290 - seed, 170], fill=(70, 120, 210))
    out = io.BytesIO()
    img.save(out, format="PNG")
    return out.getvalue()


def make_project(
    tenant: Tenant,
    creator: Membership,
    annotators: list[Membership],
    *,
    name: str,
    schema: dict[str, Any],
    items: list[dict[str, Any]],
    image_field: str | None = None,
) -> Project:
    """A project with the annotate grant for ``annotators`` and ``items`` (their data); when
    ``image_field`` is given each item gets a PNG stored as that field's media."""
    with tenant_context(tenant.id):
        project = Project.objects.create(
            tenant=tenant, name=name, label_schema=schema, created_by_id=creator.user_id
        )
        for annotator in annotators:
            project_permission_grant(project=project, membership=annotator, permission="annotate")
        dataset = Dataset.objects.create(project=project, name="seed")
        storage = TenantStorage(tenant.id)
        rows = []
        for i, data in enumerate(items):
            media = []
            if image_field:
                ref = storage.save(
                    f"media/{project.id}/{i}.png", png_bytes(seed=i % 20), "image/png"
                )
                media = [
                    {
                        "field": image_field,
                        "name": f"{i}.png",
                        "key": ref.key,
                        "content_type": "image/png",
                        "size": ref.size,
                        "sha256": ref.sha256,
                    }
                ]
            rows.append(
                Item(
                    tenant_id=tenant.id,
                    project=project,
                    dataset=dataset,
                    external_id=f"item-{i + 1}",
                    data=data,
                    media=media,
                    seq=i + 1,
                    queue_key=i + 1,
                )
            )
        Item.objects.bulk_create(rows)
    return project


def all_types_item(i: int) -> dict[str, Any]:
    return {
        "text": f"Ada Lovelace met Charles Babbage in London ({i}).",
        "image": f"{i}.png",
        "prompt": "What is the capital of France?",
        "responses": [f"Paris is the capital of France. ({i})", f"It is Lyon, I think. ({i})"],
    }
