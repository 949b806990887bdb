"""API token authentication. A token is bound to one membership of one tenant."""

from __future__ import annotations

import re
from datetime import timedelta
from typing import Any

from django.db import transaction
from django.utils import timezone
from rest_framework.authentication import BaseAuthentication, get_authorization_header
from rest_framework.exceptions import AuthenticationFailed

from tenants.models import TOKEN_PREFIX, ApiToken, token_hash
from tenants.scoping import TOKEN_HASH_SETTING, db_set, tenant_context

TOKEN_RE = re.compile(r"^" + TOKEN_PREFIX + r"[A-Za-z0-9_-]{43}$")
LAST_USED_RESOLUTION = timedelta(minutes=1)


class ApiTokenAuthentication(BaseAuthentication):
    """``Authorization: Bearer ant_...``. Revoked, expired, inactive-membership and unknown
    tokens answer 401 with the reason (the reason never reveals another tenant)."""

    keyword = "Bearer"

    def authenticate(self, request: Any) -> tuple[Any, ApiToken] | None:
        header = get_authorization_header(request)
        if not header:
            return None
        try:
            parts = header.decode("ascii").split()
        except UnicodeDecodeError:
            raise AuthenticationFailed("Authorization header is not ASCII.") from None
        if parts[0].lower() not in ("bearer", "token"):
            raise AuthenticationFailed(
                f"Authorization scheme {parts[0][:20]!r} is not supported; use 'Bearer <token>'."
            )
        if len(parts) != 2:
            raise AuthenticationFailed("Authorization header must be 'Bearer <token>'.")
        raw = parts[1]
        if not TOKEN_RE.match(raw):
            raise AuthenticationFailed("Malformed API token.")
        return self._lookup(raw)

    def _lookup(self, raw: str) -> tuple[Any, ApiToken]:
        digest = token_hash(raw)
        with transaction.atomic():
            # RLS shows a token row to whoever holds its hash (see tenants.rls.TOKEN_PREDICATE).
            db_set(TOKEN_HASH_SETTING, digest)
            token = ApiToken.dangerously_unscoped.filter(key_hash=digest).first()
            db_set(TOKEN_HASH_SETTING, "")
            if token is None:
                raise AuthenticationFailed("Invalid API token.")
            with tenant_context(token.tenant_id):
                token = ApiToken.objects.select_related("membership", "membership__user").get(
                    pk=token.pk
                )
                now = timezone.now()
                reason = token.refusal_reason(now)
                if reason is None and not token.membership.user.is_active:
                    reason = "user inactive"
                if reason is not None:
                    raise AuthenticationFailed(f"API token refused: {reason}.")
                if token.last_used_at is None or now - token.last_used_at > LAST_USED_RESOLUTION:
                    ApiToken.objects.filter(pk=token.pk).update(last_used_at=now)
        return token.membership.user, token

    def authenticate_header(self, request: Any) -> str:
        return self.keyword
