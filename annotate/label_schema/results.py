"""Check an annotation result against the project's label schema (docs/label-schema.md).

``result_errors(schema, result, item_data)`` returns ``[(field path, message), ...]``; empty
when the result is acceptable. Pure Python, no Django.

Result shapes, one key per schema field:

* ``choices``: a string of ``choices`` (``multiple``: a list of distinct ones);
* ``rating``: an integer from ``min`` to ``max``;
* ``text``: a string of at most ``max_length`` characters;
* ``spans``: ``[{"start", "end", "label"}]``, offsets in Unicode code points of the source
  text, ``0 <= start < end <= len(text)``; overlapping spans only if ``allow_overlap``;
* ``boxes``: ``[{"x", "y", "w", "h", "label"}]`` as fractions of the image's width and height:
  ``w, h > 0`` and the box inside ``[0, 1] x [0, 1]``;
* ``comparison``: ``{"preferred": i | "tie", "criteria": {name: i | "tie"}, "rationale": str,
  "shown_order": [..]}`` where ``i`` indexes the source list (not the screen position) and
  ``shown_order`` is the permutation the annotator saw, left to right.
"""

from __future__ import annotations

import itertools
from typing import Any

MAX_REGIONS = 1000
MAX_RATIONALE = 10_000
EPSILON = 1e-9


def _is_int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _is_number(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def result_errors(schema: dict[str, Any], result: Any, item_data: Any) -> list[tuple[str, str]]:
    if not isinstance(result, dict):
        return [("result", "must be a JSON object with one key per label field")]
    fields = {f["name"]: f for f in schema.get("fields", [])}
    errors: list[tuple[str, str]] = []
    for name in sorted(set(result) - set(fields)):
        errors.append((f"result.{name}", "unknown label field"))
    data = item_data if isinstance(item_data, dict) else {}
    for name, field in fields.items():
        path = f"result.{name}"
        if result.get(name) is None:
            if field.get("required", True):
                errors.append((path, "required"))
            continue
        check = _CHECKS[field["type"]]
        errors.extend(check(path, field, result[name], data))
    return errors


def _choices(path: str, field: dict[str, Any], value: Any, data: dict[str, Any]) -> list:
    allowed = field["choices"]
    if field.get("multiple"):
        if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
            return [(path, "must be a list of choices")]
        if len(set(value)) != len(value):
            return [(path, "a choice appears twice")]
        bad = [v for v in value if v not in allowed]
        return [(path, f"not a choice of this field: {bad[0]!r}")] if bad else []
    if not isinstance(value, str) or value not in allowed:
        return [(path, f"must be one of: {', '.join(allowed[:20])}")]
    return []


def _rating(path: str, field: dict[str, Any], value: Any, data: dict[str, Any]) -> list:
    low, high = field.get("min", 1), field.get("max", 5)
    if not _is_int(value) or not low <= value <= high:
        return [(path, f"must be an integer from {low} to {high}")]
    return []


def _text(path: str, field: dict[str, Any], value: Any, data: dict[str, Any]) -> list:
    limit = field.get("max_length", 10_000)
    if not isinstance(value, str):
        return [(path, "must be a string")]
    if len(value) > limit:
        return [(path, f"{len(value)} characters exceeds max_length {limit}")]
    return []


def _regions(path: str, value: Any) -> list | None:
    if not isinstance(value, list):
        return [(path, "must be a list")]
    if len(value) > MAX_REGIONS:
        return [(path, f"{len(value)} regions exceeds the limit of {MAX_REGIONS}")]
    return None


def _spans(path: str, field: dict[str, Any], value: Any, data: dict[str, Any]) -> list:
    if (problem := _regions(path, value)) is not None:
        return problem
    text = data.get(field["source"])
    length = len(text) if isinstance(text, str) else 0
    errors: list[tuple[str, str]] = []
    good: list[tuple[int, int, int]] = []
    for i, span in enumerate(value):
        at = f"{path}[{i}]"
        if not isinstance(span, dict) or set(span) - {"start", "end", "label", "text"}:
            errors.append((at, 'must be {"start": int, "end": int, "label": str}'))
            continue
        start, end, label = span.get("start"), span.get("end"), span.get("label")
        if label not in field["labels"]:
            errors.append((f"{at}.label", f"must be one of: {', '.join(field['labels'][:20])}"))
        if not (_is_int(start) and _is_int(end)):
            errors.append((at, "start and end must be integers"))
        elif not 0 <= start < end <= length:
            errors.append((at, f"span {start}..{end} is outside the text (0..{length}) or empty"))
        else:
            good.append((start, end, i))
    if not field.get("allow_overlap", False):
        good.sort()
        for (_, end_a, i), (start_b, _, j) in itertools.pairwise(good):
            if start_b < end_a:
                errors.append((f"{path}[{j}]", f"overlaps {path}[{i}]; this field forbids it"))
    return errors


def _boxes(path: str, field: dict[str, Any], value: Any, data: dict[str, Any]) -> list:
    if (problem := _regions(path, value)) is not None:
        return problem
    errors: list[tuple[str, str]] = []
    for i, box in enumerate(value):
        at = f"{path}[{i}]"
        keys = {"x", "y", "w", "h", "label"}
        if not isinstance(box, dict) or set(box) - (keys | {"rotation"}) or keys - set(box):
            errors.append((at, 'must be {"x", "y", "w", "h", "label"} (fractions of the image)'))
            continue
        if box["label"] not in field["labels"]:
            errors.append((f"{at}.label", f"must be one of: {', '.join(field['labels'][:20])}"))
        x, y, w, h = (box[k] for k in ("x", "y", "w", "h"))
        if not all(_is_number(v) for v in (x, y, w, h)):
            errors.append((at, "x, y, w and h must be numbers"))
        elif w <= 0 or h <= 0:
            errors.append((at, "w and h must be greater than 0"))
        elif x < -EPSILON or y < -EPSILON or x + w > 1 + EPSILON or y + h > 1 + EPSILON:
            errors.append((at, "the box is outside the image (coordinates are fractions 0..1)"))
    return errors


def _comparison(path: str, field: dict[str, Any], value: Any, data: dict[str, Any]) -> list:
    if not isinstance(value, dict):
        return [(path, 'must be {"preferred": index or "tie", ...}')]
    known = {"preferred", "criteria", "rationale", "shown_order"}
    errors = [(f"{path}.{k}", "unknown key") for k in sorted(set(value) - known)]
    responses = data.get(field["source"])
    count = len(responses) if isinstance(responses, list) else 0
    tie = field.get("allow_tie", False)

    def pick_error(at: str, pick: Any) -> list:
        if pick is None:
            return [(at, "required: the index of the preferred response")]
        if pick == "tie":
            return [] if tie else [(at, "a tie is not allowed by this field")]
        if not _is_int(pick) or not 0 <= pick < count:
            return [(at, f"must be a response index from 0 to {count - 1}")]
        return []

    errors += pick_error(f"{path}.preferred", value.get("preferred"))
    criteria = field.get("criteria", [])
    given = value.get("criteria", {})
    if not isinstance(given, dict):
        errors.append((f"{path}.criteria", "must be an object: criterion -> index"))
    else:
        for name in sorted(set(given) - set(criteria)):
            errors.append((f"{path}.criteria.{name}", "not a criterion of this field"))
        for name in criteria:
            errors += pick_error(f"{path}.criteria.{name}", given.get(name))
    rationale = value.get("rationale")
    mode = field.get("rationale", "optional")
    if rationale is not None and (not isinstance(rationale, str) or len(rationale) > MAX_RATIONALE):
        errors.append((f"{path}.rationale", f"must be a string of at most {MAX_RATIONALE}"))
    elif mode == "required" and not (rationale or "").strip():
        errors.append((f"{path}.rationale", "required by this field"))
    elif mode == "none" and rationale:
        errors.append((f"{path}.rationale", "this field takes no rationale"))
    order = value.get("shown_order")
    if order is not None and (
        not isinstance(order, list)
        or not all(_is_int(v) for v in order)
        or sorted(order) != list(range(count))
    ):
        errors.append((f"{path}.shown_order", f"must be a permutation of 0..{count - 1}"))
    return errors


_CHECKS = {
    "choices": _choices,
    "rating": _rating,
    "text": _text,
    "spans": _spans,
    "boxes": _boxes,
    "comparison": _comparison,
}
