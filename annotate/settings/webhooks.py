"""Webhooks (docs/webhooks.md): where deliveries may go, how long they may take, how often."""

import ipaddress

from django.core.exceptions import ImproperlyConfigured

from annotate.settings.env import env_int, env_list

_allowed = env_list(
    "WEBHOOK_ALLOWED_NETWORKS",
    [],
    "Networks (CIDRs, comma-separated) that webhooks may reach although they are not public "
    "(loopback, private, link-local, ...). Empty: public addresses only.",
)
WEBHOOK_ALLOWED_NETWORKS: list[ipaddress.IPv4Network | ipaddress.IPv6Network] = []
for _spec in _allowed:
    try:
        WEBHOOK_ALLOWED_NETWORKS.append(ipaddress.ip_network(_spec, strict=False))
    except ValueError:
        raise ImproperlyConfigured(
            f"WEBHOOK_ALLOWED_NETWORKS: {_spec!r} is not an IP network; use CIDRs such as "
            "10.1.0.0/16 or fd00::/8, comma-separated"
        ) from None

WEBHOOK_CONNECT_TIMEOUT_SECONDS = env_int(
    "WEBHOOK_CONNECT_TIMEOUT_SECONDS",
    3,
    "Seconds a webhook delivery may take to connect (TCP and TLS).",
    minimum=1,
    maximum=60,
)
WEBHOOK_READ_TIMEOUT_SECONDS = env_int(
    "WEBHOOK_READ_TIMEOUT_SECONDS",
    10,
    "Seconds a webhook receiver may take to answer (per read).",
    minimum=1,
    maximum=120,
)
WEBHOOK_MAX_ATTEMPTS = env_int(
    "WEBHOOK_MAX_ATTEMPTS",
    8,
    "Attempts per webhook delivery before it is marked failed.",
    minimum=1,
    maximum=20,
)
WEBHOOK_RETRY_BASE_SECONDS = env_int(
    "WEBHOOK_RETRY_BASE_SECONDS",
    30,
    "Delay before the second attempt of a delivery; each further attempt doubles it.",
    minimum=1,
    maximum=3600,
)
WEBHOOK_RETRY_MAX_SECONDS = env_int(
    "WEBHOOK_RETRY_MAX_SECONDS",
    3600,
    "Longest delay between two attempts of a delivery.",
    minimum=1,
    maximum=86_400,
)
WEBHOOK_MAX_PER_TENANT = env_int(
    "WEBHOOK_MAX_PER_TENANT", 50, "Most webhooks one tenant may have.", minimum=1, maximum=1000
)
WEBHOOK_DELIVERY_RETENTION_DAYS = env_int(
    "WEBHOOK_DELIVERY_RETENTION_DAYS",
    30,
    "Days a finished delivery stays in the delivery log.",
    minimum=1,
    maximum=3650,
)
