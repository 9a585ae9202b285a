from __future__ import annotations

from enum import StrEnum

from tortoise import fields
from tortoise.models import Model


class UserType(StrEnum):
    USER = "user"
    MEMBER = "member"  # paid or upgraded
    MERCHANT_STAFF = "merchant_staff"
    TENANT_STAFF = "tenant_staff"


class UserStatus(StrEnum):
    ACTIVE = "active"
    DEACTIVATED = "deactivated"  # by an administrator; cannot sign in


class User(Model):
    """A person of one tenant. ``email`` is stored lower-cased (unique per tenant)."""

    id = fields.IntField(primary_key=True)
    email = fields.CharField(max_length=254, unique=True)
    email_verified_at = fields.DatetimeField(null=True)
    phone = fields.CharField(max_length=20, null=True)  # E.164
    password_hash = fields.CharField(max_length=200)
    full_name = fields.CharField(max_length=200)
    user_type = fields.CharEnumField(UserType, max_length=20, default=UserType.USER)
    status = fields.CharEnumField(UserStatus, max_length=20, default=UserStatus.ACTIVE)
    merchant_id = fields.IntField(null=True)  # merchant staff: the merchant they work for
    created_at = fields.DatetimeField(auto_now_add=True)
    last_login_at = fields.DatetimeField(null=True)

    class Meta:
        app = "tenant"
        table = "users"  # "user" is reserved in PostgreSQL
