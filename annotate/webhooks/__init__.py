"""Webhooks: signed, retried, logged deliveries of tenant events to the tenant's own endpoints.

See docs/webhooks.md. The public entry point for other code is
``annotate.webhooks.services.webhook_emit``.
"""
