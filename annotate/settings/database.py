"""Two database URLs: the application role (no ownership, no BYPASSRLS) and the owner role.

``default`` is what every request, command and task uses. ``owner`` is used only by
``manage.py migrate --database=owner`` (and test set-up), because only the owner of the tables
can create them, enable row-level security and install policies.
"""

from annotate.settings.env import env_bool, env_db, env_int

_app = env_db(
    "DATABASE_URL",
    "PostgreSQL URL of the application role: owns nothing, no SUPERUSER, no BYPASSRLS",
    required=True,
)
_owner = env_db(
    "DATABASE_OWNER_URL",
    "PostgreSQL URL of the role that owns the schema; used only to run migrations",
    required=False,
)
CONN_MAX_AGE = env_int(
    "DB_CONN_MAX_AGE",
    60,
    "Seconds a database connection is reused. Safe: the tenant setting is transaction-local.",
    minimum=0,
)
CONN_HEALTH_CHECKS = env_bool(
    "DB_CONN_HEALTH_CHECKS",
    False,
    "Check a reused database connection (SELECT 1) before the first query of each request. "
    "Off by default: it costs a round trip per request; without it, a connection the server "
    "dropped fails one request and is then replaced.",
)
DB_ROLE_CHECK = env_bool(
    "DB_ROLE_CHECK",
    True,
    "Refuse to serve when DATABASE_URL's role is a superuser, has BYPASSRLS or owns tables.",
)

assert _app is not None
_app.update(CONN_MAX_AGE=CONN_MAX_AGE, CONN_HEALTH_CHECKS=CONN_HEALTH_CHECKS)
_options = _app.setdefault("OPTIONS", {})
if "server_side_binding" in _options:
    from django.core.exceptions import ImproperlyConfigured

    raise ImproperlyConfigured(
        "DATABASE_URL's option server_side_binding is not supported: the request hot paths "
        "send prepared statements in one pipeline, which takes client-side binding "
        "(tenants/sqlscript.py); remove the option from the URL"
    )
# The hot paths' prepared statements (tenants.sqlscript.prepared, the only ones a
# client-side binding connection has) are planned once per connection. Left to its
# heuristic, PostgreSQL planned the guarded claim afresh on every call (its generic plan
# looked dearer than a custom one), a sixth of the database's CPU per annotation
# (docs/distribution.md, "Performance", item 11). A startup option: it survives rollbacks.
_generic = "-c plan_cache_mode=force_generic_plan"
_options["options"] = " ".join(filter(None, [_options.get("options"), _generic]))
# "progress": a second connection with the same role, for writes that must commit while the
# request or task transaction is still open (import progress).
DATABASES = {"default": _app, "progress": {**_app, "TEST": {"MIRROR": None}}}
if _owner is not None:
    _owner.update(CONN_MAX_AGE=0)
    DATABASES["owner"] = _owner
    if _owner.get("NAME") != _app.get("NAME"):
        from django.core.exceptions import ImproperlyConfigured

        raise ImproperlyConfigured(
            "DATABASE_OWNER_URL and DATABASE_URL must name the same database "
            f"({_owner.get('NAME')!r} != {_app.get('NAME')!r})"
        )
