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
