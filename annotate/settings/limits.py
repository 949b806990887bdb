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

# ZIP imports and media (docs/imports.md).
IMPORT_ZIP_MAX_FILES = env_int(
    "IMPORT_ZIP_MAX_FILES", 100_000, "Most entries a ZIP import may hold.", minimum=1
)
IMPORT_ZIP_MAX_TOTAL_BYTES = env_int(
    "IMPORT_ZIP_MAX_TOTAL_BYTES",
    8 * 1024**3,
    "Most bytes a ZIP import may expand to, all entries together.",
    minimum=1024,
)
IMPORT_ZIP_MAX_RATIO = env_int(
    "IMPORT_ZIP_MAX_RATIO",
    200,
    "Highest compression ratio of a ZIP entry (a zip bomb exceeds it).",
    minimum=2,
)
IMPORT_MEDIA_MAX_BYTES = env_int(
    "IMPORT_MEDIA_MAX_BYTES", 100 * 1024**2, "Largest single media file, in bytes.", minimum=1024
)
IMAGE_MAX_PIXELS = env_int(
    "IMAGE_MAX_PIXELS",
    100_000_000,
    "Largest image accepted, in pixels (width x height).",
    minimum=1,
)
MEDIA_URL_TTL_SECONDS = env_int(
    "MEDIA_URL_TTL_SECONDS",
    300,
    "Lifetime of a signed media URL, in seconds.",
    minimum=10,
    maximum=86_400,
)

# Work distribution (docs/distribution.md).
DISTRIBUTION_QUEUE_DEPTH = env_int(
    "DISTRIBUTION_QUEUE_DEPTH",
    2,
    "Leases a worker reserves ahead of need for each active annotator (0: none; `next` "
    "then always claims in the request).",
    minimum=0,
    maximum=50,
)
LEASE_MAX_ACTIVE = env_int(
    "LEASE_MAX_ACTIVE",
    2,
    "Live leases one annotator may hold in a project (2 lets the app prefetch the next item); "
    "`next` beyond it returns the oldest held lease again.",
    minimum=1,
    maximum=20,
)
REVIEW_CLAIM_SECONDS = env_int(
    "REVIEW_CLAIM_SECONDS",
    900,
    "How long `review/next` reserves an annotation for its reviewer.",
    minimum=30,
)
LEASE_EXPIRY_INTERVAL_SECONDS = env_int(
    "LEASE_EXPIRY_INTERVAL_SECONDS",
    30,
    "How often the beat job expires leases past their expiry.",
    minimum=1,
)
