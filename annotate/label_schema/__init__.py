"""The label-schema language (documented in docs/label-schema.md).

Pure Python, no Django: ``label_schema_validate(schema)`` returns a list of errors, each
``"path: message"`` with a JSON path such as ``fields[0].choices[2]``.
"""

from __future__ import annotations

import json
import re
from typing import Any

SCHEMA_VERSION = 1
NAME_RE = re.compile(r"^[a-z][a-z0-9_]{0,63}$")
DATA_TYPES = ("text", "image", "url", "number", "json", "text_list")
FIELD_TYPES = ("choices", "rating", "text", "spans", "boxes", "comparison")
# Which item data type each source-bound field labels.
SOURCE_TYPES = {"spans": "text", "boxes": "image", "comparison": "text_list"}
RATIONALE = ("none", "optional", "required")
MAX_FIELDS = 50
MAX_CHOICES = 500
MAX_CHOICE_LENGTH = 200


def _depth(value: Any, limit: int, level: int = 1) -> bool:
    if level > limit:
        return False
    if isinstance(value, dict):
        return all(_depth(v, limit, level + 1) for v in value.values())
    if isinstance(value, list):
        return all(_depth(v, limit, level + 1) for v in value)
    return True


def label_schema_validate(
    schema: Any, *, max_bytes: int = 64 * 1024, max_depth: int = 20
) -> list[str]:
    errors: list[str] = []
    if not isinstance(schema, dict):
        return ["(root): must be a JSON object"]
    if not _depth(schema, max_depth):
        return [f"(root): nested deeper than the limit of {max_depth} (JSON_MAX_DEPTH)"]
    size = len(json.dumps(schema, separators=(",", ":")))
    if size > max_bytes:
        return [f"(root): {size} bytes exceeds the limit of {max_bytes} (LABEL_SCHEMA_MAX_BYTES)"]
    unknown = sorted(set(schema) - {"version", "data", "fields"})
    for key in unknown:
        errors.append(f"{key}: unknown key")
    if schema.get("version") != SCHEMA_VERSION:
        errors.append(f"version: must be {SCHEMA_VERSION}")
    errors.extend(_validate_data(schema.get("data")))
    errors.extend(_validate_fields(schema.get("fields")))
    errors.extend(_validate_sources(schema))
    return errors


def _validate_sources(schema: dict[str, Any]) -> list[str]:
    """Span, box and comparison fields name the data field they label, of the matching type."""
    data = schema.get("data") if isinstance(schema.get("data"), dict) else {}
    fields = schema.get("fields") if isinstance(schema.get("fields"), list) else []
    errors = []
    for i, field in enumerate(fields):
        if not isinstance(field, dict) or field.get("type") not in SOURCE_TYPES:
            continue
        wanted = SOURCE_TYPES[field["type"]]
        source = field.get("source")
        spec = data.get(source) if isinstance(source, str) else None
        if not isinstance(spec, dict) or spec.get("type") != wanted:
            errors.append(
                f"fields[{i}].source: must name a data field of type {wanted} (declared in data)"
            )
    return errors


def _validate_data(data: Any) -> list[str]:
    if not isinstance(data, dict) or not data:
        return ["data: must be an object naming at least one item data field"]
    errors = []
    for name, spec in data.items():
        path = f"data.{name}"
        if not NAME_RE.match(name):
            errors.append(f"{path}: name must match {NAME_RE.pattern}")
        if not isinstance(spec, dict):
            errors.append(f'{path}: must be an object like {{"type": "text"}}')
            continue
        if spec.get("type") not in DATA_TYPES:
            errors.append(f"{path}.type: must be one of {', '.join(DATA_TYPES)}")
        if "required" in spec and not isinstance(spec["required"], bool):
            errors.append(f"{path}.required: must be true or false")
        allowed = {"type", "required"}
        if spec.get("type") == "text_list":
            # e.g. the model responses of a comparison task
            allowed |= {"min_items", "max_items"}
            low, high = spec.get("min_items", 2), spec.get("max_items", 20)
            if not all(isinstance(v, int) and not isinstance(v, bool) for v in (low, high)) or not (
                1 <= low <= high <= 100
            ):
                errors.append(
                    f"{path}.min_items/max_items: integers, 1 <= min_items <= max_items <= 100"
                )
        for key in sorted(set(spec) - allowed):
            errors.append(f"{path}.{key}: unknown key")
    return errors


def _validate_fields(fields: Any) -> list[str]:
    if not isinstance(fields, list) or not fields:
        return ["fields: must be a non-empty list of label fields"]
    if len(fields) > MAX_FIELDS:
        return [f"fields: {len(fields)} fields exceeds the limit of {MAX_FIELDS}"]
    errors: list[str] = []
    seen: set[str] = set()
    for i, field in enumerate(fields):
        path = f"fields[{i}]"
        if not isinstance(field, dict):
            errors.append(f"{path}: must be an object")
            continue
        name = field.get("name")
        if not isinstance(name, str) or not NAME_RE.match(name):
            errors.append(f"{path}.name: must be a string matching {NAME_RE.pattern}")
        elif name in seen:
            errors.append(f"{path}.name: duplicate field name {name!r}")
        else:
            seen.add(name)
        kind = field.get("type")
        if kind not in FIELD_TYPES:
            errors.append(f"{path}.type: must be one of {', '.join(FIELD_TYPES)}")
            continue
        if "required" in field and not isinstance(field["required"], bool):
            errors.append(f"{path}.required: must be true or false")
        allowed = {"name", "type", "required", "title"}
        if kind == "choices":
            allowed |= {"choices", "multiple"}
            errors.extend(_validate_choices(field, path))
        elif kind == "rating":
            allowed |= {"min", "max"}
            low, high = field.get("min", 1), field.get("max", 5)
            if not (isinstance(low, int) and isinstance(high, int)) or isinstance(low, bool):
                errors.append(f"{path}.min/max: must be integers")
            elif not (low < high <= low + 100):
                errors.append(f"{path}.max: must be greater than min, by at most 100")
        elif kind == "text":
            allowed |= {"max_length"}
            limit = field.get("max_length", 10_000)
            if not isinstance(limit, int) or isinstance(limit, bool) or not 1 <= limit <= 100_000:
                errors.append(f"{path}.max_length: must be an integer from 1 to 100000")
        elif kind in ("spans", "boxes"):
            allowed |= {"labels", "source", "allow_overlap"}
            errors.extend(_validate_choices(field, path, key="labels"))
            if "allow_overlap" in field and not isinstance(field["allow_overlap"], bool):
                errors.append(f"{path}.allow_overlap: must be true or false")
            if kind == "boxes":
                allowed.discard("allow_overlap")
        elif kind == "comparison":
            allowed |= {"source", "criteria", "allow_tie", "rationale"}
            if "criteria" in field:
                errors.extend(_validate_choices(field, path, key="criteria"))
            if "allow_tie" in field and not isinstance(field["allow_tie"], bool):
                errors.append(f"{path}.allow_tie: must be true or false")
            if field.get("rationale", "optional") not in RATIONALE:
                errors.append(f"{path}.rationale: must be one of {', '.join(RATIONALE)}")
        if "title" in field and not isinstance(field["title"], str):
            errors.append(f"{path}.title: must be a string")
        for key in sorted(set(field) - allowed):
            errors.append(f"{path}.{key}: unknown key for a {kind} field")
    return errors


def _validate_choices(field: dict[str, Any], path: str, key: str = "choices") -> list[str]:
    choices = field.get(key)
    if (
        not isinstance(choices, list)
        or not choices
        or not all(isinstance(c, str) and c.strip() for c in choices)
    ):
        return [f"{path}.{key}: must be a non-empty list of non-empty strings"]
    errors = []
    if len(choices) > MAX_CHOICES:
        errors.append(f"{path}.{key}: {len(choices)} entries exceeds the limit of {MAX_CHOICES}")
    if len(set(choices)) != len(choices):
        errors.append(f"{path}.{key}: must be unique")
    for j, choice in enumerate(choices):
        if len(choice) > MAX_CHOICE_LENGTH:
            errors.append(f"{path}.{key}[{j}]: longer than {MAX_CHOICE_LENGTH} characters")
    if key == "choices" and "multiple" in field and not isinstance(field["multiple"], bool):
        errors.append(f"{path}.multiple: must be true or false")
    return errors


def item_data_errors(schema: dict[str, Any], data: Any) -> list[tuple[str, str]]:
    """Check one item's data against the schema's ``data`` section.

    Returns ``[(field, message), ...]``; empty when the item is acceptable. Extra keys are
    allowed (clients often carry metadata along); declared ones must have the declared type.
    """
    if not isinstance(data, dict):
        return [("data", "must be a JSON object")]
    errors: list[tuple[str, str]] = []
    for name, spec in schema.get("data", {}).items():
        value = data.get(name)
        if value is None:
            if spec.get("required", True):
                errors.append((name, "required field is missing"))
            continue
        kind = spec.get("type")
        if kind == "text" and not isinstance(value, str):
            errors.append((name, "must be a string (text)"))
        elif kind == "number" and (isinstance(value, bool) or not isinstance(value, (int, float))):
            errors.append((name, "must be a number"))
        elif kind == "url" and not (
            isinstance(value, str) and value.startswith(("https://", "http://"))
        ):
            errors.append((name, "must be an http(s) URL"))
        elif kind == "image" and not isinstance(value, str):
            errors.append((name, "must name a media file of the import"))
        elif kind == "text_list":
            low, high = spec.get("min_items", 2), spec.get("max_items", 20)
            if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
                errors.append((name, "must be a list of strings"))
            elif not low <= len(value) <= high:
                errors.append((name, f"must hold {low} to {high} items, has {len(value)}"))
    return errors
