"""Celery beat schedule."""

from celery.schedules import crontab
from django.conf import settings

BEAT_SCHEDULE = {
    "rls-canary": {
        "task": "workers.tasks.isolation.platform_rls_canary",
        "schedule": crontab(minute="*/15"),
    },
    "audit-seal": {
        "task": "workers.tasks.audit.platform_audit_seal",
        "schedule": float(settings.AUDIT_SEAL_INTERVAL_SECONDS),
    },
    "audit-seal-full-sweep": {
        "task": "workers.tasks.audit.platform_audit_seal",
        "schedule": crontab(hour="3", minute="17"),
        "kwargs": {"full": True},
    },
    "operator-grants-expire": {
        "task": "workers.tasks.audit.platform_grants_expire",
        "schedule": 60.0,
    },
    "expire-leases": {
        "task": "workers.tasks.distribution.expire_leases",
        "schedule": float(settings.LEASE_EXPIRY_INTERVAL_SECONDS),
    },
    "complete-projects": {
        "task": "workers.tasks.distribution.complete_projects",
        "schedule": crontab(minute="*/5"),
    },
    "webhook-sweep": {
        "task": "annotate.webhooks.tasks.platform_webhook_sweep",
        "schedule": crontab(minute="*/5"),
    },
}
