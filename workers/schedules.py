"""Celery beat schedule."""

from celery.schedules import crontab
from django.conf import settings

BEAT_SCHEDULE = {
    "rls-canary": {
        "task": "workers.tasks.isolation.platform_rls_canary",
        "schedule": crontab(minute="*/15"),
    },
    "expire-leases": {
        "task": "workers.tasks.distribution.expire_leases",
        "schedule": float(settings.LEASE_EXPIRY_INTERVAL_SECONDS),
    },
}
