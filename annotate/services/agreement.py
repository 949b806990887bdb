"""Agreement, gold accuracy and throughput.

Per item (a worker, when the item completes), for each label field: the item's *units* and
each annotator's value on them, then the pairs that agree and Krippendorff's coincidences.
Per project (the stats API): the sums, giving percent agreement and nominal alpha.

Units and values per field type:

* choices, rating, text, comparison: one unit per item; the value is the answer (multiple
  choices: the sorted set; text: stripped; comparison: the preferred response's index or tie);
* spans and boxes: regions of all annotators are grouped greedily, in order of position, into
  units: a region joins the first unit that has no region of its annotator yet and holds a region
  it overlaps with IoU >= 0.5 (spans: over character offsets; boxes: over area). Each unit is one
  Krippendorff unit; an annotator's value is the label of their region in it, or ``(none)``.
"""

from __future__ import annotations

import json
import statistics
from collections import defaultdict
from itertools import permutations
from typing import Any

from django.db.models import Avg, Count, Max, Min, Sum

from annotate.models import Annotation, Item, ItemAgreement, Project

IOU_THRESHOLD = 0.5
NONE = "(none)"
SEP = "\u001f"


# -- pure ------------------------------------------------------------------------------------


def _span_iou(a: dict[str, Any], b: dict[str, Any]) -> float:
    inter = max(0, min(a["end"], b["end"]) - max(a["start"], b["start"]))
    union = max(a["end"], b["end"]) - min(a["start"], b["start"])
    return inter / union if union else 0.0


def _box_iou(a: dict[str, Any], b: dict[str, Any]) -> float:
    ix = max(0.0, min(a["x"] + a["w"], b["x"] + b["w"]) - max(a["x"], b["x"]))
    iy = max(0.0, min(a["y"] + a["h"], b["y"] + b["h"]) - max(a["y"], b["y"]))
    inter = ix * iy
    union = a["w"] * a["h"] + b["w"] * b["h"] - inter
    return inter / union if union > 0 else 0.0


def units_for_field(field: dict[str, Any], results: dict[int, Any]) -> list[dict[int, str]]:
    """``results``: annotator -> their value for this field. Returns units, each a mapping
    annotator -> value (a string), over the annotators who gave a result."""
    kind = field["type"]
    if kind in ("spans", "boxes"):
        iou = _span_iou if kind == "spans" else _box_iou
        position = ("start", "end") if kind == "spans" else ("y", "x")

        def key(region: dict[str, Any]) -> tuple[Any, Any]:
            return region[position[0]], region[position[1]]

        regions = sorted(
            (
                (key(region), author, region)
                for author, value in results.items()
                for region in (value or [])
            ),
            key=lambda t: (t[0], t[1]),
        )
        clusters: list[dict[int, dict[str, Any]]] = []
        for _, author, region in regions:
            for cluster in clusters:
                if author not in cluster and any(
                    iou(region, other) >= IOU_THRESHOLD for other in cluster.values()
                ):
                    cluster[author] = region
                    break
            else:
                clusters.append({author: region})
        return [
            {author: str(c[author]["label"]) if author in c else NONE for author in results}
            for c in clusters
        ]
    values: dict[int, str] = {}
    for author, value in results.items():
        if value is None:
            values[author] = NONE
        elif kind == "choices" and isinstance(value, list):
            values[author] = json.dumps(sorted(value))
        elif kind == "text" and isinstance(value, str):
            values[author] = value.strip()
        elif kind == "comparison" and isinstance(value, dict):
            values[author] = str(value.get("preferred"))
        else:
            values[author] = json.dumps(value, sort_keys=True)
    return [values]


def unit_stats(units: list[dict[int, str]]) -> dict[str, Any]:
    """Agreeing pairs and Krippendorff coincidences of a list of units."""
    pairs = agree = 0
    coincidences: dict[str, float] = defaultdict(float)
    for unit in units:
        values = list(unit.values())
        m = len(values)
        if m < 2:
            continue
        for i in range(m):
            for j in range(i + 1, m):
                pairs += 1
                agree += values[i] == values[j]
        for a, b in permutations(range(m), 2):
            coincidences[values[a] + SEP + values[b]] += 1 / (m - 1)
    return {"pairs": pairs, "agree": agree, "coincidences": dict(coincidences)}


def alpha_nominal(coincidences: dict[str, float]) -> float | None:
    """Krippendorff's alpha (nominal) from summed coincidences; None when undefined (fewer
    than two pairable values, or a single value used throughout)."""
    totals: dict[str, float] = defaultdict(float)
    disagree = 0.0
    for key, weight in coincidences.items():
        c, k = key.split(SEP, 1)
        totals[c] += weight
        if c != k:
            disagree += weight
    n = sum(totals.values())
    expected = n * n - sum(v * v for v in totals.values())
    if n <= 1 or expected == 0:
        return None
    return 1 - (n - 1) * disagree / expected


# -- database ---------------------------------------------------------------------------------


def item_agreement_compute(*, project: Project, item: Item) -> ItemAgreement | None:
    """Compute and store the item's agreement over its final (accepted) results, one per
    annotator (the latest version of each chain). None when fewer than two."""
    finals = list(
        Annotation.objects.filter(item=item, status=Annotation.Status.ACCEPTED).order_by("version")
    )
    by_author: dict[int, dict[str, Any]] = {}
    for annotation in finals:
        if isinstance(annotation.result, dict):
            by_author[annotation.author_id] = annotation.result
    if len(by_author) < 2:
        return None
    fields = {}
    for field in project.label_schema.get("fields", []):
        name = field["name"]
        units = units_for_field(field, {a: r.get(name) for a, r in by_author.items()})
        fields[name] = unit_stats(units)
    row, _ = ItemAgreement.objects.update_or_create(
        tenant_id=project.tenant_id,
        item=item,
        defaults={"project": project, "results": len(by_author), "fields": fields},
    )
    return row


def project_stats(*, project: Project) -> dict[str, Any]:
    """Progress, agreement per label field, gold accuracy and throughput per annotator."""
    status_counts = dict(
        Item.objects.filter(project=project)
        .values("status")
        .annotate(n=Count("id"))
        .values_list("status", "n")
    )
    pairs: dict[str, int] = defaultdict(int)
    agree: dict[str, int] = defaultdict(int)
    coincidences: dict[str, dict[str, float]] = defaultdict(lambda: defaultdict(float))
    items = 0
    for fields in (
        ItemAgreement.objects.filter(project=project)
        .values_list("fields", flat=True)
        .iterator(chunk_size=2000)
    ):
        items += 1
        for name, stats in fields.items():
            pairs[name] += stats["pairs"]
            agree[name] += stats["agree"]
            for key, weight in stats["coincidences"].items():
                coincidences[name][key] += weight
    agreement = {
        name: {
            "items": items,
            "pairs": pairs[name],
            "percent_agreement": agree[name] / pairs[name] if pairs[name] else None,
            "krippendorff_alpha": alpha_nominal(coincidences[name]),
        }
        for name in (f["name"] for f in project.label_schema.get("fields", []))
    }
    annotators = []
    rows = (
        Annotation.objects.filter(project=project, lease__isnull=False)
        .values("author_id", "author__username")
        .annotate(
            n=Count("id"),
            work_ms=Sum("lead_time_ms"),
            first=Min("created_at"),
            last=Max("created_at"),
            gold=Avg("gold_score"),
            gold_n=Count("gold_score"),
        )
        .order_by("author_id")
    )
    for row in rows:
        work_hours = (row["work_ms"] or 0) / 3_600_000
        annotators.append(
            {
                "user_id": row["author_id"],
                "username": row["author__username"],
                "annotations": row["n"],
                "items_per_hour": row["n"] / work_hours if work_hours else None,
                "first_at": row["first"],
                "last_at": row["last"],
                "gold_items": row["gold_n"],
                "gold_accuracy": row["gold"],
            }
        )
    lead_times = list(
        Annotation.objects.filter(project=project, lead_time_ms__isnull=False)
        .order_by("-id")
        .values_list("lead_time_ms", flat=True)[:10_000]
    )
    return {
        "items": {status: status_counts.get(status, 0) for status in Item.Status.values},
        "completed_at": project.completed_at,
        "agreement": agreement,
        "annotators": annotators,
        "median_seconds_per_item": statistics.median(lead_times) / 1000 if lead_times else None,
        "matching_rule": f"spans and boxes: same unit when IoU >= {IOU_THRESHOLD}",
    }
