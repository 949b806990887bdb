"""Celery beat schedule."""

from celery.schedules import crontab

BEAT_SCHEDULE = {
    "rls-canary": {
        "task": "workers.tasks.isolation.platform_rls_canary",
        "schedule": crontab(minute="*/15"),
    },
}
