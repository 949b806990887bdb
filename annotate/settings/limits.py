"""Input limits. Exceeding one is a 4xx that names the limit, never a crash."""

from annotate.settings.env import env_int

DATA_UPLOAD_MAX_MEMORY_SIZE = env_int(
    "MAX_JSON_BODY_BYTES",
    2 * 1024 * 1024,
    "Largest JSON request body accepted, in bytes.",
    minimum=1024,
)
LABEL_SCHEMA_MAX_BYTES = env_int(
    "LABEL_SCHEMA_MAX_BYTES",
    64 * 1024,
    "Largest label schema accepted, in bytes of JSON.",
    minimum=1024,
)
JSON_MAX_DEPTH = env_int(
    "JSON_MAX_DEPTH", 20, "Deepest nesting accepted in JSON input.", minimum=2, maximum=200
)

# Dataset imports (docs/imports.md).
IMPORT_MAX_UPLOAD_BYTES = env_int(
    "IMPORT_MAX_UPLOAD_BYTES",
    2 * 1024**3,
    "Largest import upload, in bytes (413 naming the limit).",
    minimum=1024,
)
IMPORT_MAX_ITEMS = env_int(
    "IMPORT_MAX_ITEMS", 5_000_000, "Most items one import may hold.", minimum=1
)
IMPORT_MAX_LINE_BYTES = env_int(
    "IMPORT_MAX_LINE_BYTES",
    1024 * 1024,
    "Longest line (JSONL, CSV) or item (JSON array) accepted, in bytes.",
    minimum=256,
)
IMPORT_MAX_REPORTED_ERRORS = env_int(
    "IMPORT_MAX_REPORTED_ERRORS",
    100,
    "How many errors a failed import lists (all are counted).",
    minimum=1,
    maximum=10_000,
)
