"""Members and API tokens of a tenant (owner and manager only)."""

from __future__ import annotations

import uuid

from django.http import Http404
from drf_spectacular.utils import OpenApiResponse, extend_schema
from rest_framework import serializers, status
from rest_framework.exceptions import PermissionDenied
from rest_framework.request import Request
from rest_framework.response import Response

from tenants.api.base import StrictSerializer, TenantAPIView
from tenants.api.common import ERROR_RESPONSES, MembershipSerializer
from tenants.api.pagination import IdCursorPagination
from tenants.audit import ids_detail
from tenants.models import ApiToken, Membership, Role
from tenants.selectors import membership_get
from tenants.services.memberships import (
    membership_add,
    membership_end,
    membership_update,
    token_create,
    token_revoke,
    user_get_or_create,
)


class MemberAddInput(StrictSerializer):
    username = serializers.CharField(max_length=150)
    email = serializers.EmailField(required=False, allow_blank=True)
    role = serializers.ChoiceField(choices=Role.choices)


class MemberUpdateInput(StrictSerializer):
    role = serializers.ChoiceField(choices=Role.choices)


def _check_role_change(actor: Membership, role: str, target: Membership | None = None) -> None:
    """Managers manage everyone but owners; only owners make or change owners."""
    touches_owner = role == Role.OWNER or (target is not None and target.role == Role.OWNER)
    if touches_owner and actor.role != Role.OWNER:
        raise PermissionDenied("only an owner can grant, change or remove the owner role")


class MemberListApi(TenantAPIView):
    pagination_class = IdCursorPagination  # the OpenAPI schema shows the paged list
    audit_resource_type = "membership"
    audit_actions = {"get": "membership.list", "post": "membership.add"}

    @extend_schema(
        operation_id="members_list",
        responses={200: MembershipSerializer(many=True), **ERROR_RESPONSES},
        summary="List the tenant's members (owner or manager)",
    )
    def get(self, request: Request, tenant: str) -> Response:
        self.require_manager()
        paginator = IdCursorPagination()
        page = paginator.paginate_queryset(
            Membership.objects.select_related("user"), request, view=self
        )
        self.audit(detail=ids_detail([m.id for m in page]), last=True)
        return paginator.get_paginated_response(MembershipSerializer(page, many=True).data)

    @extend_schema(
        operation_id="members_add",
        request=MemberAddInput,
        responses={201: MembershipSerializer, **ERROR_RESPONSES},
        summary="Add a member (creates the platform user if it does not exist)",
    )
    def post(self, request: Request, tenant: str) -> Response:
        self.require_manager()
        data = MemberAddInput(data=request.data)
        data.is_valid(raise_exception=True)
        _check_role_change(self.membership, data.validated_data["role"])
        user, _created = user_get_or_create(
            username=data.validated_data["username"], email=data.validated_data.get("email", "")
        )
        membership = membership_add(tenant=self.tenant, user=user, role=data.validated_data["role"])
        self.audit(resource_id=membership.id, detail={"role": membership.role})
        return Response(MembershipSerializer(membership).data, status=status.HTTP_201_CREATED)


class MemberDetailApi(TenantAPIView):
    audit_resource_type = "membership"
    audit_actions = {
        "get": "membership.read",
        "patch": "membership.update",
        "delete": "membership.end",
    }
    audit_resource_kwarg = "membership_id"

    @extend_schema(
        operation_id="members_retrieve", responses={200: MembershipSerializer, **ERROR_RESPONSES}
    )
    def get(self, request: Request, tenant: str, membership_id: uuid.UUID) -> Response:
        self.require_manager()
        membership = membership_get(tenant_id=self.tenant.id, membership_id=membership_id)
        self.audit(last=True)
        return Response(MembershipSerializer(membership).data)

    @extend_schema(
        operation_id="members_update",
        request=MemberUpdateInput,
        responses={200: MembershipSerializer, **ERROR_RESPONSES},
        summary="Change a member's role",
    )
    def patch(self, request: Request, tenant: str, membership_id: uuid.UUID) -> Response:
        self.require_manager()
        membership = membership_get(tenant_id=self.tenant.id, membership_id=membership_id)
        data = MemberUpdateInput(data=request.data)
        data.is_valid(raise_exception=True)
        _check_role_change(self.membership, data.validated_data["role"], membership)
        membership = membership_update(membership=membership, role=data.validated_data["role"])
        self.audit(detail={"role": membership.role})
        return Response(MembershipSerializer(membership).data)

    @extend_schema(
        operation_id="members_end",
        responses={
            204: OpenApiResponse(description="Membership ended; its tokens revoked"),
            **ERROR_RESPONSES,
        },
        summary="End a membership (kept on record; its tokens are revoked)",
    )
    def delete(self, request: Request, tenant: str, membership_id: uuid.UUID) -> Response:
        self.require_manager()
        membership = membership_get(tenant_id=self.tenant.id, membership_id=membership_id)
        _check_role_change(self.membership, membership.role, membership)
        membership_end(membership=membership, ended_by=request.user)
        self.audit()
        return Response(status=status.HTTP_204_NO_CONTENT)


class TokenSerializer(serializers.Serializer):
    id = serializers.UUIDField()
    name = serializers.CharField()
    display_prefix = serializers.CharField(
        help_text="First characters of the token, to recognise it"
    )
    membership_id = serializers.UUIDField()
    created_at = serializers.DateTimeField()
    expires_at = serializers.DateTimeField(allow_null=True)
    last_used_at = serializers.DateTimeField(allow_null=True)
    revoked_at = serializers.DateTimeField(allow_null=True)


class IssuedTokenSerializer(TokenSerializer):
    token = serializers.CharField(
        help_text="The secret token. Shown once; only its hash is stored."
    )


class TokenCreateInput(StrictSerializer):
    name = serializers.CharField(max_length=100)
    expires_at = serializers.DateTimeField(required=False, allow_null=True)
    membership = serializers.UUIDField(
        required=False,
        help_text="Membership the token acts as; default your own (others: owner only)",
    )


class TokenListApi(TenantAPIView):
    pagination_class = IdCursorPagination  # the OpenAPI schema shows the paged list
    audit_resource_type = "api_token"
    audit_actions = {"get": "token.list", "post": "token.create"}

    @extend_schema(
        operation_id="tokens_list", responses={200: TokenSerializer(many=True), **ERROR_RESPONSES}
    )
    def get(self, request: Request, tenant: str) -> Response:
        self.require_manager()
        paginator = IdCursorPagination()
        page = paginator.paginate_queryset(ApiToken.objects.all(), request, view=self)
        self.audit(detail=ids_detail([t.id for t in page]), last=True)
        return paginator.get_paginated_response(TokenSerializer(page, many=True).data)

    @extend_schema(
        operation_id="tokens_create",
        request=TokenCreateInput,
        responses={201: IssuedTokenSerializer, **ERROR_RESPONSES},
        summary="Create an API token; the secret is in the response, once",
    )
    def post(self, request: Request, tenant: str) -> Response:
        self.require_manager()
        data = TokenCreateInput(data=request.data)
        data.is_valid(raise_exception=True)
        membership = self.membership
        target = data.validated_data.get("membership")
        if target is not None and target != self.membership.id:
            self.require_role(Role.OWNER)
            membership = membership_get(tenant_id=self.tenant.id, membership_id=target)
        issued = token_create(
            membership=membership,
            name=data.validated_data["name"],
            created_by=request.user,
            expires_at=data.validated_data.get("expires_at"),
        )
        self.audit(resource_id=issued.token.id, detail={"membership": str(membership.id)})
        body = dict(TokenSerializer(issued.token).data, token=issued.raw)
        return Response(body, status=status.HTTP_201_CREATED)


class TokenDetailApi(TenantAPIView):
    audit_resource_type = "api_token"
    audit_actions = {"delete": "token.revoke"}
    audit_resource_kwarg = "token_id"

    @extend_schema(
        operation_id="tokens_revoke",
        responses={204: OpenApiResponse(description="Revoked"), **ERROR_RESPONSES},
        summary="Revoke an API token",
    )
    def delete(self, request: Request, tenant: str, token_id: uuid.UUID) -> Response:
        self.require_manager()
        token = ApiToken.objects.filter(tenant_id=self.tenant.id, id=token_id).first()
        if token is None:
            raise Http404
        token_revoke(token=token, revoked_by=request.user)
        self.audit()
        return Response(status=status.HTTP_204_NO_CONTENT)
