"""Celery: broker from the environment, late acknowledgement, time limits, no result leakage."""

from annotate.settings.env import env_int, env_str

CELERY_BROKER_URL = env_str(
    "CELERY_BROKER_URL",
    None,
    "Broker URL (redis:// or amqp://). `make run` / `make test` start an embedded Redis when "
    "it is not given.",
)
CELERY_TASK_ACKS_LATE = True
CELERY_TASK_REJECT_ON_WORKER_LOST = True
CELERY_WORKER_PREFETCH_MULTIPLIER = 1
CELERY_TASK_IGNORE_RESULT = True
CELERY_RESULT_BACKEND = None
CELERY_TASK_SERIALIZER = "json"
CELERY_ACCEPT_CONTENT = ["json"]
CELERY_TASK_SOFT_TIME_LIMIT = env_int(
    "CELERY_TASK_SOFT_TIME_LIMIT", 600, "Seconds before a task is asked to stop.", minimum=1
)
CELERY_TASK_TIME_LIMIT = env_int(
    "CELERY_TASK_TIME_LIMIT", 660, "Seconds before a task is killed.", minimum=1
)
CELERY_BROKER_CONNECTION_RETRY_ON_STARTUP = True
CELERY_WORKER_HEARTBEAT_KEY = "annotate:worker-heartbeat"
