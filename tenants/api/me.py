"""Endpoints outside any tenant: session login, and the caller's own memberships."""

from __future__ import annotations

from typing import Any

from django.contrib.auth import authenticate, login, logout
from django.db import transaction
from django.middleware.csrf import get_token
from django.utils.decorators import method_decorator
from django.views.decorators.csrf import csrf_protect, ensure_csrf_cookie
from drf_spectacular.utils import OpenApiResponse, extend_schema, inline_serializer
from rest_framework import serializers, status
from rest_framework.exceptions import ValidationError
from rest_framework.permissions import AllowAny
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from tenants.api.base import StrictSerializer, actor_from_request
from tenants.api.common import ERROR_RESPONSES, TenantRefSerializer
from tenants.audit import audit_record
from tenants.models import ApiToken, Membership
from tenants.scoping import USER_SETTING, db_set, tenant_context


class MyMembershipSerializer(serializers.Serializer):
    id = serializers.UUIDField()
    role = serializers.CharField()
    tenant = TenantRefSerializer()


class MeSerializer(serializers.Serializer):
    id = serializers.IntegerField()
    username = serializers.CharField()
    memberships = MyMembershipSerializer(many=True)


class MeApi(APIView):
    @extend_schema(
        operation_id="me_retrieve",
        responses={200: MeSerializer, 401: ERROR_RESPONSES[401]},
        summary="Who am I, and which tenants may I act in",
        description=(
            "With a session: every live membership of the user. With an API token: only the "
            "token's own membership (a token is bound to exactly one)."
        ),
    )
    def get(self, request: Request) -> Response:
        with transaction.atomic():
            if isinstance(request.auth, ApiToken):
                memberships = [request.auth.membership]
            else:
                db_set(USER_SETTING, str(request.user.id))
                memberships = list(
                    Membership.dangerously_unscoped.filter(user=request.user, is_active=True)
                    .select_related("tenant")
                    .order_by("tenant__slug")
                )
            # Reading one's own membership rows is an access to each tenant's data: log it there.
            for membership in memberships:
                with tenant_context(membership.tenant_id):
                    audit_record(
                        tenant_id=membership.tenant_id,
                        actor=actor_from_request(request, membership),
                        action="membership.list_mine",
                        resource_type="membership",
                        resource_id=membership.id,
                    )
        body = {
            "id": request.user.id,
            "username": request.user.username,
            "memberships": [{"id": m.id, "role": m.role, "tenant": m.tenant} for m in memberships],
        }
        return Response(MeSerializer(body).data)


@method_decorator(ensure_csrf_cookie, name="dispatch")
class CsrfApi(APIView):
    permission_classes = [AllowAny]
    authentication_classes: list[Any] = []

    @extend_schema(
        operation_id="auth_csrf",
        responses={200: inline_serializer("Csrf", {"csrfToken": serializers.CharField()})},
        summary="Set the CSRF cookie and return its value (browser sessions)",
    )
    def get(self, request: Request) -> Response:
        return Response({"csrfToken": get_token(request._request)})


class LoginInput(StrictSerializer):
    username = serializers.CharField(max_length=150)
    password = serializers.CharField(max_length=256, trim_whitespace=False)


@method_decorator(csrf_protect, name="dispatch")
class LoginApi(APIView):
    permission_classes = [AllowAny]
    authentication_classes: list[Any] = []

    @extend_schema(
        operation_id="auth_login",
        request=LoginInput,
        responses={
            200: inline_serializer(
                "LoginResult",
                {"id": serializers.IntegerField(), "username": serializers.CharField()},
            ),
            400: ERROR_RESPONSES[400],
        },
        summary="Log in with a password and start a browser session (CSRF required)",
    )
    def post(self, request: Request) -> Response:
        data = LoginInput(data=request.data)
        data.is_valid(raise_exception=True)
        user = authenticate(request._request, **data.validated_data)
        if user is None:
            raise ValidationError({"password": ["Wrong username or password."]})
        login(request._request, user)
        return Response({"id": user.id, "username": user.get_username()})


@method_decorator(csrf_protect, name="dispatch")
class LogoutApi(APIView):
    permission_classes = [AllowAny]

    @extend_schema(
        operation_id="auth_logout",
        request=None,
        responses={204: OpenApiResponse(description="Logged out")},
        summary="End the browser session",
    )
    def post(self, request: Request) -> Response:
        logout(request._request)
        return Response(status=status.HTTP_204_NO_CONTENT)
