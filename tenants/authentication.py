"""API token authentication. A token is bound to one membership of one tenant."""

from __future__ import annotations

import functools
import re
from datetime import timedelta
from typing import Any

from django.contrib.auth import get_user_model
from django.db import connection
from django.utils import timezone
from rest_framework.authentication import BaseAuthentication, get_authorization_header
from rest_framework.exceptions import AuthenticationFailed

from tenants.models import TOKEN_PREFIX, ApiToken, Membership, Tenant, token_hash
from tenants.scoping import TENANT_SETTING, TOKEN_HASH_SETTING, current_tenant_id
from tenants.sqlscript import (
    from_row,
    prepared,
    reused_cursor,
    run_script,
    select_list,
    set_local,
)

TOKEN_RE = re.compile(r"^" + TOKEN_PREFIX + r"[A-Za-z0-9_-]{43}$")
LAST_USED_RESOLUTION = timedelta(minutes=1)
# Set on the DRF request by ``TenantAPIView`` before authentication: the tenant slug of the URL.
# When the token's tenant is that (active) tenant, authentication leaves the tenant setting on
# it (``ApiToken.tenant_setting``), sparing the view a round trip to set it again.
TENANT_SLUG_ATTR = "_annotate_url_tenant"


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
        return self._lookup(raw, getattr(request, TENANT_SLUG_ATTR, None))

    def _lookup(self, raw: str, tenant_slug: str | None = None) -> tuple[Any, ApiToken]:
        digest = token_hash(raw)
        token = token_load(digest, tenant_slug=tenant_slug)
        if token is None:
            raise AuthenticationFailed("Invalid API token.")
        now = timezone.now()
        reason = token.refusal_reason(now)
        if reason is None and not token.membership.user.is_active:
            reason = "user inactive"
        if reason is not None:
            raise AuthenticationFailed(f"API token refused: {reason}.")
        if token.last_used_at is None or now - token.last_used_at > LAST_USED_RESOLUTION:
            _touch(token, now)
        return token.membership.user, token

    def authenticate_header(self, request: Any) -> str:
        return self.keyword


@functools.cache
def _token_query() -> tuple[list[tuple[Any, list[Any]]], str]:
    """The models loaded with a token (with their fields) and the query that loads them. Built
    on first use: the user model is known only once the apps are loaded."""
    user_model = get_user_model()
    loaded = ((ApiToken, "t"), (Membership, "m"), (user_model, "u"), (Tenant, "tn"))
    selects = [select_list(model, alias) for model, alias in loaded]
    models = [(model, fields) for (model, _), (fields, _) in zip(loaded, selects, strict=True)]
    sql = f"""SELECT {", ".join(columns for _, columns in selects)}
  FROM tenants_apitoken t
  JOIN tenants_membership m ON m.tenant_id = t.tenant_id AND m.id = t.membership_id
  JOIN {user_model._meta.db_table} u ON u.id = m.user_id
  JOIN tenants_tenant tn ON tn.id = t.tenant_id
 WHERE t.key_hash = %(hash)s"""
    return models, sql


_SET_TENANT_OF_HASH = (
    "SELECT set_config(%(name)s, coalesce((SELECT tenant_id::text FROM tenants_apitoken "
    "WHERE key_hash = %(hash)s), ''), true)"
)
_SET_TENANT_OF_SLUG = (
    "SELECT set_config(%(name)s, coalesce((SELECT t.tenant_id::text FROM tenants_apitoken t "
    "JOIN tenants_tenant tn ON tn.id = t.tenant_id WHERE t.key_hash = %(hash)s "
    "AND tn.slug = %(slug)s AND tn.status = %(active)s), %(otherwise)s), true)"
)


def token_load(digest: str, *, tenant_slug: str | None = None) -> ApiToken | None:
    """The token with this hash, with its membership, the membership's user and the tenant
    loaded, read fresh from the database (a revocation is seen by the next request), or None.

    One round trip: the token row is visible to whoever holds its hash (``TOKEN_PREDICATE``);
    the tenant setting is then set to the token's tenant for the membership row, and both
    settings are put back afterwards (transaction-local either way). With ``tenant_slug`` (the
    URL's tenant, from ``TenantAPIView``), the tenant setting is left on the token's tenant
    when that tenant has this slug and is active, and put back otherwise;
    ``token.tenant_setting`` says what it holds afterwards."""
    models, select = _token_query()
    restore = str(current_tenant_id() or "")
    # Every statement is prepared (planned once per session): two of them read tables, and
    # parsing and planning them on every request cost the server more than running them.
    with reused_cursor(connection) as cursor:
        if tenant_slug is None:
            final = set_local(cursor, TENANT_SETTING, restore)
        else:
            final = prepared(
                cursor,
                _SET_TENANT_OF_SLUG,
                {
                    "name": TENANT_SETTING,
                    "hash": digest,
                    "slug": tenant_slug,
                    "active": Tenant.Status.ACTIVE,
                    "otherwise": restore,
                },
            )
        results = run_script(
            cursor,
            [
                set_local(cursor, TOKEN_HASH_SETTING, digest),
                prepared(cursor, _SET_TENANT_OF_HASH, {"name": TENANT_SETTING, "hash": digest}),
                prepared(cursor, select, {"hash": digest}),
                # While the hash is still set: the token's row is what the tenant is read from.
                final,
                set_local(cursor, TOKEN_HASH_SETTING, ""),
            ],
        )
    rows = results[2]
    if not rows:
        return None
    row, loaded, start = rows[0], [], 0
    for model, fields in models:
        loaded.append(from_row(model, fields, row[start : start + len(fields)], connection))
        start += len(fields)
    token, membership, user, tenant = loaded
    membership.user = user
    token.membership = membership
    token.tenant = tenant
    token.tenant_setting = results[3][0][0]  # type: ignore[attr-defined]
    return token


def _touch(token: ApiToken, now: Any) -> None:
    """Record use, at most once a minute per token (in the token's tenant); the tenant setting
    is put back to what ``token_load`` left."""
    restore = getattr(token, "tenant_setting", None)
    if restore is None:
        restore = str(current_tenant_id() or "")
    with connection.cursor() as cursor:
        run_script(
            cursor,
            [
                set_local(cursor, TENANT_SETTING, str(token.tenant_id)),
                prepared(
                    cursor,
                    "UPDATE tenants_apitoken SET last_used_at = %(now)s "
                    "WHERE tenant_id = %(tenant)s AND id = %(id)s",
                    {"now": now, "tenant": token.tenant_id, "id": token.id},
                ),
                set_local(cursor, TENANT_SETTING, restore),
            ],
        )
