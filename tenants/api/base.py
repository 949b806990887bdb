"""The base of every tenant API view: resolve tenant and membership once, scope, audit.

A request to ``/api/v1/t/<tenant>/...``:

1. DRF authenticates (token or session);
2. ``initial()`` resolves the tenant from the URL slug and the caller's live membership of it
   (a token counts only for its own membership). No membership, or no such tenant: 404, the
   same answer in both cases;
3. the rest of the request runs in one transaction inside ``tenant_context(tenant)``: the
   fail-closed managers and the database's RLS policies both see only this tenant (token
   authentication already set ``app.tenant_id`` when the token's tenant is the URL's);
4. the handler must record its access event (``self.audit``) in that transaction; a
   successful response without one is a programming error and is turned into a 500, so an
   endpoint cannot ship without its event;
5. a refused or failed request is rolled back, then recorded as a denied event in the tenant
   whose URL was used (if that tenant exists), in a transaction of its own.

Subclasses may not override ``dispatch``, ``initial``, ``get_queryset`` or ``get_object``.
"""

from __future__ import annotations

import contextlib
from typing import Any, ClassVar

from django.core.exceptions import ImproperlyConfigured
from django.core.exceptions import ValidationError as DjangoValidationError
from django.db import transaction
from django.http import Http404
from rest_framework import exceptions, serializers
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from tenants.audit import Actor, audit_denied, audit_record, session_digest
from tenants.authentication import TENANT_SLUG_ATTR
from tenants.middleware import client_ip
from tenants.models import ApiToken, Membership, Role, Tenant
from tenants.request_transaction import request_transaction
from tenants.scoping import USER_SETTING, db_set, tenant_context

_SEALED = ("dispatch", "initial", "get_queryset", "get_object")


class NotMember(exceptions.NotFound):
    """Raised when the caller has no live membership of the URL's tenant. Answers exactly like
    a missing tenant; only the access log knows the difference."""


def actor_from_request(request: Request, membership: Membership | None = None) -> Actor:
    user = getattr(request, "user", None)
    auth = getattr(request, "auth", None)
    if isinstance(auth, ApiToken):
        method, credential = "token", str(auth.id)
    elif user is not None:
        session = getattr(request, "session", None)
        method, credential = "session", session_digest(getattr(session, "session_key", None))
    else:
        method, credential = "", ""
    actor = Actor(
        user_id=getattr(user, "id", None),
        username=getattr(user, "username", "") or "",
        auth_method=method,
        credential_id=credential,
        request_id=getattr(request._request, "request_id", ""),
        client_ip=client_ip(request._request),
    )
    if membership is None and isinstance(auth, ApiToken):
        membership = auth.membership
    return actor.with_membership(membership)


class TenantAPIView(APIView):
    # OPTIONS is not served: DRF would answer it with its own description of the view's
    # serializers (the API's description is its OpenAPI document, /api/v1/schema/), and as a
    # success, which every tenant endpoint must log. It gets the 405 of any method a view does
    # not serve, logged as a refusal; ``Allow`` names what is served. HEAD is served where GET
    # is, and logged as the GET (see ``_method``).
    http_method_names: ClassVar[list[str]] = ["get", "post", "put", "patch", "delete", "head"]
    audit_resource_type: ClassVar[str] = ""
    # HTTP method (lower case) -> action name recorded in the access log.
    audit_actions: ClassVar[dict[str, str]] = {}
    # URL kwarg holding the id of the resource the request is about, if any.
    audit_resource_kwarg: ClassVar[str | None] = None

    tenant: Tenant
    membership: Membership
    actor: Actor

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        for name in _SEALED:
            if name in cls.__dict__:
                raise TypeError(
                    f"{cls.__name__} must not override {name}(): tenant resolution and scoping "
                    "live in TenantAPIView. Use selectors that take tenant=self.tenant."
                )
        if not cls.audit_resource_type:
            raise TypeError(f"{cls.__name__} must set audit_resource_type")

    # -- request life cycle ------------------------------------------------------------------

    def dispatch(self, request: Any, *args: Any, **kwargs: Any) -> Any:
        self._audited = False
        self._refusal: tuple[str, str] | None = None
        self._scope = contextlib.ExitStack()
        with request_transaction() as txn:
            with self._scope:
                response = super().dispatch(request, *args, **kwargs)
            if response.status_code >= 400:
                transaction.set_rollback(True)
            elif not self._audited:
                raise ImproperlyConfigured(
                    f"{type(self).__name__}.{request.method} answered "
                    f"{response.status_code} without recording its access event"
                )
            if getattr(response, "accepted_renderer", None) is not None:
                # Rendered while the database flushes the commit; it leaves only once the
                # commit has succeeded (a refusal: after the rollback).
                txn.overlap = response.render
        if response.status_code >= 400:
            self._record_refusal(response.status_code)
        return response

    def initial(self, request: Request, *args: Any, **kwargs: Any) -> None:
        slug = str(kwargs.get("tenant", ""))
        setattr(request, TENANT_SLUG_ATTR, slug)  # for token authentication (see there)
        super().initial(request, *args, **kwargs)  # authentication, IsAuthenticated, throttles
        tenant = self._tenant_for(request, slug)
        membership = self._membership_for(request, tenant)
        if tenant is None or membership is None:
            raise NotMember()
        self.tenant = tenant
        self.membership = membership
        # No savepoint: the request transaction is all or nothing (a refusal rolls it back).
        # Token authentication says whether it left app.tenant_id on this tenant.
        is_set = getattr(request.auth, "tenant_setting", None) == str(tenant.id)
        self._scope.enter_context(tenant_context(tenant.id, savepoint=False, is_set=is_set))
        self.actor = actor_from_request(request, membership)

    def _tenant_for(self, request: Request, slug: str) -> Tenant | None:
        auth = request.auth
        if isinstance(auth, ApiToken) and ApiToken.tenant.is_cached(auth):
            # Token authentication read the token's tenant in this transaction; a token counts
            # only there, so another slug is "not a member" whether or not it exists.
            tenant = auth.tenant
            return tenant if tenant.slug == slug and tenant.status == Tenant.Status.ACTIVE else None
        return Tenant.objects.filter(slug=slug, status=Tenant.Status.ACTIVE).first()

    def _membership_for(self, request: Request, tenant: Tenant | None) -> Membership | None:
        if tenant is None:
            return None
        if isinstance(request.auth, ApiToken):
            membership = request.auth.membership
            return membership if membership.tenant_id == tenant.id else None
        # Session: the caller's own membership rows are visible to them (RLS user predicate).
        db_set(USER_SETTING, str(request.user.id))
        membership = (
            Membership.dangerously_unscoped.filter(tenant=tenant, user=request.user, is_active=True)
            .select_related("user")
            .first()
        )
        # A break-glass membership stops at its expiry, whether or not the expiry job ran.
        return membership if membership is not None and membership.is_live() else None

    def handle_exception(self, exc: Exception) -> Response:
        if isinstance(exc, NotMember):
            self._refusal = ("denied", "not a member of this tenant")
        elif isinstance(exc, (exceptions.NotAuthenticated, exceptions.AuthenticationFailed)):
            self._refusal = ("denied", f"unauthenticated: {exc.detail}")
        elif isinstance(exc, (exceptions.NotFound, Http404)):
            self._refusal = ("denied", "not found in this tenant")
        elif isinstance(exc, exceptions.PermissionDenied):
            self._refusal = ("denied", f"forbidden: {exc.detail}")
        elif isinstance(exc, (exceptions.ValidationError, DjangoValidationError)):
            self._refusal = ("failed", "invalid input")
        elif isinstance(exc, exceptions.APIException):
            self._refusal = ("failed", str(exc.detail)[:200])
        return super().handle_exception(exc)

    def _record_refusal(self, status_code: int) -> None:
        tenant = getattr(self, "tenant", None)
        if tenant is None:
            slug = str(self.kwargs.get("tenant", ""))
            tenant = Tenant.objects.filter(slug=slug, status=Tenant.Status.ACTIVE).first()
        if tenant is None:
            return  # no such tenant: there is no log to write to, and nothing was accessed
        outcome, reason = self._refusal or ("failed", f"HTTP {status_code}")
        request = self.request
        actor = actor_from_request(request, getattr(self, "membership", None))
        method = self._method()
        audit_denied(
            tenant_id=tenant.id,
            actor=actor,
            action=self.audit_actions.get(method, f"{self.audit_resource_type}.{method}"),
            resource_type=self.audit_resource_type,
            resource_id=self._resource_id(),
            reason=reason,
            status_code=status_code,
            outcome=outcome,
        )

    def _method(self) -> str:
        """The request's method for the access log, in lower case: HEAD runs the GET handler
        (Django's ``View.setup``) and is the same access, so it is logged as the GET."""
        method = (self.request.method or "").lower()
        return "get" if method == "head" else method

    def _resource_id(self) -> str | None:
        if self.audit_resource_kwarg is None:
            return None
        value = self.kwargs.get(self.audit_resource_kwarg)
        return None if value is None else str(value)[:64]

    # -- helpers for handlers ----------------------------------------------------------------

    def audit(
        self,
        *,
        resource_id: Any = None,
        detail: dict[str, Any] | None = None,
        action: str | None = None,
        resource_type: str | None = None,
        last: bool = False,
    ) -> int | None:
        """Record this request's access event, in the request transaction. It is sent ahead
        (its answer read before the commit), so there is no id (None).

        ``last=True`` when the handler has read and written all it needs: the request's
        ``COMMIT`` then goes with the event, and the database flushes it while the handler
        serialises its answer. The database may not be used after it (a statement raises
        ``StatementAfterLast``, in tests as in production)."""
        method = self._method()
        event = audit_record(
            tenant_id=self.tenant.id,
            actor=self.actor,
            action=action or self.audit_actions[method],
            resource_type=resource_type or self.audit_resource_type,
            resource_id=resource_id if resource_id is not None else self._resource_id(),
            detail=detail,
            last=last,
        )
        self._audited = True
        return event

    def require_role(self, *roles: str) -> None:
        if self.membership.role not in roles:
            raise exceptions.PermissionDenied(
                f"requires role {' or '.join(roles)}; your role is {self.membership.role}"
            )

    def require_manager(self) -> None:
        self.require_role(Role.OWNER, Role.MANAGER)


class StrictSerializer(serializers.Serializer):
    """An input serializer that refuses fields it does not know (a ``tenant`` in the body
    included), instead of silently ignoring them."""

    def to_internal_value(self, data: Any) -> Any:
        unknown = sorted(set(data) - set(self.fields)) if isinstance(data, dict) else []
        errors = {name: ["Unknown field; it is not accepted here."] for name in unknown}
        try:
            value = super().to_internal_value(data)
        except serializers.ValidationError as exc:
            if not isinstance(exc.detail, dict):
                raise
            raise serializers.ValidationError({**exc.detail, **errors}) from None
        if errors:
            raise serializers.ValidationError(errors)
        return value
