from __future__ import annotations

from drf_spectacular.utils import OpenApiResponse, inline_serializer
from rest_framework import serializers

ErrorSerializer = inline_serializer(
    name="Error",
    fields={
        "error": inline_serializer(
            name="ErrorBody",
            fields={
                "code": serializers.CharField(),
                "message": serializers.CharField(),
                "fields": serializers.DictField(
                    child=serializers.ListField(child=serializers.CharField()), required=False
                ),
            },
        )
    },
)

ERROR_RESPONSES = {
    400: OpenApiResponse(
        ErrorSerializer, description="Invalid input; `error.fields` names each field"
    ),
    401: OpenApiResponse(
        ErrorSerializer, description="Missing, malformed, revoked or expired credentials"
    ),
    403: OpenApiResponse(ErrorSerializer, description="A member, but not allowed this operation"),
    404: OpenApiResponse(
        ErrorSerializer,
        description="No such tenant or object, or one you may not see: the same answer for all",
    ),
}


class UserRefSerializer(serializers.Serializer):
    id = serializers.IntegerField()
    username = serializers.CharField()


class TenantRefSerializer(serializers.Serializer):
    id = serializers.UUIDField()
    slug = serializers.SlugField()
    name = serializers.CharField()


class MembershipSerializer(serializers.Serializer):
    id = serializers.UUIDField()
    role = serializers.CharField()
    is_active = serializers.BooleanField()
    created_at = serializers.DateTimeField()
    ended_at = serializers.DateTimeField(allow_null=True)
    user = UserRefSerializer()
